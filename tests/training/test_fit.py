"""What fit does around keras.Model.fit: the stratified split keeps weights with their examples; class weights apply."""

import json

import keras
import numpy as np
import pytest

from conftest import TOY_LABELS, TOY_TEXTS
from textfit import TextClassifier
from textfit.data.examples import split_indices
from textfit.evaluation.evaluate import cross_entropy
from textfit.training.fit import split_off_validation

TEXTS = [f"{text} {word}" for word in ("the", "a", "it") for text in TOY_TEXTS]  # 24 examples
LABELS = TOY_LABELS * 3


@pytest.fixture
def no_dropout_checkpoint(tiny_checkpoint_copy):
    config = json.loads((tiny_checkpoint_copy / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (tiny_checkpoint_copy / "config.json").write_text(json.dumps(config))
    return tiny_checkpoint_copy


def _frozen_model(checkpoint_dir):
    """No dropout and a zero learning rate: the epoch's loss is a pure function of the data and weights."""
    model = TextClassifier.from_pretrained(checkpoint_dir, labels=["neg", "pos"], dropout=0.0, seed=4)
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    return model


def _per_example_loss(model, texts, labels):
    logits = model.predict_logits(texts)
    ids = model.label_map.encode(labels)
    return np.array([cross_entropy(logits[i : i + 1], ids[i : i + 1]) for i in range(len(texts))])


def test_split_off_validation_keeps_each_weight_with_its_example(tiny_checkpoint_dir):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    weights = np.arange(len(TEXTS), dtype=np.float32)  # the weight names its example
    x, y, train_weights, validation = split_off_validation(model, TEXTS, LABELS, weights, 0.25, seed=0)
    assert [TEXTS[int(w)] for w in train_weights] == x
    assert [LABELS[int(w)] for w in train_weights] == y
    assert [TEXTS[int(w)] for w in validation[2]] == validation[0]
    assert len(x) + len(validation[0]) == len(TEXTS)


def test_sample_weights_with_validation_split_weigh_the_right_examples(no_dropout_checkpoint):
    model = _frozen_model(no_dropout_checkpoint)
    weights = np.array([1.0 if label == "neg" else 0.0 for label in LABELS]) * np.linspace(1, 2, len(LABELS))
    history = model.fit(TEXTS, LABELS, sample_weight=weights, validation_split=0.25, epochs=1, batch_size=4, verbose=0, seed=0)
    train_indices, validation_indices = split_indices(LABELS, 0.25, seed=0)
    losses = _per_example_loss(model, TEXTS, LABELS)
    # Keras' epoch loss: the mean over examples of weight x loss.
    assert history.history["loss"][0] == pytest.approx(np.mean(weights[train_indices] * losses[train_indices]), rel=1e-4)
    assert history.history["val_loss"][0] == pytest.approx(np.mean(weights[validation_indices] * losses[validation_indices]), rel=1e-4)


def test_class_weight_scales_each_class(no_dropout_checkpoint):
    model = _frozen_model(no_dropout_checkpoint)
    history = model.fit(TEXTS, LABELS, class_weight={0: 0.0, 1: 3.0}, epochs=1, batch_size=4, verbose=0, seed=0)
    losses = _per_example_loss(model, TEXTS, LABELS)
    expected = np.mean([3.0 * loss if label == "pos" else 0.0 for loss, label in zip(losses, LABELS)])
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-4)


def test_mismatched_sample_weights_are_refused(tiny_checkpoint_dir):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    with pytest.raises(ValueError, match=r"24 texts but 3 sample weights"):
        model.fit(TEXTS, LABELS, sample_weight=[1.0, 2.0, 3.0], validation_split=0.25, verbose=0)
    with pytest.raises(ValueError, match=r"24 texts but 3 sample weights"):
        model.fit(TEXTS, LABELS, sample_weight=[1.0, 2.0, 3.0], verbose=0)


def test_fit_with_numeric_labels_that_read_both_ways_is_refused(tiny_checkpoint_dir):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["1", "2", "3"])
    with pytest.raises(ValueError, match=r"ambiguous"):
        model.fit(TEXTS[:4], [1, 2, 1, 2], verbose=0)
