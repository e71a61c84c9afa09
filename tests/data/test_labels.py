"""Labels by task: multi-label cells, regression targets, task detection, stratification, Hugging Face datasets."""

import json

import datasets
import numpy as np
import pandas as pd
import pytest

from textfit import DataConfig, LabelMap, read_examples, split_examples
from textfit.data.labels import label_set, multi_hot, normalize_task, regression_targets, strata


def test_csv_cells_with_the_separator_are_read_as_label_sets(tmp_path):
    path = tmp_path / "train.csv"
    pd.DataFrame({"text": ["a", "b", "c"], "label": ["sports|politics", "sports", " politics | art |politics"]}).to_csv(path, index=False)
    examples = read_examples(path)
    assert examples.task == "multi_label"
    assert examples.labels == [("sports", "politics"), ("sports",), ("politics", "art")]


def test_jsonl_lists_are_read_as_label_sets_and_a_custom_separator_works(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps({"text": t, "label": labels}) for t, labels in [("a", ["x", "y"]), ("b", ["y"])]) + "\n")
    assert read_examples(path).labels == [("x", "y"), ("y",)]
    table = pd.DataFrame({"text": ["a", "b"], "label": ["x;y", "y"]})
    assert read_examples(table, DataConfig(label_separator=";")).labels == [("x", "y"), ("y",)]


def test_single_label_stays_single_and_can_be_forced(tmp_path):
    table = pd.DataFrame({"text": ["a", "b"], "label": ["x|y", "y"]})
    assert read_examples(table, DataConfig(task="single-label")).labels == ["x|y", "y"]
    assert read_examples(pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"]})).task == "single_label"


def test_mixed_separators_are_an_error_naming_the_rows():
    table = pd.DataFrame({"text": ["a", "b", "c"], "label": ["sports|politics", "sports,politics", "art"]})
    with pytest.raises(ValueError, match=r"separates labels with '\|', but 1 cell\(s\) use ',' between known labels: data rows 2"):
        read_examples(table)


def test_regression_targets_are_numbers_and_bad_ones_are_named():
    table = pd.DataFrame({"text": ["a", "b", "c"], "label": ["1.5", "2", "-3e-1"]})
    examples = read_examples(table, DataConfig(task="regression"))
    assert examples.task == "regression" and examples.labels == [1.5, 2.0, -0.3]
    with pytest.raises(ValueError, match=r"1 target\(s\) in column 'label' are not numbers \(e.g. \['high'\]\): data rows 2"):
        read_examples(pd.DataFrame({"text": ["a", "b"], "label": ["1.5", "high"]}), DataConfig(task="regression"))


def test_fractional_labels_suggest_regression():
    with pytest.raises(ValueError, match=r"--task regression"):
        read_examples(pd.DataFrame({"text": ["a", "b"], "label": ["0.5", "1.5"]}))


def test_a_hugging_face_dataset_reads_like_a_dataframe():
    dataset = datasets.Dataset.from_dict({"body": ["a b", "c d"], "tags": [["x", "y"], ["y"]]})
    examples = read_examples(dataset, DataConfig(text_column="body", label_column="tags"))
    assert examples.texts == ["a b", "c d"] and examples.labels == [("x", "y"), ("y",)]
    with pytest.raises(TypeError, match=r"pass one split of it, e.g. dataset\['train'\]"):
        read_examples(datasets.DatasetDict({"train": dataset}))


def test_multi_hot_rows_and_unknown_labels():
    label_map = LabelMap.from_label_sets([("b", "a"), ("c",)])
    assert label_map.labels == ("a", "b", "c")
    np.testing.assert_array_equal(multi_hot([("a", "c"), ("b",)], label_map), [[1, 0, 1], [0, 1, 0]])
    with pytest.raises(ValueError, match=r"does not know: \['z'\]"):
        multi_hot([("z",)], label_map)
    with pytest.raises(TypeError, match=r"lists of labels; item 0 is the string 'a\|b'"):
        multi_hot(["a|b"], label_map)


def test_helpers_normalise_tasks_sets_and_targets():
    assert normalize_task("multi-label") == "multi_label" and normalize_task("auto") == "auto"
    with pytest.raises(ValueError, match=r"task must be one of"):
        normalize_task("ranking")
    assert label_set("a| b |a", "|") == ("a", "b") and label_set("  ", "|") is None and label_set(["x", None], "|") == ("x",)
    assert regression_targets(["1", 2, 3.5]).tolist() == [1.0, 2.0, 3.5]
    with pytest.raises(ValueError, match=r"item 1 is 'nan'"):
        regression_targets([1.0, "nan"])


def test_split_is_stratified_by_rarest_label_and_by_target_decile():
    sets = [("common",)] * 40 + [("common", "rare")] * 10
    assert strata(sets, "multi_label")[-1] == "rare"
    train, validation = split_examples(read_examples(pd.DataFrame({
        "text": [f"t{i}" for i in range(50)], "label": ["|".join(s) for s in sets]})), 0.2, seed=0)
    assert sum("rare" in labels for labels in validation.labels) == 2  # 20 % of the rare label's rows
    values = list(np.linspace(0, 1, 100))
    assert sorted(set(strata(values, "regression"))) == list(range(10))
