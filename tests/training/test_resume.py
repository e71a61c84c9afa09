"""Exact resume after SIGKILL, atomic saves under SIGKILL, and determinism."""

import json
import os
import signal
import subprocess
import sys
import time

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


def _command(tiny_checkpoint_dir, data_csv, output):
    return [sys.executable, "-m", "textfit", "train", "--model", str(tiny_checkpoint_dir), "--train", str(data_csv),
            "--output", str(output), "--epochs", "2", "--batch-size", "4", "--max-length", "16", "--seed", "3",
            "--checkpoint-every", "5", "--keep-checkpoints", "100"]


def _weights(folder):
    return load_file(folder / "model.safetensors")


def test_run_killed_mid_epoch_resumes_to_the_same_weights_and_metrics(tiny_checkpoint_dir, data_csv, tmp_path):
    killed_output = tmp_path / "killed"
    process = subprocess.Popen(_command(tiny_checkpoint_dir, data_csv, killed_output), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        steps = [int(p.name.split("-")[1]) for p in list_checkpoints(killed_output / "checkpoints")]
        if steps and max(steps) >= 20:
            break
        time.sleep(0.005)
    assert process.poll() is None, "training ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    newest = list_checkpoints(killed_output / "checkpoints")[-1]
    state = json.loads((newest / "state.json").read_text())
    assert state["epoch"] == 0 and 0 < state["batches_done"] < 72, state  # mid-epoch
    assert not (killed_output / "model.safetensors").exists()

    resumed = subprocess.run(_command(tiny_checkpoint_dir, data_csv, killed_output), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resuming from {killed_output / 'checkpoints'}" in resumed.stderr

    clean_output = tmp_path / "clean"
    clean = subprocess.run(_command(tiny_checkpoint_dir, data_csv, clean_output), capture_output=True, text=True, timeout=600)
    assert clean.returncode == 0, clean.stderr

    resumed_weights, clean_weights = _weights(killed_output), _weights(clean_output)
    assert resumed_weights.keys() == clean_weights.keys()
    for name in clean_weights:
        np.testing.assert_allclose(resumed_weights[name], clean_weights[name], atol=1e-6, err_msg=name)
    resumed_metrics = json.loads((killed_output / "metrics.json").read_text())
    clean_metrics = json.loads((clean_output / "metrics.json").read_text())
    assert resumed_metrics["accuracy"] == clean_metrics["accuracy"]
    assert resumed_metrics["loss"] == pytest.approx(clean_metrics["loss"], abs=1e-6)
    assert resumed_metrics["confusion_matrix"] == clean_metrics["confusion_matrix"]
    resumed_history = json.loads((killed_output / "history.json").read_text())
    clean_history = json.loads((clean_output / "history.json").read_text())
    assert [row["step"] for row in resumed_history["steps"]] == [row["step"] for row in clean_history["steps"]]
    assert [row["learning_rate"] for row in resumed_history["steps"]] == pytest.approx([row["learning_rate"] for row in clean_history["steps"]])


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
