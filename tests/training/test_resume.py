"""Exact resume after SIGKILL, atomic saves under SIGKILL, and determinism."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from conftest import TOY_LABELS, TOY_TEXTS
from textfit import TextClassifier, atomic, train
from textfit.models.classifier import ModelConfig
from textfit.training.resume import list_checkpoints
from textfit.training.train import TrainConfig

WORDS = "the a this that it film movie plot game team".split()


@pytest.fixture
def data_csv(tmp_path):
    rows = [(f"{text} {a} {b}", label) for a in WORDS for b in WORDS[:4] for text, label in zip(TOY_TEXTS, TOY_LABELS)]
    path = tmp_path / "train.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(path, index=False)
    return path  # 320 rows: 288 train + 32 validation, 72 steps an epoch at batch 4


def _command(tiny_checkpoint_dir, data_csv, output, checkpoint_every=5):
    return [sys.executable, "-m", "textfit", "train", "--model", str(tiny_checkpoint_dir), "--train", str(data_csv),
            "--output", str(output), "--epochs", "2", "--batch-size", "4", "--max-length", "16", "--seed", "3",
            "--checkpoint-every", str(checkpoint_every), "--keep-checkpoints", "100"]


def _weights(folder):
    return load_file(folder / "model.safetensors")


# (name, checkpoint every N steps, kill once a checkpoint at this step exists, expected (epoch, batches done) of the newest)
KILLS = [
    ("mid-epoch-0", 5, 20, lambda epoch, done: epoch == 0 and 0 < done < 72),
    ("mid-epoch-1", 5, 95, lambda epoch, done: epoch == 1 and 0 < done < 72),
    # Only end-of-epoch checkpoints: killed after the first epoch's, the run resumes at the start of the second.
    ("epoch-boundary", 1000, 72, lambda epoch, done: epoch == 0 and done == 72),
]


@pytest.fixture(scope="module")
def clean_run(tiny_checkpoint_dir, tmp_path_factory):
    """An uninterrupted run per checkpoint interval (the weights do not depend on it; history rows do not either)."""
    runs = {}

    def get(data_csv, checkpoint_every):
        if checkpoint_every not in runs:
            output = tmp_path_factory.mktemp("clean") / "model"
            completed = subprocess.run(_command(tiny_checkpoint_dir, data_csv, output, checkpoint_every), capture_output=True,
                                       text=True, timeout=600)
            assert completed.returncode == 0, completed.stderr
            runs[checkpoint_every] = output
        return runs[checkpoint_every]

    return get


@pytest.mark.parametrize("name, every, kill_after, where", KILLS, ids=[kill[0] for kill in KILLS])
def test_a_killed_run_resumes_to_the_same_weights_metrics_and_history(tiny_checkpoint_dir, data_csv, tmp_path, clean_run,
                                                                      name, every, kill_after, where):
    killed_output = tmp_path / "killed"
    process = subprocess.Popen(_command(tiny_checkpoint_dir, data_csv, killed_output, every), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        steps = [int(p.name.split("-")[1]) for p in list_checkpoints(killed_output / "checkpoints")]
        if steps and max(steps) >= kill_after:
            break
        time.sleep(0.002)
    assert process.poll() is None, "training ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    newest = list_checkpoints(killed_output / "checkpoints")[-1]
    state = json.loads((newest / "state.json").read_text())
    assert where(state["epoch"], state["batches_done"]), state
    assert not (killed_output / "model.safetensors").exists()

    resumed = subprocess.run(_command(tiny_checkpoint_dir, data_csv, killed_output, every), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resuming from {killed_output / 'checkpoints'}" in resumed.stderr
    clean_output = clean_run(data_csv, every)

    resumed_weights, clean_weights = _weights(killed_output), _weights(clean_output)
    assert resumed_weights.keys() == clean_weights.keys()
    for tensor in clean_weights:
        np.testing.assert_allclose(resumed_weights[tensor], clean_weights[tensor], atol=1e-6, err_msg=tensor)
    resumed_metrics = json.loads((killed_output / "metrics.json").read_text())
    clean_metrics = json.loads((clean_output / "metrics.json").read_text())
    assert resumed_metrics["accuracy"] == clean_metrics["accuracy"]
    assert resumed_metrics["loss"] == pytest.approx(clean_metrics["loss"], abs=1e-6)
    assert resumed_metrics["confusion_matrix"] == clean_metrics["confusion_matrix"]
    resumed_history = json.loads((killed_output / "history.json").read_text())
    clean_history = json.loads((clean_output / "history.json").read_text())
    for field in ("step", "epoch", "learning_rate", "loss", "accuracy"):
        assert [row[field] for row in resumed_history["steps"]] == pytest.approx(
            [row[field] for row in clean_history["steps"]], abs=1e-5), field
    assert len(resumed_history["epochs"]) == len(clean_history["epochs"]) == 2
    for resumed_epoch, clean_epoch in zip(resumed_history["epochs"], clean_history["epochs"]):
        assert resumed_epoch == pytest.approx(clean_epoch, abs=1e-5)


class _Crash(Exception):
    pass


class _CrashAtStep(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)) == self.step:
            raise _Crash()


def test_a_resumed_time_budgeted_run_ends_where_the_budget_planned(tiny_checkpoint_dir, tmp_path):
    """A budget far too small stops the run at the first step after the ETA (step 9), the schedule ending there."""
    texts, labels = TOY_TEXTS * 6, TOY_LABELS * 6  # 12 steps an epoch at batch 4

    def fit(folder, callbacks=()):
        model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"], seed=1)
        model.compile(learning_rate=1e-3)
        model.fit(texts, labels, epochs=2, batch_size=4, verbose=0, checkpoint_dir=folder, checkpoint_every=2,
                  time_budget=1e-6, callbacks=list(callbacks))
        return model

    straight = fit(tmp_path / "straight")
    assert [row["step"] for row in straight.training_history["steps"]][-1] == 9
    with pytest.raises(_Crash):
        fit(tmp_path / "crashed", [_CrashAtStep(9)])  # after the step-8 checkpoint, which holds the shortened plan
    resumed = fit(tmp_path / "crashed")
    assert [row["step"] for row in resumed.training_history["steps"]] == [row["step"] for row in straight.training_history["steps"]]
    assert [row["loss"] for row in resumed.training_history["steps"]] == pytest.approx(
        [row["loss"] for row in straight.training_history["steps"]], abs=1e-6)
    assert resumed.training_history["steps"][-1]["learning_rate"] == pytest.approx(
        straight.training_history["steps"][-1]["learning_rate"])
    for ours, theirs in zip(resumed.trainable_variables, straight.trainable_variables):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(theirs), atol=1e-6)


SAVE_LOOP = """
import sys
import textfit
model = textfit.TextClassifier.from_pretrained(sys.argv[1], labels=["neg", "pos"])
print("loaded", flush=True)
for index in range(10_000):
    model.save_pretrained(sys.argv[2], metrics={"index": index})
    print("saved", index, flush=True)
"""


@pytest.mark.parametrize("delay", [0.0, 0.003, 0.011])
def test_kill_during_save_leaves_a_complete_model(tiny_checkpoint_dir, tmp_path, delay):
    output = tmp_path / "model"
    process = subprocess.Popen([sys.executable, "-c", SAVE_LOOP, str(tiny_checkpoint_dir), str(output)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    saves = 0
    while saves < 3:
        line = process.stdout.readline()
        assert line, "the save loop ended early"
        saves += line.startswith("saved")
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    # Whatever the save was doing, the folder is a complete model (the last or the one before).
    model = TextClassifier.from_pretrained(output)
    assert model.labels == ("neg", "pos")
    assert json.loads((output / "metrics.json").read_text())["index"] >= 2
    # The next save cleans the debris a killed save may have left.
    model.save_pretrained(output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_kill_between_the_two_renames_is_recovered(tmp_path):
    target = tmp_path / "model"
    with atomic.atomic_directory(target) as folder:
        (folder / "config.json").write_text("first")
    # The state after the previous version was moved aside and before the new one was renamed in.
    aside = tmp_path / ".model.old-x"
    aside.mkdir()
    os.rename(target, aside / "model")
    (tmp_path / ".model.tmp-y").mkdir()
    with atomic.atomic_directory(target) as folder:
        assert (target / "config.json").read_text() == "first"  # recovered before writing
        (folder / "config.json").write_text("second")
    assert (target / "config.json").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_same_seed_gives_the_same_metrics_and_weights_twice(tiny_checkpoint_dir, data_csv, tmp_path):
    def run(name):
        result = train(tiny_checkpoint_dir, data_csv, tmp_path / name, model_config=ModelConfig(max_length=16),
                       train_config=TrainConfig(epochs=1, batch_size=8, seed=5), verbose=0)
        return result.metrics, _weights(result.output_dir)

    (first_metrics, first_weights), (second_metrics, second_weights) = run("first"), run("second")
    for metrics in (first_metrics, second_metrics):
        metrics["baseline"].pop("seconds")  # wall time, the one field that may differ
    assert first_metrics == second_metrics
    for name in first_weights:
        np.testing.assert_array_equal(first_weights[name], second_weights[name])


def test_resume_false_starts_over_and_true_requires_a_checkpoint(tiny_checkpoint_dir, tmp_path):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    with pytest.raises(FileNotFoundError, match="Asked to resume, but .* holds no complete checkpoint"):
        model.fit(TOY_TEXTS, TOY_LABELS, epochs=1, batch_size=4, verbose=0, checkpoint_dir=tmp_path / "ck", resume=True)
    model.fit(TOY_TEXTS, TOY_LABELS, epochs=1, batch_size=4, verbose=0, checkpoint_dir=tmp_path / "ck")
    assert [p.name for p in list_checkpoints(tmp_path / "ck")] == ["step-00000002"]
    fresh = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    fresh.fit(TOY_TEXTS, TOY_LABELS, epochs=2, batch_size=4, verbose=0, checkpoint_dir=tmp_path / "ck", resume=False)
    assert [p.name for p in list_checkpoints(tmp_path / "ck")] == ["step-00000002", "step-00000004"]
