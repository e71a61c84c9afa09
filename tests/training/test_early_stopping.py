"""Validation during training, the best model, early stopping, class weights by name."""

import json

import keras
import numpy as np
import pandas as pd
import pytest

from conftest import TOY_LABELS, TOY_TEXTS
from textfit import TextClassifier, cli

TEXTS = [f"{text} {word}" for word in ("the", "a", "it", "that") for text in TOY_TEXTS]  # 32 examples
LABELS = TOY_LABELS * 4
FLIPPED = ["neg" if label == "pos" else "pos" for label in TOY_LABELS]  # validation that training makes worse


def _model(tiny_checkpoint_dir, seed=1):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"], seed=seed)
    model.compile(learning_rate=2e-3, warmup_fraction=0.0)
    return model


def _weights(model):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in model.weights]


class _StopAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            self.model.stop_training = True


def test_early_stopping_restores_the_best_epoch_bit_for_bit(tiny_checkpoint_dir):
    stopped = _model(tiny_checkpoint_dir)
    history = stopped.fit(TEXTS, LABELS, validation_data=(TOY_TEXTS, FLIPPED), epochs=8, batch_size=8, verbose=0,
                          early_stopping=2, monitor="loss")
    monitor = stopped._textfit_state["validation_monitor"]
    best_epoch = monitor.best()["epoch"]
    assert monitor.stopped_early and len(history.history["val_loss"]) == best_epoch + 2
    assert history.history["val_loss"][best_epoch - 1] == min(history.history["val_loss"])
    # The same run stopped by hand after the best epoch (same seed, same schedule) ends with the same weights.
    reference = _model(tiny_checkpoint_dir)
    reference.fit(TEXTS, LABELS, validation_data=(TOY_TEXTS, FLIPPED), epochs=8, batch_size=8, verbose=0,
                  callbacks=[_StopAfterEpoch(best_epoch)])
    for ours, theirs in zip(_weights(stopped), _weights(reference)):
        np.testing.assert_array_equal(ours, theirs)


def test_validation_logs_hold_every_metric_and_keras_callbacks_see_them(tiny_checkpoint_dir, tmp_path):
    model = _model(tiny_checkpoint_dir)
    early = keras.callbacks.EarlyStopping(monitor="val_macro_f1", mode="max", patience=1)
    best_file = tmp_path / "best.weights.h5"
    checkpoint = keras.callbacks.ModelCheckpoint(str(best_file), monitor="val_loss", save_best_only=True, save_weights_only=True)
    history = model.fit(TEXTS, LABELS, validation_data=(TOY_TEXTS, TOY_LABELS), epochs=3, batch_size=8, verbose=0,
                        callbacks=[early, checkpoint])
    assert {"val_loss", "val_accuracy", "val_macro_f1"} <= set(history.history)
    assert best_file.is_file()
    assert early.best == pytest.approx(max(history.history["val_macro_f1"]))


def test_eval_every_validates_mid_epoch(tiny_checkpoint_dir):
    model = _model(tiny_checkpoint_dir)
    model.fit(TEXTS, LABELS, validation_data=(TOY_TEXTS, TOY_LABELS), epochs=2, batch_size=8, verbose=0, eval_every=3)
    steps = [evaluation["step"] for evaluation in model._textfit_state["validation_monitor"].evaluations]
    assert steps == [3, 4, 6, 8]  # every 3 steps, and each epoch's end (4 steps an epoch)


class _Crash(Exception):
    pass


class _CrashAtStep(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)) == self.step:
            raise _Crash()


def test_resume_keeps_the_best_so_far(tiny_checkpoint_dir, tmp_path):
    settings = dict(validation_data=(TOY_TEXTS, FLIPPED), epochs=4, batch_size=8, verbose=0, keep_best=True, monitor="loss",
                    checkpoint_every=2)
    straight = _model(tiny_checkpoint_dir)
    straight.fit(TEXTS, LABELS, checkpoint_dir=tmp_path / "straight", **settings)
    crashed = _model(tiny_checkpoint_dir)
    with pytest.raises(_Crash):
        crashed.fit(TEXTS, LABELS, checkpoint_dir=tmp_path / "crashed", callbacks=[_CrashAtStep(11)], **settings)
    resumed = _model(tiny_checkpoint_dir)
    resumed.fit(TEXTS, LABELS, checkpoint_dir=tmp_path / "crashed", **settings)
    best = straight._textfit_state["validation_monitor"].best()
    assert best["epoch"] < 3  # the best is from before the crash, so only a checkpoint could have kept it
    assert resumed._textfit_state["validation_monitor"].best() == best
    for ours, theirs in zip(_weights(resumed), _weights(straight)):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_class_weight_by_name_and_balanced(tiny_checkpoint_dir):
    from textfit.training.fit import as_dataset, class_weights

    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    data = as_dataset(model, TEXTS[:10], (["neg"] * 8) + ["pos"] * 2, None, 4, shuffle=False, seed=0)
    assert class_weights(model, {"neg": 1.0, "pos": 4.0}, data) == {0: 1.0, 1: 4.0}
    assert class_weights(model, "balanced", data) == {0: pytest.approx(10 / (2 * 8)), 1: pytest.approx(10 / (2 * 2))}
    with pytest.raises(ValueError, match=r"names a label the model does not have: 'maybe'"):
        class_weights(model, {"maybe": 2.0}, data)
    numeric = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["1", "2"])
    assert class_weights(numeric, {2: 3.0}, data) == {1: 3.0}  # numeric label names map by name


def test_cli_early_stopping_saves_the_best_and_the_report_marks_it(tiny_checkpoint_dir, tmp_path, capsys):
    train_csv, validation_csv = tmp_path / "train.csv", tmp_path / "validation.csv"
    pd.DataFrame({"text": TEXTS, "label": LABELS}).to_csv(train_csv, index=False)
    pd.DataFrame({"text": TOY_TEXTS, "label": FLIPPED}).to_csv(validation_csv, index=False)
    status = cli.main(["train", "--model", str(tiny_checkpoint_dir), "--train", str(train_csv), "--validation", str(validation_csv),
                       "--output", str(tmp_path / "model"), "--epochs", "8", "--batch-size", "8", "--learning-rate", "2e-3",
                       "--warmup-fraction", "0", "--early-stopping-patience", "2", "--monitor", "loss", "--seed", "1"])
    assert status == 0
    out = capsys.readouterr().out
    assert "Best validation loss" in out and "training stopped early" in out and "these are the weights saved" in out
    record = json.loads((tmp_path / "model" / "textfit.json").read_text())
    history = json.loads((tmp_path / "model" / "history.json").read_text())
    assert record["best"]["monitor"] == "loss" and history["best"]["step"] == record["best"]["step"]
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["loss"] == pytest.approx(record["best"]["value"], rel=1e-4)  # the saved model is the best one
    assert "best validation" in (tmp_path / "model" / "report.html").read_text()
