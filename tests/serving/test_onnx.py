"""ONNX export for every family, onnxruntime predictions equal textfit's, int8 drift reported, --runtime onnx."""

import json

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from textfit import TextClassifier, cli
from textfit.models import FAMILIES
from textfit.serving.onnx import INT8_FILE, ONNX_FILE, OnnxClassifier, export_onnx
from textfit.serving.serve import ServeConfig, create_app
from tiny_checkpoints import build, randomize_head
from tiny_checkpoints import SAMPLE_PAIRS, SAMPLE_TEXTS


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_every_family_exports_and_onnxruntime_gives_textfits_logits(model_type, tmp_path):
    model = TextClassifier.from_pretrained(build(model_type, tmp_path / "base"), labels=["neg", "pos", "meh"], precision="float32")
    randomize_head(model)
    saved = model.save_pretrained(tmp_path / "saved")
    report = export_onnx(saved, quantize="int8", sample_texts=SAMPLE_TEXTS)
    assert report["files"] == [ONNX_FILE, INT8_FILE] and (saved / ONNX_FILE).is_file()
    assert report["float32_max_logit_difference"] < 1e-4
    assert 0.0 <= report["int8_label_agreement"] <= 1.0 and "int8_max_probability_difference" in report
    assert report["int8_scheme"].startswith("per-channel int8 weights")
    onnx_model = OnnxClassifier.from_dir(saved)
    np.testing.assert_allclose(onnx_model.predict_logits(SAMPLE_TEXTS), model.predict_logits(SAMPLE_TEXTS), atol=1e-4)
    pairs = list(SAMPLE_PAIRS)
    np.testing.assert_allclose(onnx_model.predict_logits(pairs), model.predict_logits(pairs), atol=1e-4)
    assert onnx_model.predict(SAMPLE_TEXTS) == model.predict(SAMPLE_TEXTS)


def test_tasks_and_chunks_read_the_same_through_onnx(tiny_checkpoint_dir, tmp_path):
    multi = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["a", "b", "c"], task="multi_label", max_length=12,
                                           truncation="chunks", chunk_pooling="max")
    randomize_head(multi)
    multi.set_thresholds([0.3, 0.5, 0.7])
    saved = multi.save_pretrained(tmp_path / "multi")
    export_onnx(saved)
    onnx_model = OnnxClassifier.from_dir(saved)
    texts = ["the film was great fun " * 6, "dull plot", "i like it"]
    assert onnx_model.task == "multi_label" and onnx_model.thresholds == pytest.approx(multi.thresholds)
    assert onnx_model.predict(texts) == multi.predict(texts)
    for ours, theirs in zip(onnx_model.predict_proba(texts), multi.predict_proba(texts)):
        assert ours == pytest.approx(theirs, abs=1e-5)
    regression = TextClassifier.from_pretrained(tiny_checkpoint_dir, task="regression")
    regression.head.set_target_scale(2.5, 3.0)
    saved = regression.save_pretrained(tmp_path / "regression")
    export_onnx(saved)
    assert OnnxClassifier.from_dir(saved).predict(texts) == pytest.approx(regression.predict(texts), abs=1e-4)


def test_export_refuses_an_untrained_head(tiny_checkpoint_dir):
    with pytest.raises(ValueError, match=r"no (trained )?classification head"):
        export_onnx(tiny_checkpoint_dir)


def test_cli_export_then_predict_evaluate_and_serve_on_onnxruntime(tiny_checkpoint_dir, tmp_path, capsys):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    randomize_head(model)
    saved = model.save_pretrained(tmp_path / "model")
    data = tmp_path / "data.csv"
    texts = SAMPLE_TEXTS[:8]
    pd.DataFrame({"text": texts, "label": ["neg", "pos"] * 4}).to_csv(data, index=False)
    assert cli.main(["export", "--model", str(saved), "--quantize", "int8", "--sample", str(data)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["num_sample_texts"] == 8 and report["files"] == ["model.onnx", "model.int8.onnx"]
    for runtime in ("onnx", "onnx-int8"):
        assert cli.main(["predict", "--model", str(saved), "--runtime", runtime, "--input", str(data),
                         "--output", str(tmp_path / f"{runtime}.csv")]) == 0
    keras_labels = model.predict(texts)
    assert pd.read_csv(tmp_path / "onnx.csv")["label"].tolist() == keras_labels
    capsys.readouterr()
    assert cli.main(["evaluate", "--model", str(saved), "--runtime", "onnx", "--data", str(data)]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(np.mean(np.array(keras_labels) == ["neg", "pos"] * 4))
    with TestClient(create_app(OnnxClassifier.from_dir(saved, spin_wait=False), ServeConfig())) as client:
        reply = client.post("/v1/predict", json={"texts": texts[:2]}).json()["predictions"]
        assert [row["label"] for row in reply] == keras_labels[:2]
    with pytest.raises(ValueError, match="--precision applies to the keras runtime"):
        cli._load_model(cli.build_parser().parse_args(["serve", "--model", str(saved), "--runtime", "onnx", "--precision", "float32"]))
    served = cli._load_model(cli.build_parser().parse_args(["serve", "--model", str(saved), "--runtime", "onnx"]), serving=True)
    # A server's onnxruntime threads sleep between micro-batches: the cores go to HTTP and tokenizing.
    assert served.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    capsys.readouterr()
    assert cli.main(["predict", "--model", str(saved), "--precision", "float32", "--input", str(data),
                     "--output", str(tmp_path / "float32.csv")]) == 0
    assert pd.read_csv(tmp_path / "float32.csv")["label"].tolist() == keras_labels


def test_a_missing_onnx_file_says_how_to_make_it(tiny_checkpoint_dir, tmp_path):
    saved = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"]).save_pretrained(tmp_path / "model")
    with pytest.raises(FileNotFoundError, match=r"model\.int8\.onnx does not exist\. Export it first: textfit export .* --quantize int8"):
        OnnxClassifier.from_dir(saved, file=INT8_FILE)
