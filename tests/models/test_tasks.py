"""Multi-label and regression models: outputs, transformers round trips with problem_type, thresholds, the guard."""

import json

import keras
import numpy as np
import pytest
import torch
import transformers

from conftest import TOY_TEXTS
from tiny_checkpoints import randomize_head
from textfit import TextClassifier, evaluate

SETS = [["pos", "fun"], ["pos"], ["pos", "fun"], ["pos"], ["neg", "dull"], ["neg"], ["neg"], ["neg", "dull"]]
SCORES = [4.5, 4.0, 3.8, 4.2, 1.0, 1.5, 2.0, 1.2]


def _hf(saved_dir):
    model = transformers.AutoModelForSequenceClassification.from_pretrained(saved_dir).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(saved_dir)
    with torch.no_grad():
        logits = model(**tokenizer(TOY_TEXTS, padding=True, return_tensors="pt")).logits.numpy()
    return model, logits


def test_multi_label_model_predicts_label_sets_and_sigmoid_probabilities(tiny_checkpoint_dir):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["dull", "fun", "neg", "pos"], task="multi-label")
    model.compile()
    assert isinstance(model.loss, keras.losses.BinaryCrossentropy) and model.loss.get_config()["from_logits"]
    model.set_thresholds({"pos": 0.2, "neg": 0.9})
    probabilities = model.predict_proba(TOY_TEXTS)
    assert all(0 < p < 1 for row in probabilities for p in row.values())
    assert not all(abs(sum(row.values()) - 1) < 1e-3 for row in probabilities)  # not a softmax
    for labels, row in zip(model.predict(TOY_TEXTS), probabilities):
        assert labels == [label for label, p in row.items() if p >= model.thresholds[label]]


def test_multi_label_folder_loads_in_transformers_and_its_pipeline_gives_the_same_scores(tiny_checkpoint_dir, tmp_path):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["dull", "fun", "neg", "pos"], task="multi_label")
    randomize_head(model)
    model.set_thresholds([0.3, 0.4, 0.5, 0.6])
    saved = model.save_pretrained(tmp_path / "saved")
    assert json.loads((saved / "config.json").read_text())["problem_type"] == "multi_label_classification"
    pipeline = transformers.pipeline("text-classification", model=str(saved), top_k=None)
    for theirs, ours in zip(pipeline(TOY_TEXTS), model.predict_proba(TOY_TEXTS)):
        assert {row["label"]: row["score"] for row in theirs} == pytest.approx(ours, abs=1e-5)
    reloaded = TextClassifier.from_pretrained(saved)
    assert reloaded.task == "multi_label" and reloaded.thresholds == pytest.approx(model.thresholds)
    assert reloaded.predict(TOY_TEXTS) == model.predict(TOY_TEXTS)


def test_regression_model_outputs_the_targets_units_and_transformers_returns_the_same(tiny_checkpoint_dir, tmp_path):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, task="regression", labels=["stars"])
    model.compile(learning_rate=1e-3, warmup_fraction=0.0)
    model.fit(TOY_TEXTS, SCORES, epochs=2, batch_size=4, verbose=0)
    # The head learned standardised targets: its scale is their spread and mean.
    assert float(keras.ops.convert_to_numpy(model.head.target_shift)[0]) == pytest.approx(np.mean(SCORES), rel=1e-5)
    assert float(keras.ops.convert_to_numpy(model.head.target_scale)[0]) == pytest.approx(np.std(SCORES), rel=1e-5)
    predictions = model.predict(TOY_TEXTS)
    assert isinstance(predictions[0], float) and isinstance(model.predict("fun"), float)
    saved = model.save_pretrained(tmp_path / "saved")
    config = json.loads((saved / "config.json").read_text())
    assert config["problem_type"] == "regression" and config["id2label"] == {"0": "stars"}
    hf_model, hf_logits = _hf(saved)
    assert hf_model.config.num_labels == 1
    np.testing.assert_allclose(hf_logits[:, 0], predictions, atol=1e-4)  # the scale is folded into the head
    reloaded = TextClassifier.from_pretrained(saved)
    assert reloaded.task == "regression"
    np.testing.assert_allclose(reloaded.predict(TOY_TEXTS), predictions, atol=1e-5)
    # Training on: a second fit, with targets of another spread, continues from the trained head as it is.
    model.fit(TOY_TEXTS, [10 * score for score in SCORES], epochs=1, batch_size=4, verbose=0)
    assert float(keras.ops.convert_to_numpy(model.head.target_scale)[0]) == pytest.approx(np.std(SCORES), rel=1e-5)
    with pytest.raises(ValueError, match=r"regression model predicts numbers, not probabilities"):
        model.predict_proba(TOY_TEXTS)


def test_regression_metrics_and_huber(tiny_checkpoint_dir):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, task="regression")
    model.compile(loss="huber")
    assert isinstance(model.loss, keras.losses.Huber)
    metrics = evaluate(model, TOY_TEXTS, SCORES)
    assert metrics["task"] == "regression" and set(metrics) >= {"mae", "rmse", "pearson", "spearman", "loss"}
    errors = np.array(model.predict(TOY_TEXTS)) - np.array(SCORES)
    assert metrics["mae"] == pytest.approx(np.abs(errors).mean(), rel=1e-5)


def test_tune_thresholds_does_not_lower_validation_f1(tiny_checkpoint_dir):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["dull", "fun", "neg", "pos"], task="multi_label", seed=3)
    randomize_head(model, seed=3)
    before = evaluate(model, TOY_TEXTS, SETS)
    tuned = model.tune_thresholds(TOY_TEXTS, SETS)
    after = evaluate(model, TOY_TEXTS, SETS)
    assert set(tuned) == set(model.labels) and tuned != {label: 0.5 for label in model.labels}
    for label in model.labels:
        assert after["per_label"][label]["f1"] >= before["per_label"][label]["f1"]
    assert after["macro_f1"] > before["macro_f1"]


@pytest.mark.parametrize("loss, message", [
    (keras.losses.SparseCategoricalCrossentropy(from_logits=True), r"several labels per row.*scores one class per row"),
    (keras.losses.CategoricalCrossentropy(from_logits=True), r"several labels per row.*scores one class per row"),
])
def test_guard_refuses_one_class_losses_on_multi_hot_targets(tiny_checkpoint_dir, loss, message):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["dull", "fun", "neg", "pos"], task="multi_label")
    model.compile(loss=loss)
    with pytest.raises(ValueError, match=message):
        model.fit(TOY_TEXTS, SETS, epochs=1, verbose=0)


def test_guard_refuses_a_sigmoid_output_with_a_from_logits_loss(tiny_checkpoint_dir):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["dull", "fun", "neg", "pos"], task="multi_label")
    model.logits_layer.activation = keras.activations.sigmoid
    model.compile()
    with pytest.raises(ValueError, match=r"applies sigmoid, but the loss BinaryCrossentropy\(from_logits=True\).*sigmoid would be applied twice"):
        model.fit(TOY_TEXTS, SETS, epochs=1, verbose=0)


def test_guard_refuses_a_softmax_output_on_multi_label_data():
    from textfit.training.guards import find_target_mismatch

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    model.compile(loss=keras.losses.BinaryCrossentropy())
    message = find_target_mismatch(model, np.array([[1, 1, 0], [0, 1, 0]]))
    assert message and "applies softmax" in message
    assert find_target_mismatch(model, np.array([[1, 0, 0], [0, 1, 0]])) is None  # one-hot: single-label rows


def test_single_label_model_refuses_label_sets(tiny_checkpoint_dir):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    with pytest.raises(ValueError, match=r"several labels per text, but the model is single-label.*task='multi_label'"):
        model.fit(TOY_TEXTS, [["neg"]] * 8, verbose=0)
