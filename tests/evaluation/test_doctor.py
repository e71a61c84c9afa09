"""The data doctor: each check triggered by real tables, and a healthy data set that triggers none."""

import itertools
import json

import pandas as pd
import pytest

from conftest import TOY_LABELS, TOY_TEXTS, write_tiny_checkpoint
from textfit import check, cli, train
from textfit.models.classifier import ModelConfig
from textfit.training.train import TrainConfig

ADJECTIVES = "great good fun awful bad boring dull cheap late naive".split()
NOUNS = "film movie plot acting cafe resume price phone app team game match".split()
SUBJECTS = "the a this that".split()


def healthy_table(num_per_label=120):
    """Balanced, unique, short texts: passes every check."""
    phrases = [" ".join(words) for words in itertools.product(SUBJECTS, NOUNS, ADJECTIVES)]
    return pd.DataFrame({"text": phrases[: 2 * num_per_label], "label": ["pos", "neg"] * num_per_label})


def write(table, path):
    table.to_csv(path, index=False)
    return path


def codes(findings):
    return [finding.code for finding in findings]


def test_healthy_data_triggers_no_check(tiny_checkpoint_dir, tmp_path):
    report = check(write(healthy_table(), tmp_path / "train.csv"), model_dir=tiny_checkpoint_dir)
    assert report.findings == [], report.format()
    assert report.ok and report.stats["num_train"] + report.stats["num_validation"] == 240
    assert "OK: no errors." in report.format()


def test_missing_columns_and_empty_values_are_errors(tiny_checkpoint_dir, tmp_path):
    report = check(write(pd.DataFrame({"review": ["a"], "label": ["x"]}), tmp_path / "a.csv"), model_dir=tiny_checkpoint_dir)
    assert codes(report.errors) == ["unreadable_train_data"]
    assert "did you mean 'review'?" in report.errors[0].message
    path = tmp_path / "b.csv"
    path.write_text("text,label\ngood,pos\n,neg\nok,\n")
    report = check(path)
    assert "1 empty text(s)" in report.errors[0].message and "1 empty label(s)" in report.errors[0].message


def test_single_class_and_unseen_validation_labels_are_errors(tmp_path):
    table = healthy_table()
    report = check(write(table.assign(label="pos"), tmp_path / "one.csv"), validation_split=0.0)
    assert codes(report.errors) == ["single_class"]
    validation = pd.DataFrame({"text": ["new text", "other text"], "label": ["pos", "neutral"]})
    report = check(write(table, tmp_path / "train.csv"), write(validation, tmp_path / "val.csv"))
    assert codes(report.errors) == ["unseen_validation_labels"]
    assert "['neutral']" in report.errors[0].message


def test_num_labels_disagreeing_with_the_data_is_an_error(tmp_path):
    report = check(write(healthy_table(), tmp_path / "train.csv"), num_labels=3)
    assert codes(report.errors) == ["num_labels_mismatch"]
    assert "num_labels=3 but the training data has 2 labels: ['neg', 'pos']" in report.errors[0].message


def test_tokenizer_larger_than_the_embedding_matrix_is_an_error(tmp_path):
    model_dir = write_tiny_checkpoint(tmp_path / "small-vocab", config_overrides={"vocab_size": 20})
    report = check(write(healthy_table(), tmp_path / "train.csv"), model_dir=model_dir)
    assert "vocabulary_too_large" in codes(report.errors)
    assert "embedding matrix has 20 rows" in report.errors[0].message


def test_imbalance_suggests_class_weight(tmp_path):
    table = healthy_table(200)
    table = pd.concat([table[table.label == "pos"], table[table.label == "neg"].head(40)])
    report = check(write(table, tmp_path / "train.csv"), validation_split=0.0)
    assert codes(report.warnings) == ["class_imbalance"]
    assert "{'neg': 40, 'pos': 200} (largest/smallest = 5.0)" in report.warnings[0].message
    assert "--class-weight balanced" in report.warnings[0].message
    assert "class_weight={'neg': 3.0, 'pos': 0.6}" in report.warnings[0].message  # the form users type: by name


def test_duplicates_and_leakage_are_counted(tmp_path):
    table = healthy_table()
    duplicated = pd.concat([table, table.head(3).assign(label="pos"), table.head(2)])
    validation = pd.concat([table.head(4), pd.DataFrame({"text": ["unseen phrase"], "label": ["pos"]})])
    report = check(write(duplicated, tmp_path / "train.csv"), write(validation, tmp_path / "val.csv"))
    assert codes(report.warnings) == ["duplicates", "leakage"]
    assert "5 training example(s) repeat an earlier text exactly (1 of them with a different label)" in report.warnings[0].message
    assert "4 of 5 validation example(s) also appear in the training data" in report.warnings[1].message


def test_truncation_reports_percentiles_and_suggests_max_length(tiny_checkpoint_dir, tmp_path):
    table = healthy_table().assign(text=lambda t: t.text + " and the plot was fun to watch")
    report = check(write(table, tmp_path / "train.csv"), model_dir=tiny_checkpoint_dir, max_length=8, validation_split=0.0)
    assert codes(report.warnings) == ["truncation"]
    message = report.warnings[0].message
    assert "100.0% of training examples are longer than max_length=8" in message
    assert f"--max-length {report.stats['suggested_max_length']}" in message
    assert report.stats["token_length_percentiles"]["p50"] > 8


def test_small_data_is_a_warning(tmp_path):
    table = pd.DataFrame({"text": TOY_TEXTS, "label": TOY_LABELS})
    report = check(write(table, tmp_path / "toy.csv"), validation_split=0.0)
    assert codes(report.warnings) == ["small_data"]
    assert "8 training examples" in report.warnings[0].message


def test_report_is_json(tmp_path):
    report = check(write(healthy_table(), tmp_path / "train.csv"), num_labels=3)
    data = json.loads(report.to_json())
    assert data["ok"] is False and data["errors"][0]["code"] == "num_labels_mismatch"


def test_cli_check_prints_the_report_writes_json_and_exits_nonzero_on_errors(tiny_checkpoint_dir, tmp_path, capsys):
    train_csv = write(healthy_table(), tmp_path / "train.csv")
    assert cli.main(["check", "--train", str(train_csv), "--model", str(tiny_checkpoint_dir)]) == 0
    assert "OK: no errors." in capsys.readouterr().out
    json_path = tmp_path / "report.json"
    status = cli.main(["check", "--train", str(train_csv), "--model", str(tiny_checkpoint_dir), "--num-labels", "4",
                       "--json", str(json_path)])
    assert status == 1
    assert "error [num_labels_mismatch]" in capsys.readouterr().out
    assert json.loads(json_path.read_text())["errors"][0]["code"] == "num_labels_mismatch"


def test_train_stops_on_data_errors_before_loading_the_model(tiny_checkpoint_dir, tmp_path):
    train_csv = write(healthy_table(), tmp_path / "train.csv")
    validation_csv = write(pd.DataFrame({"text": ["x y"], "label": ["neutral"]}), tmp_path / "val.csv")
    with pytest.raises(ValueError, match=r"The data check found errors:\n- .*never saw: \['neutral'\]"):
        train(tiny_checkpoint_dir, train_csv, tmp_path / "out", validation_source=validation_csv)
    assert not (tmp_path / "out").exists()


def test_train_logs_each_warning_once(tiny_checkpoint_dir, tmp_path, caplog):
    table = pd.DataFrame({"text": TOY_TEXTS * 2, "label": TOY_LABELS * 2})
    with caplog.at_level("WARNING", logger="textfit"):
        train(tiny_checkpoint_dir, write(table, tmp_path / "train.csv"), tmp_path / "out",
              model_config=ModelConfig(max_length=32), train_config=TrainConfig(epochs=1, validation_split=0.0), verbose=0)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("repeat an earlier text" in m for m in messages) == 1
    assert sum("Small data set" in m for m in messages) == 1
    assert json.loads((tmp_path / "out" / "textfit.json").read_text())["data_check"]["stats"]["train_duplicates"] == 8
