"""Data-parallel training under torchrun (gloo, 2 processes on this machine) equals one process on the same data.

Each run is a subprocess (torch.distributed needs processes); the tiny model has no dropout, whose
masks depend on each rank's batch shape.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import write_tiny_checkpoint
from distributed_worker import texts_and_labels

WORKER = Path(__file__).with_name("distributed_worker.py")
TIMEOUT = 240


def _environment():
    environment = dict(os.environ, KERAS_BACKEND="torch", OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        [str(WORKER.parent), str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")]))
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        environment.pop(name, None)
    return environment


def run_worker(checkpoint, out, processes: int, **options):
    command = [sys.executable, str(WORKER), str(checkpoint), str(out), json.dumps(options)]
    if processes > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}", *command[1:]]
    return subprocess.run(command, env=_environment(), capture_output=True, text=True, timeout=TIMEOUT)


def load(out, rank):
    return dict(np.load(Path(out) / f"rank-{rank}.npz")), json.loads((Path(out) / f"rank-{rank}.json").read_text())


@pytest.fixture(scope="module")
def tiny_checkpoint_dir(tmp_path_factory):
    """The tiny BERT without dropout: masks drawn per rank would make the runs differ."""
    return write_tiny_checkpoint(tmp_path_factory.mktemp("no-dropout") / "tiny-bert",
                                 config_overrides={"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0})


@pytest.fixture(scope="module")
def single_run(tiny_checkpoint_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    result = run_worker(tiny_checkpoint_dir, out, 1)
    assert result.returncode == 0, result.stderr[-3000:]
    return load(out, 0)


def test_two_ranks_train_the_model_one_process_trains(tiny_checkpoint_dir, single_run, tmp_path):
    result = run_worker(tiny_checkpoint_dir, tmp_path, 2)
    assert result.returncode == 0, result.stderr[-3000:]
    (rank0, record0), (rank1, record1) = load(tmp_path, 0), load(tmp_path, 1)
    single, single_record = single_run
    for name in rank0:  # the ranks hold the same model and optimizer state, bit for bit
        np.testing.assert_array_equal(rank0[name], rank1[name])
    assert record0["steps"] == record1["steps"] == single_record["steps"] == 3 * 3  # 44 texts, global batch 15
    for index, path in enumerate(record0["names"]):
        tolerance = 1e-5 if "key" in path else 1e-6  # key biases: ~zero true gradient, rounding noise amplified by Adam
        np.testing.assert_allclose(rank0[f"w{index}"], single[f"w{index}"], atol=tolerance, err_msg=path)
    # The logged loss and accuracy are global (summed over ranks), equal to one process's.
    for name in ("loss", "accuracy"):
        np.testing.assert_allclose(record0["history"][name], single_record["history"][name], atol=1e-5)
        assert record0["history"][name] == record1["history"][name]


def test_a_checkpoint_from_two_ranks_resumes_in_one_process(tiny_checkpoint_dir, single_run, tmp_path):
    checkpoints = tmp_path / "checkpoints"
    crashed = run_worker(tiny_checkpoint_dir, tmp_path / "crashed", 2, crash_at_step=5, checkpoint_dir=str(checkpoints))
    assert crashed.returncode != 0 and "deliberate failure at step 5" in crashed.stderr
    assert sorted(path.name for path in checkpoints.iterdir() if path.name.startswith("step-")) == ["step-00000003", "step-00000004"]
    resumed = run_worker(tiny_checkpoint_dir, tmp_path / "resumed", 1, checkpoint_dir=str(checkpoints))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    weights, record = load(tmp_path / "resumed", 0)
    single, _ = single_run
    assert record["steps"] == 9
    for index, path in enumerate(record["names"]):
        np.testing.assert_allclose(weights[f"w{index}"], single[f"w{index}"], atol=1e-5 if "key" in path else 1e-6, err_msg=path)


def test_a_failing_rank_ends_the_job_with_an_error_naming_it(tiny_checkpoint_dir, tmp_path):
    result = run_worker(tiny_checkpoint_dir, tmp_path, 2, crash_at_step=2, fail_rank=1)
    assert result.returncode != 0
    assert "deliberate failure at step 2" in result.stderr and "rank" in result.stderr.lower()
    assert not list(tmp_path.glob("rank-*.npz"))  # nobody finished, nobody wrote


def test_textfit_train_workers_writes_one_model_from_rank_zero(tiny_checkpoint_dir, tmp_path):
    texts, labels = texts_and_labels()
    data = tmp_path / "train.csv"
    pd.DataFrame({"text": texts * 2, "label": labels * 2}).to_csv(data, index=False)
    command = [sys.executable, "-m", "textfit", "train", "--model", str(tiny_checkpoint_dir), "--train", str(data),
               "--output", str(tmp_path / "model"), "--workers", "2", "--epochs", "2", "--batch-size", "16", "--baseline", "off"]
    result = subprocess.run(command, env=_environment(), capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((tmp_path / "model" / "textfit.json").read_text())
    assert record["distributed"] == {"world_size": 2, "backend": "torch.distributed"}
    assert (tmp_path / "model" / "metrics.json").is_file() and not (tmp_path / "model" / "checkpoints").exists()
    assert "Saved to" in result.stdout and result.stdout.count("Saved to") == 1  # one writer, one summary
    predicted = subprocess.run([sys.executable, "-m", "textfit", "predict", "--model", str(tmp_path / "model"), "--text", "good fun"],
                               env=_environment(), capture_output=True, text=True, timeout=TIMEOUT)
    assert predicted.returncode == 0 and json.loads(predicted.stdout.splitlines()[0])["label"] in ("neg", "pos")


def test_torchrun_predict_shares_the_rows_and_rank_zero_writes_them_in_order(tiny_checkpoint_dir, tmp_path):
    from textfit import TextClassifier
    from tiny_checkpoints import randomize_head

    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"], precision="float32")
    randomize_head(model)
    saved = model.save_pretrained(tmp_path / "model")
    texts, _ = texts_and_labels(23)  # uneven shares: 12 and 11 rows
    pd.DataFrame({"text": texts}).to_csv(tmp_path / "new.csv", index=False)
    arguments = ["-m", "textfit", "predict", "--model", str(saved), "--input", str(tmp_path / "new.csv")]
    single = subprocess.run([sys.executable, *arguments, "--output", str(tmp_path / "single.csv")], env=_environment(),
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert single.returncode == 0, single.stderr[-3000:]
    shared = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", *arguments,
                             "--output", str(tmp_path / "shared.csv")], env=_environment(), capture_output=True, text=True,
                            timeout=TIMEOUT)
    assert shared.returncode == 0, shared.stderr[-3000:]
    ours, theirs = pd.read_csv(tmp_path / "shared.csv"), pd.read_csv(tmp_path / "single.csv")
    assert ours["text"].tolist() == texts and ours["label"].tolist() == theirs["label"].tolist()
    np.testing.assert_allclose(ours["probability_pos"], theirs["probability_pos"], atol=1e-6)
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []  # no temp debris
