"""textfit.ray for real on a local Ray instance (2 CPUs): Ray Train trains the model torchrun would, Ray Data predicts as predict does."""

import json

import numpy as np
import pandas as pd
import pytest
import ray  # the test extra includes the ray extra: this test runs in CI

from conftest import write_tiny_checkpoint


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"KERAS_BACKEND": "torch", "OMP_NUM_THREADS": "1"}})
    yield
    ray.shutdown()


def test_ray_train_writes_one_model_and_ray_data_predicts_like_predict(local_ray, tmp_path):
    from textfit import TextClassifier, TrainConfig
    from textfit.ray import predict_dataset, train_on_ray

    checkpoint = write_tiny_checkpoint(tmp_path / "tiny", config_overrides={"hidden_dropout_prob": 0.0,
                                                                            "attention_probs_dropout_prob": 0.0})
    texts = [f"{a} {b} film" for a in ("good", "great", "bad", "awful") for b in ("plot", "acting", "fun", "dull", "it")] * 2
    labels = ["pos" if text.split()[0] in ("good", "great") else "neg" for text in texts]
    data = tmp_path / "train.csv"
    pd.DataFrame({"text": texts, "label": labels}).to_csv(data, index=False)
    train_on_ray(checkpoint, data, tmp_path / "model", num_workers=2,
                 train_config=TrainConfig(epochs=2, batch_size=8, few_shot="off", baseline="off"))
    record = json.loads((tmp_path / "model" / "textfit.json").read_text())
    assert record["distributed"] == {"world_size": 2, "backend": "torch.distributed"}
    model = TextClassifier.from_pretrained(tmp_path / "model")

    new = pd.DataFrame({"text": [f"{t} again" for t in texts[:23]]})
    rows = predict_dataset(ray.data.from_pandas(new), tmp_path / "model", batch_size=5, concurrency=2).take_all()
    assert [row["text"] for row in rows] == new["text"].tolist()  # input order kept
    assert [row["label"] for row in rows] == model.predict(new["text"].tolist())
    expected = model.predict_proba(new["text"].tolist())
    for row, probabilities in zip(rows, expected):
        ours = json.loads(row["probabilities"])
        np.testing.assert_allclose([ours[k] for k in ("neg", "pos")], [probabilities[k] for k in ("neg", "pos")], atol=1e-5)
