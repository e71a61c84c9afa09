"""The whole workflow on every family through the command line: check, train (bucketing, the guards,
checkpoints, report), evaluate, predict, and the HTTP app."""

import json

import pandas as pd
import pytest
from starlette.testclient import TestClient

from textfit import TextClassifier, cli
from textfit.models import FAMILIES
from textfit.serving.serve import ServeConfig, create_app
from tiny_checkpoints import SAMPLE_TEXTS
from tiny_checkpoints import build

TEXTS = [text for text in SAMPLE_TEXTS if len(text) > 3][:10]


@pytest.fixture
def train_csv(tmp_path):
    path = tmp_path / "train.csv"
    pd.DataFrame({"text": TEXTS * 3, "label": (["yes", "no"] * 5) * 3}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_check_train_evaluate_predict_serve(model_type, train_csv, tmp_path, capsys):
    base = build(model_type, tmp_path / "base")
    common = ["--text-column", "text", "--label-column", "label"]
    assert cli.main(["check", "--model", str(base), "--train", str(train_csv), "--max-length", "48", *common]) == 0
    output = tmp_path / "model"
    status = cli.main([
        "train", "--model", str(base), "--train", str(train_csv), "--output", str(output), *common,
        "--epochs", "1", "--batch-size", "8", "--max-length", "48", "--learning-rate", "1e-3",
    ])
    assert status == 0
    record = json.loads((output / "textfit.json").read_text())
    assert record["data_check"]["stats"]["token_length_percentiles"]["max"] > 0
    assert (output / "report.html").is_file() and (output / "metrics.json").is_file()
    capsys.readouterr()
    assert cli.main(["evaluate", "--model", str(output), "--data", str(train_csv), *common]) == 0
    assert 0.0 <= json.loads(capsys.readouterr().out)["accuracy"] <= 1.0
    assert cli.main(["predict", "--model", str(output), "--text", TEXTS[0]]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["label"] in ("yes", "no")
    model = TextClassifier.from_pretrained(output)
    with TestClient(create_app(model, ServeConfig())) as client:
        reply = client.post("/v1/predict", json={"texts": TEXTS[:3]})
        assert reply.status_code == 200 and len(reply.json()["predictions"]) == 3
        assert client.get("/v1/model").json()["model_type"] == model_type
