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
