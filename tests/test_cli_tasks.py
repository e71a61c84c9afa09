"""Multi-label and regression through the command line and the server."""

import json

import pandas as pd
import pytest
from starlette.testclient import TestClient

from conftest import TOY_TEXTS
from textfit import TextClassifier, cli, evaluate
from textfit.serving.serve import ServeConfig, create_app

TEXTS = [f"{text} {word}" for word in ("the", "a", "it") for text in TOY_TEXTS]
SETS = ["pos|fun", "pos", "pos|fun", "pos", "neg|dull", "neg", "neg", "neg|dull"] * 3
SCORES = [4.5, 4.0, 3.8, 4.2, 1.0, 1.5, 2.0, 1.2] * 3


def _train(tiny_checkpoint_dir, tmp_path, labels, *extra):
    path = tmp_path / "train.csv"
    pd.DataFrame({"text": TEXTS, "label": labels}).to_csv(path, index=False)
    output = tmp_path / "model"
    status = cli.main(["train", "--model", str(tiny_checkpoint_dir), "--train", str(path), "--output", str(output),
                       "--epochs", "2", "--batch-size", "4", "--max-length", "32", "--learning-rate", "1e-3", *extra])
    assert status == 0
    return path, output


def test_multi_label_is_detected_trained_saved_and_served(tiny_checkpoint_dir, tmp_path, capsys):
    path, output = _train(tiny_checkpoint_dir, tmp_path, SETS, "--tune-thresholds")
    log = capsys.readouterr().err
    assert "Multi-label data" in log and "Tuned thresholds" in log
    config = json.loads((output / "config.json").read_text())
    record = json.loads((output / "textfit.json").read_text())
    assert config["problem_type"] == "multi_label_classification" and sorted(config["label2id"]) == ["dull", "fun", "neg", "pos"]
    assert record["task"] == "multi_label" and set(record["thresholds"]) == {"dull", "fun", "neg", "pos"}
    metrics = json.loads((output / "metrics.json").read_text())
    assert {"micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss", "per_label"} <= set(metrics)
    capsys.readouterr()
    assert cli.main(["evaluate", "--model", str(output), "--data", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["task"] == "multi_label"
    assert cli.main(["predict", "--model", str(output), "--input", str(path), "--output", str(tmp_path / "p.csv")]) == 0
    predictions = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert {"labels", "probability_pos", "probability_dull"} <= set(predictions.columns)
    model = TextClassifier.from_pretrained(output)
    assert predictions["labels"].tolist() == ["|".join(labels) for labels in model.predict(TEXTS)]
    with TestClient(create_app(model, ServeConfig())) as client:
        reply = client.post("/v1/predict", json={"texts": TEXTS[:2]}).json()["predictions"]
        assert [row["labels"] for row in reply] == model.predict(TEXTS[:2])
        assert client.get("/v1/model").json()["task"] == "multi_label"


def test_regression_is_trained_evaluated_predicted_and_served(tiny_checkpoint_dir, tmp_path, capsys):
    path, output = _train(tiny_checkpoint_dir, tmp_path, SCORES, "--task", "regression", "--loss", "huber")
    config = json.loads((output / "config.json").read_text())
    assert config["problem_type"] == "regression" and config["id2label"] == {"0": "label"}
    metrics = json.loads((output / "metrics.json").read_text())
    assert {"mae", "rmse", "r2", "pearson", "spearman"} <= set(metrics)
    assert (output / "mae.png").is_file() and "MAE" in (output / "report.html").read_text()
    capsys.readouterr()
    model = TextClassifier.from_pretrained(output)
    assert cli.main(["evaluate", "--model", str(output), "--data", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["mae"] == pytest.approx(evaluate(model, TEXTS, SCORES)["mae"], rel=1e-5)
    assert cli.main(["predict", "--model", str(output), "--text", "great fun"]) == 0
    value = json.loads(capsys.readouterr().out.splitlines()[0])["value"]
    assert value == pytest.approx(model.predict("great fun"), abs=1e-5)
    with TestClient(create_app(model, ServeConfig())) as client:
        assert client.post("/v1/predict", json={"texts": ["great fun"]}).json()["predictions"][0]["value"] == pytest.approx(value, abs=1e-5)
