"""Data readers, label maps and the stratified split."""

import json

import numpy as np
import pandas as pd
import pytest

from textfit import DataConfig, LabelMap, read_examples, split_examples


@pytest.fixture
def table():
    return pd.DataFrame({"text": ["good film", "bad film", "fine", "awful"], "label": ["pos", "neg", "pos", "neg"]})


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_read_examples_reads_every_format(table, tmp_path, suffix):
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        table.to_csv(path, index=False)
    elif suffix == ".tsv":
        table.to_csv(path, index=False, sep="\t")
    elif suffix == ".jsonl":
        table.to_json(path, orient="records", lines=True)
    else:
        table.to_parquet(path)
    examples = read_examples(path)
    assert examples.texts == table["text"].tolist() and examples.labels == table["label"].tolist()


def test_read_examples_reads_dataframes_and_text_pairs():
    table = pd.DataFrame({"premise": ["a", "b"], "hypothesis": ["c", "d"], "gold": [0, 1]})
    examples = read_examples(table, DataConfig(text_column="premise", text_pair_column="hypothesis", label_column="gold"))
    assert examples.inputs == [("a", "c"), ("b", "d")] and examples.labels == ["0", "1"]


def test_read_examples_reports_missing_columns_with_a_suggestion(tmp_path):
    path = tmp_path / "reviews.csv"
    pd.DataFrame({"texts": ["a"], "sentiment": ["pos"]}).to_csv(path, index=False)
    with pytest.raises(ValueError) as error:
        read_examples(path)
    message = str(error.value)
    assert "Expected columns ['text', 'label'] in" in message and "found ['texts', 'sentiment']" in message
    assert "did you mean 'texts'?" in message and "--text-column" in message and "--label-column" in message


def test_read_examples_reports_every_empty_text_and_label_with_rows(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,label\ngood,pos\n,neg\n  ,pos\nok,\n", encoding="utf-8")
    with pytest.raises(ValueError) as error:
        read_examples(path)
    message = str(error.value)
    assert "2 problem(s)" in message
    assert "2 empty text(s) in column 'text': data rows 2, 3" in message
    assert "1 empty label(s) in column 'label': data rows 4" in message


def test_text_reading_NA_is_kept_as_text(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,label\nNA,pos\nnull,neg\n", encoding="utf-8")
    assert read_examples(path).texts == ["NA", "null"]


def test_read_examples_names_the_bad_jsonl_line(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": \n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"data\.jsonl line 2 is not valid JSON"):
        read_examples(path)


def test_read_examples_explains_undecodable_bytes(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\ncafé,pos\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"not valid utf-8: byte 14 \(0xe9, line 2\).*--encoding latin-1"):
        read_examples(path)
    assert read_examples(path, DataConfig(encoding="latin-1")).texts == ["café"]


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: None, r"does not exist"),
        (lambda p: p.mkdir(), r"received a folder"),
        (lambda p: p.write_text(""), r"is empty"),
        (lambda p: p.write_text("text,label\n"), r"header but no data rows"),
    ],
    ids=["missing", "folder", "empty", "header-only"],
)
def test_read_examples_rejects_unusable_files(tmp_path, setup, message):
    path = tmp_path / "data.csv"
    setup(path)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        read_examples(path)


def test_read_examples_rejects_unknown_suffix_and_fractional_labels(tmp_path):
    with pytest.raises(ValueError, match=r"suffix '\.xlsx'"):
        (tmp_path / "data.xlsx").write_text("x")
        read_examples(tmp_path / "data.xlsx")
    path = tmp_path / "scores.jsonl"
    path.write_text(json.dumps({"text": "a", "label": 0.5}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"fractional numbers"):
        read_examples(path)


def test_label_map_sorts_strings_and_integers_numerically():
    assert LabelMap.from_values(["pos", "neg", "neutral"]).labels == ("neg", "neutral", "pos")
    assert LabelMap.from_values([10, 2, 1, 2.0]).labels == ("1", "2", "10")


def test_label_map_encodes_strings_and_ids_and_rejects_unknown():
    label_map = LabelMap(("neg", "pos"))
    assert label_map.encode(["pos", "neg"]).tolist() == [1, 0]
    assert label_map.encode(np.array([1, 0])).tolist() == [1, 0]
    assert label_map.decode([1, 0]) == ["pos", "neg"]
    with pytest.raises(ValueError, match=r"must be in \[0, 2\); received \[2\]"):
        label_map.encode([2])
    with pytest.raises(ValueError, match=r"does not know: \['maybe'\]"):
        label_map.encode(["maybe"])


def test_integer_labels_are_names_when_the_names_are_numbers():
    label_map = LabelMap(("1", "2", "3"))
    assert label_map.encode([1, 2, 3]).tolist() == [0, 1, 2]  # every value is a name, and 3 is no id
    assert label_map.encode(["2"]).tolist() == [1]
    assert LabelMap(("0", "1")).encode([1, 0]).tolist() == [1, 0]  # both readings agree


def test_integer_labels_that_read_both_ways_are_refused_with_both_readings():
    with pytest.raises(ValueError, match=r"\[1, 2\] are ambiguous.*as label names they are \['1', '2'\], read as label ids they are \['2', '3'\]"):
        LabelMap(("1", "2", "3")).encode([1, 2])


def test_integer_labels_are_ids_when_no_value_is_a_name():
    assert LabelMap(("1", "2", "3")).encode([0]).tolist() == [0]
    assert LabelMap(("neg", "pos")).encode(np.array([1, 0])).tolist() == [1, 0]
    with pytest.raises(ValueError, match=r"does not know: \['0'\]"):
        LabelMap(("1", "2", "3")).encode([0, 1])  # 1 is a name, 0 is not: neither reading holds


def test_split_examples_is_stratified_seeded_and_disjoint():
    labels = ["a"] * 80 + ["b"] * 20
    table = pd.DataFrame({"text": [f"t{i}" for i in range(100)], "label": labels})
    examples = read_examples(table)
    train, validation = split_examples(examples, 0.1, seed=1)
    assert sorted(validation.labels) == ["a"] * 8 + ["b"] * 2
    assert set(train.texts).isdisjoint(validation.texts) and len(train) + len(validation) == 100
    assert split_examples(examples, 0.1, seed=1)[1].texts == validation.texts
    assert split_examples(examples, 0.1, seed=2)[1].texts != validation.texts
    with pytest.raises(ValueError, match=r"validation_split must be in \(0, 1\)"):
        split_examples(examples, 1.5)


def test_genuinely_long_texts_are_data_and_an_unclosed_quote_is_not(tmp_path):
    from textfit import check

    email = "From: a@b.c\nSubject: hello, world\n\n" + "Dear team, the results are attached.\n" * 8000 + "Best, A"
    rows = [("good film", "pos"), ("bad film", "neg"), (email, "neg")] * 10
    path = tmp_path / "mails.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(path, index=False)
    examples = read_examples(path)
    assert len(examples.texts[2]) == 100_000  # 300 kB read, cut to max_text_chars
    report = check(path, validation_split=0.0)
    assert "long_texts" in [finding.code for finding in report.warnings] and report.ok
    # Two lines that happen to look like rows are a text; three or more are rows swallowed by a quote.
    two = pd.DataFrame([("a,pos\nb,neg\nthe rest", "pos"), ("x", "neg")], columns=["text", "label"])
    two.to_csv(tmp_path / "two.csv", index=False)
    assert read_examples(tmp_path / "two.csv").texts[0].startswith("a,pos")
