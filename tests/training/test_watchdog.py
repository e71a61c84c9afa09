"""The not-learning watchdog: NaN loss, loss stuck at ln(num_classes), one-class collapse, odd learning rates."""

import keras
import numpy as np
import pytest

from textfit import NotLearningWatchdog, TextClassifier
from textfit.data.tokenizer import pad_batch


def _model(tiny_checkpoint_dir):
    return TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])


def _sample(model, texts):
    return pad_batch(model.tokenizer.encode(texts, max_length=32), range(len(texts)), pad_token_id=0)


def test_nan_loss_stops_training_at_once(tiny_checkpoint_dir, toy_data):
    model = _model(tiny_checkpoint_dir)
    model.logits_layer.bias.assign(np.array([np.nan, np.nan], dtype="float32"))
    with pytest.raises(FloatingPointError, match=r"loss became nan at step 1.*learning rate"):
        model.fit(*toy_data, epochs=3, batch_size=2, verbose=0)


def test_loss_stuck_at_ln_num_classes_is_reported(tiny_checkpoint_dir, toy_data, caplog):
    model = _model(tiny_checkpoint_dir)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e-9))
    watchdog = NotLearningWatchdog(num_classes=2, num_steps=16)
    with caplog.at_level("WARNING", logger="textfit"):
        model.fit(*toy_data, epochs=4, batch_size=2, verbose=0, callbacks=[watchdog], watchdog=False)
    assert any("stayed at ln(2) = 0.6931 for 16 steps" in finding for finding in watchdog.findings)
    assert any("Learning rate 1e-09 is outside the usual fine-tuning range" in finding for finding in watchdog.findings)
    assert "stayed at ln(2)" in caplog.text


def test_one_class_collapse_is_reported(tiny_checkpoint_dir, toy_data):
    model = _model(tiny_checkpoint_dir)
    model.logits_layer.bias.assign(np.array([8.0, -8.0], dtype="float32"))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e-9))
    watchdog = NotLearningWatchdog(num_classes=2, sample_inputs=_sample(model, toy_data[0]), num_steps=4)
    model.fit(*toy_data, epochs=1, batch_size=2, verbose=0, callbacks=[watchdog], watchdog=False)
    assert any("predicts 'neg' for every one of 8 training examples" in finding for finding in watchdog.findings)


def test_high_learning_rate_is_reported(tiny_checkpoint_dir, toy_data):
    model = _model(tiny_checkpoint_dir)
    model.compile(learning_rate=0.5)
    watchdog = NotLearningWatchdog(num_classes=2, num_steps=2)
    model.fit(*toy_data, epochs=1, batch_size=4, verbose=0, callbacks=[watchdog], watchdog=False)
    assert any("Learning rate 0.5 is outside" in f and "too high" in f for f in watchdog.findings)


def test_a_healthy_run_triggers_no_check(tiny_checkpoint_dir, toy_data, caplog):
    texts, labels = toy_data
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"], dropout=0.0)
    model.compile(learning_rate=1e-3, warmup_fraction=0.0)
    watchdog = NotLearningWatchdog(num_classes=2, sample_inputs=_sample(model, texts), num_steps=50)
    caplog.clear()
    with caplog.at_level("WARNING", logger="textfit"):
        model.fit(texts, labels, epochs=50, batch_size=8, verbose=0, callbacks=[watchdog])
    assert watchdog.findings == []
    assert caplog.records == []


class _PredictionsAt(keras.callbacks.Callback):
    """Record the predicted labels of a sample at one step."""

    def __init__(self, sample, step):
        super().__init__()
        self.sample, self.step, self.predicted = sample, step, None

    def on_train_batch_end(self, batch, logs=None):
        if int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)) == self.step:
            self.predicted = np.argmax(keras.ops.convert_to_numpy(self.model(self.sample, training=False)), axis=-1)


def test_a_healthy_run_inside_a_long_warm_up_stays_silent(tiny_checkpoint_dir, toy_data, caplog):
    """The reviews case: balanced labels, 200 warm-up steps; at step 50 the model still predicts one class."""
    texts, labels = toy_data
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"], dropout=0.0)
    model.logits_layer.bias.assign(np.array([1.0, -1.0], dtype="float32"))  # a head that starts on one class
    model.compile(learning_rate=1e-3, warmup_fraction=0.5)
    sample = _sample(model, texts)
    at_step_50 = _PredictionsAt(sample, 50)
    watchdog = NotLearningWatchdog(num_classes=2, sample_inputs=sample, num_steps=50)
    caplog.clear()
    with caplog.at_level("WARNING", logger="textfit"):
        model.fit(texts, labels, epochs=100, batch_size=2, verbose=0, callbacks=[at_step_50, watchdog], watchdog=False)
    assert len(set(at_step_50.predicted.tolist())) == 1  # what made the old check cry "collapsed"
    assert watchdog.findings == [] and caplog.records == []


def test_loss_stuck_at_the_label_prior_entropy_is_reported_for_imbalanced_labels(tiny_checkpoint_dir):
    texts, labels = ["the same text"] * 20, ["neg"] * 18 + ["pos"] * 2  # the text says nothing: only the prior can be learned
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"], dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    watchdog = NotLearningWatchdog(num_classes=2, num_steps=100, class_counts=[18, 2])
    model.fit(texts, labels, epochs=50, batch_size=10, verbose=0, callbacks=[watchdog], watchdog=False)
    entropy = -(0.9 * np.log(0.9) + 0.1 * np.log(0.1))
    assert any(f"stayed at {entropy:.4f}, the entropy of the label frequencies" in f for f in watchdog.findings), watchdog.findings


def test_collapse_onto_the_majority_label_suggests_class_weights(tiny_checkpoint_dir):
    texts, labels = ["the same text"] * 20, ["neg"] * 18 + ["pos"] * 2
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"], dropout=0.0)
    model.compile(learning_rate=1e-3, warmup_fraction=0.0)
    sample = _sample(model, texts[:8])
    watchdog = NotLearningWatchdog(num_classes=2, sample_inputs=sample, num_steps=20, class_counts=[18, 2])
    model.fit(texts, labels, epochs=10, batch_size=10, verbose=0, callbacks=[watchdog], watchdog=False)
    assert any("predicts 'neg'" in f and "majority label (90%" in f and "class-weight balanced" in f for f in watchdog.findings)
