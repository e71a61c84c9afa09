"""The training report: files, valid PNG/HTML, and numbers that equal metrics.json."""

import json
import re
from html.parser import HTMLParser

import matplotlib.image
import pandas as pd
import pytest

from conftest import TOY_LABELS, TOY_TEXTS
from textfit import cli
from textfit.evaluation.report import PLOTS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.metrics, self.images, self._metric = {}, [], None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes["src"])
        self._metric = attributes.get("data-metric")

    def handle_data(self, data):
        if self._metric:
            self.metrics[self._metric] = float(data)
            self._metric = None


@pytest.fixture(scope="module")
def trained_dir(tiny_checkpoint_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    table = pd.DataFrame({"text": [f"{t} {i}" for i in range(4) for t in TOY_TEXTS], "label": TOY_LABELS * 4})
    table.to_csv(folder / "train.csv", index=False)
    status = cli.main(["train", "--model", str(tiny_checkpoint_dir), "--train", str(folder / "train.csv"),
                       "--output", str(folder / "model"), "--epochs", "3", "--batch-size", "4", "--max-length", "8",
                       "--validation-split", "0.25", "--learning-rate", "1e-3"])
    assert status == 0
    return folder / "model"


def test_train_writes_the_report_plots_and_history(trained_dir):
    names = {p.name for p in trained_dir.iterdir()}
    assert {"report.html", "history.json", "history.csv", *PLOTS} <= names
    for name in PLOTS:
        data = (trained_dir / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        assert matplotlib.image.imread(trained_dir / name).shape[0] > 100


def test_report_numbers_equal_metrics_json(trained_dir):
    metrics = json.loads((trained_dir / "metrics.json").read_text())
    collector = _Collector()
    collector.feed((trained_dir / "report.html").read_text(encoding="utf-8"))
    assert collector.metrics["accuracy"] == pytest.approx(metrics["accuracy"], abs=5e-5)
    assert collector.metrics["macro_f1"] == pytest.approx(metrics["macro_f1"], abs=5e-5)
    assert collector.metrics["loss"] == pytest.approx(metrics["loss"], abs=5e-5)
    for label, scores in metrics["per_class"].items():
        for name in ("precision", "recall", "f1"):
            assert collector.metrics[f"{label}/{name}"] == pytest.approx(scores[name], abs=5e-5)


def test_report_is_self_contained(trained_dir):
    page = (trained_dir / "report.html").read_text(encoding="utf-8")
    collector = _Collector()
    collector.feed(page)
    assert len(collector.images) == len(PLOTS)
    assert all(src.startswith("data:image/png;base64,") for src in collector.images)
    assert not re.search(r"(src|href)=\"https?:", page)


def test_history_records_every_step_with_the_schedule(trained_dir):
    history = json.loads((trained_dir / "history.json").read_text())
    steps = history["steps"]
    assert [row["step"] for row in steps] == list(range(1, len(steps) + 1))
    assert len(steps) == 3 * 6  # 24 training examples / batch 4, 3 epochs
    assert steps[0]["learning_rate"] == 0.0 and max(row["learning_rate"] for row in steps) == pytest.approx(1e-3)
    assert [row["epoch"] for row in history["epochs"]] == [1, 2, 3]
    assert "val_loss" in history["epochs"][0]
    assert len(pd.read_csv(trained_dir / "history.csv")) == len(steps)


def test_report_command_rebuilds_the_report(trained_dir, capsys):
    (trained_dir / "report.html").unlink()
    (trained_dir / "loss.png").unlink()
    assert cli.main(["report", str(trained_dir)]) == 0
    assert capsys.readouterr().out.strip() == str(trained_dir / "report.html")
    assert (trained_dir / "loss.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "data-metric=\"accuracy\"" in (trained_dir / "report.html").read_text()


def test_report_command_explains_a_folder_without_history(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path)]) == 1
    assert "history.json not found" in capsys.readouterr().err
