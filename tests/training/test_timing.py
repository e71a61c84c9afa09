"""ETA and time budget."""

import time

import keras
import numpy as np
import pytest

from conftest import TOY_LABELS, TOY_TEXTS
from textfit import TextClassifier
from textfit.training.timing import format_duration, parse_duration


@pytest.mark.parametrize("text, seconds", [("90", 90.0), ("90s", 90.0), ("10m", 600.0), ("1h30m", 5400.0), ("1.5h", 5400.0), (45, 45.0)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-5", "0", "10x"])
def test_parse_duration_rejects_nonsense(text):
    with pytest.raises(ValueError, match="time_budget must"):
        parse_duration(text)


def test_format_duration():
    assert format_duration(42) == "42 s" and format_duration(151) == "2 min 31 s" and format_duration(3700) == "1 h 01 min"


class _SlowSteps(keras.callbacks.Callback):
    """Makes each step take ~50 ms, as a bigger model would."""

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.05)


def test_fit_logs_an_eta_from_the_first_steps(tiny_checkpoint_dir, caplog):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    with caplog.at_level("INFO", logger="textfit"):
        model.fit(TOY_TEXTS * 2, TOY_LABELS * 2, epochs=3, batch_size=2, verbose=0, callbacks=[_SlowSteps()])
    eta = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ETA: about")]
    assert len(eta) == 1 and "for 24 steps" in eta[0]


def test_time_budget_stops_early_with_the_schedule_ending_there(tiny_checkpoint_dir, caplog):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    model.compile(learning_rate=1e-3, warmup_fraction=0.0)
    with caplog.at_level("WARNING", logger="textfit"):
        history = model.fit(TOY_TEXTS * 4, TOY_LABELS * 4, epochs=5, batch_size=2, verbose=0, callbacks=[_SlowSteps()],
                            time_budget=2.0, validation_data=(TOY_TEXTS, TOY_LABELS))
    steps = model.training_history["steps"]
    # 80 planned; the plan is made after 8 steps (3 warm-up + 5 timed), and 2 s leave room for a slow machine.
    assert 8 < len(steps) < 80
    assert "over the time budget of 2 s: training stops after" in caplog.text
    rates = [row["learning_rate"] for row in steps]
    assert rates[0] == pytest.approx(1e-3)
    assert rates[-1] < 0.25 * rates[0]  # the shortened schedule decays to zero at the new last step
    assert "val_loss" in history.history  # validation still ran


def test_bucketed_prediction_equals_fixed_padding(tiny_checkpoint_dir):
    from textfit.data.tokenizer import pad_batch

    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"], max_length=64)
    texts = [" ".join(["great fun film"] * (i % 7 + 1)) for i in range(30)]
    encoded = model.tokenizer.encode(texts, max_length=64)
    fixed = pad_batch(encoded, range(len(texts)), pad_token_id=0, pad_to_multiple_of=64)
    assert fixed["token_ids"].shape == (30, 64)
    np.testing.assert_allclose(model.predict_logits(texts, batch_size=4), model.predict_logits(fixed), atol=1e-5)


def test_jax_padding_keeps_the_set_of_shapes_small():
    from textfit.data.batches import TextBatches
    from textfit.data.tokenizer import EncodedTexts

    lengths = np.random.default_rng(0).integers(3, 129, size=2000)
    encoded = EncodedTexts([np.ones(n, dtype=np.int32) for n in lengths], [np.zeros(n, dtype=np.int32) for n in lengths])
    batches = TextBatches(encoded, np.zeros(2000), batch_size=32, shuffle=True, pad_to_multiple_of=16)
    assert set(batches.padded_lengths()) <= {16, 32, 48, 64, 80, 96, 112, 128}


def test_streaming_evaluate_equals_metrics_from_all_logits(tiny_checkpoint_dir):
    from textfit import classification_metrics, evaluate

    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    texts, labels = TOY_TEXTS * 3, TOY_LABELS * 3
    logits = model.predict_logits(texts)
    expected = classification_metrics(model.label_map.encode(labels), logits.argmax(-1), model.labels, logits=logits)
    streamed = evaluate(model, texts, labels, batch_size=5)
    assert streamed["confusion_matrix"] == expected["confusion_matrix"]
    assert streamed["loss"] == pytest.approx(expected["loss"], abs=1e-6)
