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


def test_every_run_reports_the_tfidf_baseline_beside_the_model(tiny_checkpoint_dir, tmp_path, capsys):
    from textfit import check, cli

    path = tmp_path / "train.csv"
    pd.DataFrame({"text": TOY_TEXTS * 8, "label": TOY_LABELS * 8}).to_csv(path, index=False)
    result = train(tiny_checkpoint_dir, path, tmp_path / "model", verbose=0, train_config=TrainConfig(epochs=1, batch_size=8))
    baseline = result.metrics["baseline"]
    assert baseline["verdict"] in ("model_wins", "baseline_wins") and "TF-IDF" in baseline["description"]
    assert {"accuracy", "macro_f1", "per_class"} <= set(baseline)
    saved = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert saved["baseline"]["macro_f1"] == baseline["macro_f1"]
    assert "TF-IDF baseline" in (tmp_path / "model" / "report.html").read_text()
    report = check(path)
    assert report.stats["baseline"]["macro_f1"] == pytest.approx(baseline["macro_f1"])  # the same split and settings
    assert "baseline (TF-IDF" in report.format()
    off = train(tiny_checkpoint_dir, path, tmp_path / "off", verbose=0,
                train_config=TrainConfig(epochs=1, batch_size=8, baseline="off"))
    assert "baseline" not in off.metrics
    assert cli.main(["check", "--train", str(path), "--model", str(tiny_checkpoint_dir), "--baseline", "off"]) == 0
    assert "baseline (" not in capsys.readouterr().out


def test_a_model_that_loses_to_the_baseline_is_told_so_with_what_to_change():
    from types import SimpleNamespace

    from textfit.training.train import compare_with_baseline

    report = SimpleNamespace(stats={"truncated_fraction": 0.6, "suggested_max_length": 512})
    verdict = compare_with_baseline({"macro_f1": 0.93}, {"macro_f1": 0.98}, report, SimpleNamespace(max_length=128))
    assert verdict["verdict"] == "baseline_wins"
    assert "does not beat the TF-IDF baseline: macro-F1 0.9300 vs 0.9800" in verdict["message"]
    assert "60% of the texts are cut at max_length=128" in verdict["message"] and "--max-length 512" in verdict["message"]
    assert compare_with_baseline({"macro_f1": 0.99}, {"macro_f1": 0.98}, report, SimpleNamespace(max_length=128))["verdict"] == "model_wins"
