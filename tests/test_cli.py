"""The textfit command on the tiny checkpoint: files written, JSON printed, errors."""

import json
import re

import pandas as pd
import pytest

from conftest import TOY_LABELS, TOY_TEXTS
from textfit import cli


@pytest.fixture
def train_csv(tmp_path):
    path = tmp_path / "train.csv"
    pd.DataFrame({"review": TOY_TEXTS * 4, "sentiment": TOY_LABELS * 4}).to_csv(path, index=False)
    return path


@pytest.fixture
def trained(tiny_checkpoint_dir, train_csv, tmp_path, capsys):
    """(model folder, stdout of `textfit train`)."""
    output = tmp_path / "model"
    status = cli.main([
        "train", "--model", str(tiny_checkpoint_dir), "--train", str(train_csv), "--output", str(output),
        "--text-column", "review", "--label-column", "sentiment", "--epochs", "2", "--batch-size", "8",
        "--learning-rate", "1e-3", "--max-length", "32", "--seed", "1",
    ])
    assert status == 0
    return output, capsys.readouterr().out


@pytest.fixture
def trained_dir(trained):
    return trained[0]


def test_train_writes_exactly_the_model_files(trained):
    trained_dir, output = trained
    # The training checkpoints are gone once the model is saved: the folder is what gets deployed.
    assert sorted(p.name for p in trained_dir.iterdir()) == [
        "accuracy.png", "config.json", "confusion_matrix.png", "history.csv", "history.json", "learning_rate.png",
        "loss.png", "metrics.json", "model.safetensors", "report.html", "textfit.json", "token_lengths.png",
        "tokenizer.json", "tokenizer_config.json", "vocab.txt",
    ]
    record = json.loads((trained_dir / "textfit.json").read_text())
    assert record["train_config"]["epochs"] == 2 and record["train_config"]["learning_rate"] == 1e-3
    assert record["data_config"]["text_column"] == "review"
    assert record["model_config"]["max_length"] == 32
    assert record["num_train_examples"] == 28 and record["num_validation_examples"] == 4
    assert record["metrics"] == json.loads((trained_dir / "metrics.json").read_text())
    assert "keras" in record["versions"]
    assert "examples/s" in output and "macro-F1" in output and f"Saved to {trained_dir}" in output


def test_evaluate_prints_metrics_json(trained_dir, train_csv, tmp_path, capsys):
    capsys.readouterr()
    metrics_path = tmp_path / "metrics.json"
    status = cli.main(["evaluate", "--model", str(trained_dir), "--data", str(train_csv), "--text-column", "review",
                       "--label-column", "sentiment", "--output", str(metrics_path)])
    assert status == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(metrics_path.read_text())
    assert printed["num_examples"] == 32
    assert set(printed) == {"num_examples", "accuracy", "macro_f1", "loss", "per_class", "confusion_matrix"}
    assert printed["confusion_matrix"]["labels"] == ["neg", "pos"]


def test_predict_text_prints_one_json_line_per_text(trained_dir, capsys):
    capsys.readouterr()
    assert cli.main(["predict", "--model", str(trained_dir), "--text", "i love it", "--text", "awful"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["text"] for line in lines] == ["i love it", "awful"]
    assert all(line["label"] in ("neg", "pos") and set(line["probabilities"]) == {"neg", "pos"} for line in lines)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_predict_file_writes_labels_and_probabilities(trained_dir, train_csv, tmp_path, suffix):
    output = tmp_path / f"predictions{suffix}"
    assert cli.main(["predict", "--model", str(trained_dir), "--input", str(train_csv), "--text-column", "review",
                     "--output", str(output)]) == 0
    if suffix == ".csv":
        table = pd.read_csv(output)
        assert list(table.columns) == ["text", "label", "probability_neg", "probability_pos"]
        assert len(table) == 32
    else:
        records = [json.loads(line) for line in output.read_text().splitlines()]
        assert len(records) == 32 and set(records[0]) == {"text", "label", "probabilities"}


def test_demo_runs_on_a_small_slice(tiny_checkpoint_dir, tmp_path, capsys):
    output = tmp_path / "demo"
    status = cli.main(["demo", "--model", str(tiny_checkpoint_dir), "--output", str(output),
                       "--num-train", "64", "--num-validation", "32"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "Validation metrics:" in printed and "Example predictions:" in printed
    assert (output / "model.safetensors").is_file()
    assert json.loads((output / "config.json").read_text())["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["train", "--train", "{missing}", "--output", "{out}"], "Data file .* does not exist"),
        (["train", "--train", "{csv}", "--output", "{out}"], r"Expected columns \['text', 'label'\]"),
        (["train", "--train", "{csv}", "--output", "{out}", "--epochs", "0"], r"epochs must be an integer >= 1. Received: epochs=0"),
        (["train", "--train", "{csv}", "--output", "{out}", "--validation", "{csv}", "--validation-split", "0.2"],
         "either --validation FILE or --validation-split"),
        (["evaluate", "--model", "{out}", "--data", "{csv}"], "Checkpoint folder .* does not exist"),
        (["predict", "--model", "{tiny}", "--text", "hi"], "without a classification head"),
    ],
    ids=["missing-file", "missing-columns", "zero-epochs", "validation-twice", "missing-model", "bare-encoder"],
)
def test_errors_print_one_line_and_exit_nonzero(arguments, message, tiny_checkpoint_dir, train_csv, tmp_path, capsys):
    values = {"missing": tmp_path / "nope.csv", "csv": train_csv, "out": tmp_path / "out", "tiny": tiny_checkpoint_dir}
    arguments = [a.format(**values) for a in arguments]
    if arguments[0] == "train":
        arguments += ["--model", str(tiny_checkpoint_dir)]
    status = cli.main(arguments)
    captured = capsys.readouterr()
    assert status == 1
    assert "Traceback" not in captured.err
    error_lines = [line for line in captured.err.splitlines() if line.startswith("textfit: error: ")]
    assert len(error_lines) == 1
    assert re.search(message, error_lines[0]), error_lines[0]
    assert not (tmp_path / "out").exists()


def test_debug_shows_the_traceback(tmp_path, train_csv):
    with pytest.raises(FileNotFoundError):
        cli.main(["--debug", "evaluate", "--model", str(tmp_path / "none"), "--data", str(train_csv)])


def test_training_checkpoints_are_kept_only_when_asked(tiny_checkpoint_dir, train_csv, tmp_path):
    common = ["train", "--model", str(tiny_checkpoint_dir), "--train", str(train_csv), "--text-column", "review",
              "--label-column", "sentiment", "--epochs", "2", "--batch-size", "8", "--max-length", "32"]
    assert cli.main([*common, "--output", str(tmp_path / "kept"), "--keep-training-checkpoints"]) == 0
    # 28 examples in batches of 8: 4 steps an epoch; a checkpoint at each epoch end, the newest 2 kept.
    assert sorted(p.name for p in (tmp_path / "kept" / "checkpoints").iterdir()) == ["step-00000004", "step-00000008"]
    elsewhere = tmp_path / "elsewhere"
    assert cli.main([*common, "--output", str(tmp_path / "model"), "--checkpoint-dir", str(elsewhere)]) == 0
    assert not elsewhere.exists() and not (tmp_path / "model" / "checkpoints").exists()


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "export", "report", "serve", "check", "demo"])
def test_every_command_prints_its_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert out.startswith(f"usage: textfit {command}")
    if command == "train":
        assert "--few-shot {auto,on,off}" in out and "--seeds SEEDS" in out and "--workers WORKERS" in out
        assert "(default: chosen from the data size)" in out and "over 10% of training texts" in out
