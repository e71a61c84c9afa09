"""Classification metrics."""

import json
import math

import pytest

from textfit import classification_metrics, write_metrics
from textfit.evaluation.evaluate import format_metrics


def test_classification_metrics_match_hand_computed_values():
    metrics = classification_metrics([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], ["a", "b", "c"])
    assert metrics["accuracy"] == pytest.approx(3 / 5)
    assert metrics["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert metrics["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert metrics["per_class"]["b"]["f1"] == pytest.approx(0.8)
    assert metrics["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert metrics["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert metrics["confusion_matrix"] == {"labels": ["a", "b", "c"], "matrix": [[1, 1, 0], [0, 2, 0], [1, 0, 0]]}


def test_loss_is_cross_entropy_of_the_logits():
    metrics = classification_metrics([0, 1], [0, 0], ["a", "b"], logits=[[0.0, 0.0], [0.0, 0.0]])
    assert metrics["loss"] == pytest.approx(math.log(2))


def test_write_metrics_and_format(tmp_path):
    metrics = classification_metrics([0, 1], [0, 1], ["neg", "pos"])
    write_metrics(metrics, tmp_path / "metrics.json")
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert "accuracy 1.0000" in format_metrics(metrics) and "pos" in format_metrics(metrics)
