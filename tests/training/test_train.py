"""train(): what a time-budgeted run reports it did."""

import json

import pandas as pd
import pytest

from conftest import TOY_LABELS, TOY_TEXTS
from textfit import train
from textfit.training.train import TrainConfig, _examples_in


def test_a_budgeted_run_reports_the_steps_and_examples_it_ran(tiny_checkpoint_dir, tmp_path):
    path = tmp_path / "train.csv"
    pd.DataFrame({"text": TOY_TEXTS * 8, "label": TOY_LABELS * 8}).to_csv(path, index=False)  # 64 rows, 16 steps an epoch
    # A budget far too small: the plan after the 8 timed steps stops the run at step 9 of 48.
    result = train(tiny_checkpoint_dir, path, tmp_path / "model", verbose=0,
                   train_config=TrainConfig(epochs=3, batch_size=4, time_budget="0.001s", validation_split=0.0))
    record = json.loads((tmp_path / "model" / "textfit.json").read_text())
    history = json.loads((tmp_path / "model" / "history.json").read_text())
    assert record["timing"]["steps_run"] == len(history["steps"]) == 9
    assert record["timing"]["examples_trained"] == 9 * 4
    assert result.train_examples_per_second == pytest.approx(9 * 4 / result.train_seconds)


def test_examples_in_counts_whole_epochs_and_full_batches():
    assert _examples_in(10, 37, 4) == 37 + 4 * 0  # 10 steps an epoch: one whole epoch
    assert _examples_in(13, 37, 4) == 37 + 12
    assert _examples_in(3, 37, 4) == 12
