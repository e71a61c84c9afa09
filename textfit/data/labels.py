"""Labels and tasks: what a label cell holds, and how labels become the numbers a model trains on.

Three tasks, named as transformers' ``problem_type`` says them:
- single-label classification: one class name (or integer class id) per text;
- multi-label classification: a set of class names per text (``"sports|politics"`` in CSV/TSV,
  a JSON list in JSONL/Parquet/DataFrames), trained as independent sigmoids;
- regression: one number per text.
"""

import math
from dataclasses import dataclass

import numpy as np

SINGLE_LABEL, MULTI_LABEL, REGRESSION = "single_label", "multi_label", "regression"
TASKS = (SINGLE_LABEL, MULTI_LABEL, REGRESSION)
# transformers' config.json ``problem_type`` for each task.
PROBLEM_TYPES = {
    SINGLE_LABEL: "single_label_classification",
    MULTI_LABEL: "multi_label_classification",
    REGRESSION: "regression",
}
_MAX_ROWS_LISTED = 10


def normalize_task(task: str | None, *, allow_auto: bool = True) -> str | None:
    """"multi-label" / "multi_label" / "MULTI_LABEL" -> "multi_label"; "auto" and None stay as they are."""
    if task is None:
        return None
    normalized = str(task).strip().lower().replace("-", "_")
    if normalized == "auto" and allow_auto:
        return "auto"
    if normalized not in TASKS:
        expected = ("auto", *TASKS) if allow_auto else TASKS
        raise ValueError(f"task must be one of {list(expected)} (dashes allowed). Received: task={task!r}")
    return normalized


def task_from_problem_type(problem_type: str | None) -> str | None:
    """The task of a saved config.json's ``problem_type``, or None when it has none."""
    for task, name in PROBLEM_TYPES.items():
        if problem_type == name:
            return task
    return None


@dataclass(frozen=True)
class LabelMap:
    """Label strings in id order: id ``i`` is ``labels[i]``.

    Example:
        >>> label_map = LabelMap.from_values(["pos", "neg", "pos"])
        >>> label_map.labels, label_map.encode(["pos"]).tolist()
        (('neg', 'pos'), [1])
    """

    labels: tuple[str, ...]

    def __post_init__(self):
        if len(self.labels) == 0:
            raise ValueError("A classifier needs at least one label. Received: labels=[]")
        duplicates = sorted({label for label in self.labels if self.labels.count(label) > 1})
        if duplicates:
            raise ValueError(f"Labels must be unique. Received duplicates: {duplicates}")

    @classmethod
    def from_values(cls, values) -> "LabelMap":
        """The sorted distinct labels of ``values``; integer-like labels sort numerically."""
        distinct = {label_to_string(value) for value in values}
        if all(_is_integer_string(label) for label in distinct):
            return cls(tuple(sorted(distinct, key=int)))
        return cls(tuple(sorted(distinct)))

    @classmethod
    def from_label_sets(cls, label_sets) -> "LabelMap":
        """The sorted distinct labels over every set (multi-label data)."""
        return cls.from_values([label for labels in label_sets for label in labels])

    @classmethod
    def for_examples(cls, labels, task: str, *, target_name: str = "target") -> "LabelMap":
        """The label map a task needs: distinct labels, labels over all sets, or one named output (regression)."""
        if task == MULTI_LABEL:
            return cls.from_label_sets(labels)
        if task == REGRESSION:
            return cls((target_name,))
        return cls.from_values(labels)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def encode(self, values) -> np.ndarray:
        """Label ids of ``values``: label names, or integer label ids in ``[0, num_classes)``.

        Strings are names. Integers are ids when the names are not numbers ("neg", "pos"), as in
        Keras. When the names are numbers ("1", "2", "3"), integers are read as names, or as ids
        when none of them is a name; if both readings are possible and differ, a ValueError shows
        both, because guessing would silently train on the wrong labels.
        """
        values = np.asarray(values)
        if values.dtype.kind in "iub":
            return self._encode_integers(values.astype(np.int64))
        return self._encode_names([label_to_string(value) for value in values.tolist()])

    def _encode_names(self, strings: list[str]) -> np.ndarray:
        index = {label: i for i, label in enumerate(self.labels)}
        unknown = sorted({label for label in strings if label not in index})
        if unknown:
            raise ValueError(
                f"Received labels the model does not know: {unknown[:_MAX_ROWS_LISTED]}. "
                f"Known labels: {list(self.labels)}. Load the model with labels=[...] covering every label."
            )
        return np.fromiter((index[label] for label in strings), dtype=np.int32, count=len(strings))

    def _encode_integers(self, ids: np.ndarray) -> np.ndarray:
        names = [str(value) for value in ids.tolist()]
        numeric_names = all(_is_integer_string(label) for label in self.labels)
        valid_ids = bool(np.all((ids >= 0) & (ids < self.num_classes)))
        named = set(names) & set(self.labels)
        if numeric_names and named:
            as_names = self._encode_names(names) if named == set(names) else None
            if as_names is None or not valid_ids or np.array_equal(as_names, ids):
                return self._encode_names(names)  # raises for values that are not names
            example = sorted(set(ids.tolist()))[:5]
            raise ValueError(
                f"Integer labels {example} are ambiguous for labels {list(self.labels)}: read as label names they are "
                f"{[str(v) for v in example]}, read as label ids they are {self.decode(example)}. Pass strings to mean "
                "names (y=[str(v) for v in y]), or model.label_map.decode(y) to mean ids."
            )
        if not valid_ids:
            bad = sorted(set(ids[(ids < 0) | (ids >= self.num_classes)].tolist()))
            raise ValueError(
                f"Integer labels are label ids and must be in [0, {self.num_classes}); "
                f"received {bad[:_MAX_ROWS_LISTED]}. Labels: {list(self.labels)}. "
                "Pass label strings, or ids in range."
            )
        return ids.astype(np.int32)

    def decode(self, label_ids) -> list[str]:
        return [self.labels[int(i)] for i in label_ids]


def label_to_string(value) -> str:
    """One label as a string: ints as ``"3"``, integral floats (from NaN-holding columns) as ``"3"``."""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def _is_integer_string(text: str) -> bool:
    return text.lstrip("-").isdigit()


def label_set(value, separator: str) -> tuple[str, ...] | None:
    """The labels of one multi-label cell: a list/tuple/array, or a string split on ``separator``; None if empty.

    Order of first appearance is kept; repeats and blanks are dropped.
    """
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [label_to_string(item) for item in value if not _is_blank(item)]
    elif isinstance(value, str):
        items = [part.strip() for part in value.split(separator)] if separator else [value.strip()]
    elif _is_blank(value):
        return None
    else:
        items = [label_to_string(value)]
    items = [item for item in dict.fromkeys(items) if item]
    return tuple(items) or None


def _is_blank(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def multi_hot(label_sets, label_map: "LabelMap") -> np.ndarray:
    """(num_examples, num_labels) float32 0/1 rows from label sets (names), or a 0/1 array passed through."""
    if isinstance(label_sets, np.ndarray) and label_sets.ndim == 2:
        if label_sets.shape[1] != label_map.num_classes or not np.isin(label_sets, (0, 1)).all():
            raise ValueError(
                f"Multi-label targets as an array must be 0/1 with {label_map.num_classes} columns (one per label "
                f"{list(label_map.labels)}). Received shape {label_sets.shape}."
            )
        return label_sets.astype(np.float32)
    index = {label: i for i, label in enumerate(label_map.labels)}
    rows = np.zeros((len(label_sets), label_map.num_classes), dtype=np.float32)
    unknown = set()
    for row, labels in enumerate(label_sets):
        if isinstance(labels, str):
            raise TypeError(
                f"Multi-label targets must be lists of labels; item {row} is the string {labels!r}. "
                "Pass [['a', 'b'], ['c'], ...] (or split the string first)."
            )
        for label in labels:
            name = label_to_string(label)
            if name in index:
                rows[row, index[name]] = 1.0
            else:
                unknown.add(name)
    if unknown:
        raise ValueError(
            f"Received labels the model does not know: {sorted(unknown)[:_MAX_ROWS_LISTED]}. "
            f"Known labels: {list(label_map.labels)}. Load the model with labels=[...] covering every label."
        )
    return rows


def regression_targets(values) -> np.ndarray:
    """float32 targets, or a ValueError naming the first value that is not a finite number."""
    targets = []
    for index, value in enumerate(np.asarray(values, dtype=object).tolist()):
        number = None
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                number = None
        if number is None or not math.isfinite(number):
            raise ValueError(f"Regression targets must be finite numbers; item {index} is {value!r}.")
        targets.append(number)
    return np.asarray(targets, dtype=np.float32)


def strata(labels, task: str) -> list:
    """One stratum per example for a stratified split: the label, the rarest label of a set, or a decile of a number."""
    if task == MULTI_LABEL:
        counts = {}
        for labels_of_row in labels:
            for label in labels_of_row:
                counts[label] = counts.get(label, 0) + 1
        return [min(row, key=lambda label: (counts[label], label)) if row else "" for row in labels]
    if task == REGRESSION:
        values = np.asarray(labels, dtype=np.float64)
        edges = np.quantile(values, np.linspace(0, 1, 11)[1:-1])
        return np.searchsorted(edges, values, side="right").tolist()
    return list(labels)
