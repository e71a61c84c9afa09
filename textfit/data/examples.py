"""Labelled text from CSV, TSV, JSONL, Parquet files or pandas DataFrames.

``read_examples`` validates at the boundary: every missing column, empty text and
empty label is reported at once, naming the file and the rows, before any training.
"""

import difflib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from textfit.data.labels import MULTI_LABEL, REGRESSION, SINGLE_LABEL, TASKS, label_set, label_to_string, normalize_task, strata
from textfit.data.unicode import INVALID_TEXT_CHOICES, invalid_code_point, replace_invalid

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")
_MAX_ROWS_LISTED = 10


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """Where the text and labels are in a table.

    Args:
        text_column: column holding the text.
        text_pair_column: optional column holding a second text (sentence pairs).
        label_column: column holding the label (string or integer).
        encoding: text encoding of CSV/TSV/JSONL files.
        max_text_chars: texts are cut to this many characters when read: the model reads at most
            ``max_length`` tokens (or windows of them), so a 300 kB e-mail is kept whole only as far
            as it could matter. A cell holding lines that parse as rows of its own CSV/TSV file is
            reported as an unclosed quote, whatever its length.
        task: "auto", "single_label", "multi_label" or "regression" (dashes allowed). Auto reads
            label cells holding lists, or ``label_separator``, as multi-label; regression is never guessed.
        label_separator: what separates several labels in one CSV/TSV cell ("sports|politics").
        on_invalid_text: "error" (report texts that are not valid Unicode, with their rows) or
            "replace" (replace their bad code points with U+FFFD).

    Example:
        >>> config = DataConfig(text_column="review", label_column="sentiment")
        >>> examples = read_examples("train.csv", config)
        >>> len(examples)
        2000
    """

    text_column: str = field(default="text", metadata={"help": "Column holding the text."})
    text_pair_column: str | None = field(
        default=None, metadata={"help": "Column holding a second text, for sentence-pair tasks."}
    )
    label_column: str = field(default="label", metadata={"help": "Column holding the label (string or integer)."})
    encoding: str = field(default="utf-8", metadata={"help": "Text encoding of CSV/TSV/JSONL files, e.g. latin-1."})
    max_text_chars: int = field(
        default=100_000, metadata={"help": "Texts are cut to this many characters when read (the model reads far fewer)."}
    )
    task: str = field(
        default="auto",
        metadata={
            "help": "single-label, multi-label (several labels per text) or regression (a number per text); auto: "
                    "multi-label when label cells hold lists or the separator, else single-label.",
            "choices": ("auto", "single-label", "multi-label", "regression", *TASKS),
        },
    )
    label_separator: str = field(
        default="|", metadata={"help": "Separator of several labels in one CSV/TSV cell (multi-label)."}
    )
    on_invalid_text: str = field(
        default="error",
        metadata={
            "help": "Texts that are not valid Unicode (lone surrogates): 'error' names them, 'replace' puts U+FFFD in their place.",
            "choices": INVALID_TEXT_CHOICES,
        },
    )

    def __post_init__(self):
        object.__setattr__(self, "task", normalize_task(self.task))
        for name in ("text_column", "label_column"):
            if not getattr(self, name):
                raise ValueError(f"{name} must be a non-empty column name. Received: {name}={getattr(self, name)!r}")
        if self.on_invalid_text not in INVALID_TEXT_CHOICES:
            raise ValueError(f"on_invalid_text must be one of {INVALID_TEXT_CHOICES}. Received: on_invalid_text={self.on_invalid_text!r}")
        if self.max_text_chars < 1:
            raise ValueError(f"max_text_chars must be >= 1. Received: max_text_chars={self.max_text_chars}")
        if self.text_pair_column is not None and self.text_pair_column == self.text_column:
            raise ValueError(
                f"text_pair_column must differ from text_column. Received: both {self.text_column!r}"
            )


@dataclass(frozen=True)
class Examples:
    """Texts (and optional second texts) with their label strings, read from ``source``."""

    texts: list[str]
    text_pairs: list[str] | None
    labels: list | None  # label names; tuples of names (multi-label); floats (regression)
    source: str = "data"
    task: str = SINGLE_LABEL

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def inputs(self):
        """What ``TextClassifier.fit``/``predict`` take: texts, or (text, pair) tuples."""
        if self.text_pairs is None:
            return self.texts
        return list(zip(self.texts, self.text_pairs))

    def subset(self, indices, source: str | None = None) -> "Examples":
        pick = lambda values: None if values is None else [values[i] for i in indices]  # noqa: E731
        return Examples(pick(self.texts), pick(self.text_pairs), pick(self.labels), source or self.source, self.task)


def read_table(path, *, encoding: str = "utf-8") -> pd.DataFrame:
    """Read a CSV, TSV, JSONL or Parquet file into a DataFrame, with errors that name the file."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"Data file {path.resolve()} does not exist.")
    if path.is_dir():
        raise ValueError(f"Expected a data file, received a folder: {path.resolve()}. Pass a CSV, TSV, JSONL or Parquet file.")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValueError(
            f"Cannot tell the format of {path} from its suffix {suffix!r}. Supported: {', '.join(SUPPORTED_SUFFIXES)}."
        )
    if path.stat().st_size == 0:
        raise ValueError(f"Data file {path} is empty.")
    try:
        if suffix in (".csv", ".tsv"):
            # Only empty cells are missing: a text that reads "NA" or "null" is still a text.
            table = pd.read_csv(
                path,
                sep="\t" if suffix == ".tsv" else ",",
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                encoding=encoding,
            )
            _check_delimiter(path, table, suffix)
            return table
        if suffix == ".parquet":
            return pd.read_parquet(path)
        return _read_jsonl(path, encoding)
    except UnicodeDecodeError:
        # pandas decodes in chunks, so its offset is chunk-relative: find the file offset.
        raw = path.read_bytes()
        try:
            raw.decode(encoding)
            position = ""
        except UnicodeDecodeError as error:
            line = raw.count(b"\n", 0, error.start) + 1
            position = f": byte {error.start} (0x{error.object[error.start]:02x}, line {line}) cannot be decoded"
        raise ValueError(
            f"{path} is not valid {encoding}{position}. "
            "Pass the file's encoding, e.g. --encoding latin-1 (DataConfig(encoding='latin-1'))."
        ) from None
    except pd.errors.ParserError as error:
        raise ValueError(f"Could not parse {path}: {error}. Check the delimiter and quoting of that line.") from None
    except (OSError, ValueError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"Could not read {path}: {error}") from None


def _check_delimiter(path: Path, table: pd.DataFrame, suffix: str) -> None:
    if table.shape[1] != 1:
        return
    header = str(table.columns[0])
    for delimiter, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes"), (",", "commas")):
        if delimiter in header and not (delimiter == "," and suffix == ".csv"):
            fix = "rename it to .tsv" if delimiter == "\t" else "save it with commas" if suffix == ".csv" else "save it with tabs"
            raise ValueError(
                f"{path} was read as a single column {header[:80]!r}: its fields look separated by {name}, but a "
                f"{suffix} file is read with {'commas' if suffix == '.csv' else 'tabs'}. Fix: {fix}."
            )


def _read_jsonl(path: Path, encoding: str) -> pd.DataFrame:
    records = []
    with open(path, encoding=encoding) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path} line {line_number} is not valid JSON: {error.msg}. Each line must be one JSON object.") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path} line {line_number} is a JSON {type(record).__name__}, expected an object.")
            records.append(record)
    # object columns: pandas 3 would store text as UTF-8 (Arrow) and fail on a lone surrogate before we can name its row.
    return pd.DataFrame(records, dtype=object)


def read_examples(source, config: DataConfig = DataConfig(), *, require_labels: bool = True) -> Examples:
    """Read labelled texts from a file path or DataFrame, checking columns and values.

    Use it for every table that goes into training, evaluation or prediction: all
    problems of a file (missing columns, empty texts, empty labels) are reported at once.

    Args:
        source: path to a .csv/.tsv/.jsonl/.parquet file, a pandas DataFrame, or a Hugging Face
            ``datasets.Dataset`` (when the ``datasets`` package is installed; it is not a dependency).
        config: which columns hold the text, the optional pair and the label.
        require_labels: False for prediction, where a label column is optional.

    Returns:
        ``Examples`` with texts, optional text pairs and label strings.

    Example:
        >>> examples = read_examples("reviews.csv", DataConfig(text_column="review"))
        >>> examples.texts[0], examples.labels[0]
        ('A great film.', 'positive')
    """
    if isinstance(source, pd.DataFrame):
        table, name = source, "the DataFrame"
    elif type(source).__module__.split(".")[0] == "datasets":  # Hugging Face datasets, without importing it
        if not hasattr(source, "to_pandas"):
            splits = list(source) if hasattr(source, "keys") else []
            raise TypeError(f"Received a {type(source).__name__}; pass one split of it, e.g. dataset[{splits[0] if splits else 'train'!r}].")
        table, name = source.to_pandas(), "the datasets.Dataset"
    else:
        table, name = read_table(source, encoding=config.encoding), str(source)
    if len(table) == 0:
        raise ValueError(f"{name} has a header but no data rows.")
    columns = [str(column) for column in table.columns]
    wanted = [("text_column", config.text_column)]
    if config.text_pair_column is not None:
        wanted.append(("text_pair_column", config.text_pair_column))
    has_labels = config.label_column in columns
    if require_labels or has_labels:
        wanted.append(("label_column", config.label_column))
    _check_columns(name, table, wanted)

    problems = []
    shape = _row_shape(source, table, config.label_column if has_labels else None)
    texts = _text_values(
        table[config.text_column], config.text_column, config.max_text_chars, problems, config.on_invalid_text, shape
    )
    text_pairs = None
    if config.text_pair_column is not None:
        text_pairs = _text_values(
            table[config.text_pair_column], config.text_pair_column, config.max_text_chars, problems, config.on_invalid_text, shape
        )
    labels, task = None, config.task if config.task != "auto" else SINGLE_LABEL
    if require_labels or has_labels:
        column = table[config.label_column]
        task = detect_task(column, config) if config.task == "auto" else config.task
        if task == MULTI_LABEL:
            labels = _label_set_values(column, config.label_column, config.label_separator, problems)
        elif task == REGRESSION:
            labels = _number_values(column, config.label_column, problems)
        else:
            labels = _label_values(column, config.label_column, problems)
    if problems:
        raise ValueError(f"{name} has {len(problems)} problem(s):\n- " + "\n- ".join(problems))
    return Examples(texts, text_pairs, labels, name, task)


def _row_shape(source, table: pd.DataFrame, label_column: str | None) -> "RowShape | None":
    """The row shape of a CSV/TSV file (to recognise rows swallowed by an unclosed quote); None for other sources."""
    if isinstance(source, pd.DataFrame) or not isinstance(source, (str, Path)):
        return None
    suffix = Path(source).suffix.lower()
    if suffix not in (".csv", ".tsv"):
        return None
    columns = [str(column) for column in table.columns]
    label_index = columns.index(label_column) if label_column in columns else None
    known = frozenset()
    if label_index is not None:
        known = frozenset(str(v).strip() for v in table[label_column].tolist() if isinstance(v, str) and "\n" not in v)
    return RowShape("\t" if suffix == ".tsv" else ",", len(columns), label_index, known)


def detect_task(column: pd.Series, config: DataConfig) -> str:
    """Multi-label when a label cell holds a list, or the separator in a text cell; else single-label."""
    values = column.tolist()
    if any(isinstance(v, (list, tuple, set, np.ndarray)) for v in values):
        return MULTI_LABEL
    if config.label_separator and any(isinstance(v, str) and config.label_separator in v for v in values):
        return MULTI_LABEL
    return SINGLE_LABEL


def _check_columns(name: str, table: pd.DataFrame, wanted: list[tuple[str, str]]) -> None:
    columns = [str(column) for column in table.columns]
    missing = [(argument, column) for argument, column in wanted if column not in columns]
    if not missing:
        return
    unclaimed = [c for c in columns if c not in {column for _, column in wanted}]
    hints = []
    for argument, column in missing:
        flag = "--" + argument.replace("_", "-")
        guess = _guess_column(argument, column, table, unclaimed)
        hints.append(f"{argument}={column!r}" + (f" (did you mean {guess!r}?)" if guess else "") + f": pass {flag} COLUMN")
    raise ValueError(
        f"Expected columns {[column for _, column in wanted]} in {name}, found {columns}. Missing: " + "; ".join(hints) + "."
    )


def _guess_column(argument: str, column: str, table: pd.DataFrame, unclaimed: list[str]) -> str | None:
    """The closest column name; failing that, the likeliest by content (longest texts, fewest label values)."""
    close = difflib.get_close_matches(column, unclaimed, n=1, cutoff=0.5)
    if close or not unclaimed:
        return close[0] if close else None
    sample = table.head(1000)
    by_name = {str(c): c for c in table.columns}
    if argument == "label_column":
        counts = {c: sample[by_name[c]].nunique() for c in unclaimed}
        candidates = [c for c in unclaimed if 2 <= counts[c] <= max(2, len(sample) // 2)]
        return min(candidates, key=counts.get) if candidates else None
    text_lengths = {c: sample[by_name[c]].map(lambda v: len(v) if isinstance(v, str) else 0).mean() for c in unclaimed}
    best = max(text_lengths, key=text_lengths.get)
    return best if text_lengths[best] > 0 else None


def _rows(mask: np.ndarray) -> str:
    rows = (np.flatnonzero(mask) + 1).tolist()
    listed = ", ".join(map(str, rows[:_MAX_ROWS_LISTED]))
    more = f" and {len(rows) - _MAX_ROWS_LISTED} more" if len(rows) > _MAX_ROWS_LISTED else ""
    return f"data rows {listed}{more} (1-based, header not counted)"


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _text_values(column: pd.Series, column_name: str, max_chars: int, problems: list, on_invalid: str = "error",
                 row_shape: "RowShape | None" = None) -> list[str]:
    values = column.tolist()
    invalid = np.array([isinstance(v, str) and invalid_code_point(v) is not None for v in values])
    if invalid.any() and on_invalid == "replace":
        values = [replace_invalid(v) if bad else v for v, bad in zip(values, invalid)]
    elif invalid.any():
        first = int(np.flatnonzero(invalid)[0])
        problems.append(
            f"{invalid.sum()} text(s) in column {column_name!r} are not valid Unicode (lone surrogates from a broken "
            f"\\ud800-style escape or bytes that were not UTF-8; first: {invalid_code_point(values[first])} of data row "
            f"{first + 1}): {_rows(invalid)}. Fix them, or pass --on-invalid-text replace to put U+FFFD in their place."
        )
    missing = np.array([_is_missing(v) or (isinstance(v, str) and not v.strip()) for v in values])
    not_text = np.array([not _is_missing(v) and not isinstance(v, str) for v in values])
    if missing.any():
        problems.append(
            f"{missing.sum()} empty text(s) in column {column_name!r}: {_rows(missing)}. Remove those rows or fill them in."
        )
    if not_text.any():
        kinds = sorted({type(v).__name__ for v, bad in zip(values, not_text) if bad})
        problems.append(
            f"{not_text.sum()} value(s) in column {column_name!r} are not text ({', '.join(kinds)}): {_rows(not_text)}. "
            "Store the column as strings."
        )
    if row_shape is not None:
        swallowed = [(i, row_shape.rows_inside(v)) for i, v in enumerate(values) if isinstance(v, str) and v.count("\n") >= 2]
        swallowed = [(i, lines) for i, lines in swallowed if len(lines) >= SWALLOWED_ROWS]
        if swallowed:
            index, lines = swallowed[0]
            problems.append(
                f"{len(swallowed)} cell(s) in column {column_name!r} hold lines that look like rows of this file (data row "
                f"{index + 1} holds {len(lines)}, e.g. {lines[0][:80]!r}): an unclosed quote probably swallowed the rows "
                f"after it ({_rows(np.isin(np.arange(len(values)), [i for i, _ in swallowed]))}). Fix the quoting of that "
                "row; texts that really contain such lines can be kept by quoting every field."
            )
    # A long text is data (an e-mail with its attachment, a report): the tokenizer reads a bounded part of it.
    # Beyond max_text_chars it is cut here, so holding it costs nothing either.
    return [v[:max_chars] if isinstance(v, str) and len(v) > max_chars else v for v in values]


# A cell holding this many lines that parse as rows of its own file is an unclosed quote, not a text.
SWALLOWED_ROWS = 3


@dataclass(frozen=True)
class RowShape:
    """What a row of a CSV/TSV file looks like: its delimiter, column count, and the known values of its label column."""

    delimiter: str
    num_columns: int
    label_index: int | None
    known_labels: frozenset

    def rows_inside(self, cell: str) -> list[str]:
        """The lines of ``cell`` that would parse as rows of the file (same field count, a known label)."""
        rows = []
        for line in cell.split("\n"):
            fields = line.split(self.delimiter)
            if len(fields) != self.num_columns:
                continue
            if self.label_index is not None and fields[self.label_index].strip().strip('"') not in self.known_labels:
                continue
            rows.append(line)
        return rows


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _as_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _label_values(column: pd.Series, column_name: str, problems: list) -> list[str]:
    values = column.tolist()
    missing = np.array([_is_missing(v) or (isinstance(v, str) and not v.strip()) for v in values])
    if missing.any():
        problems.append(
            f"{missing.sum()} empty label(s) in column {column_name!r}: {_rows(missing)}. Label those rows or remove them."
        )
    present = ~missing
    numbers = np.array([_is_number(v) for v in values]) & present
    strings = np.array([isinstance(v, str) for v in values]) & present
    if numbers.any() and strings.any():
        minority = numbers if numbers.sum() <= strings.sum() else strings
        problems.append(
            f"Column {column_name!r} mixes numbers ({numbers.sum()}) and text ({strings.sum()}) as labels; the rarer kind is at "
            f"{_rows(minority)}. Use one kind: class names, or integer class ids."
        )
    # CSV cells are read as text: "0.5" and "1.0" are numbers too.
    as_floats = [float(v) if _is_number(v) else _as_float(v) if isinstance(v, str) else None for v in values]
    numeric = [f for f, ok in zip(as_floats, present) if ok]
    if numeric and all(f is not None for f in numeric):
        fractional = np.array([f is not None and ok and math.isfinite(f) and not float(f).is_integer() for f, ok in zip(as_floats, present)])
        if fractional.any():
            problems.append(
                f"Column {column_name!r} holds fractional numbers ({_rows(fractional)}): a classifier needs class labels, "
                "not scores. Use a column of class names or integer class ids, or pass --task regression to predict the number."
            )
        else:
            return [str(int(f)) if f is not None and ok else "" for f, ok in zip(as_floats, present)]
    return [label_to_string(v) if ok else "" for v, ok in zip(values, present)]


def _label_set_values(column: pd.Series, column_name: str, separator: str, problems: list) -> list[tuple[str, ...]]:
    values = column.tolist()
    sets = [label_set(v, separator) for v in values]
    missing = np.array([labels is None for labels in sets])
    if missing.any():
        problems.append(
            f"{missing.sum()} empty label(s) in column {column_name!r}: {_rows(missing)}. Give each row at least one "
            "label, or remove it."
        )
    # A cell without the separator that splits into known labels on another one: a mixed-up separator.
    known = {label for labels in sets if labels and len(labels) > 1 for label in labels}
    for other in (",", ";", "/", "|"):
        if other == separator or not known:
            continue
        suspicious = np.array([
            isinstance(v, str) and separator not in v and other in v
            and all(part.strip() in known for part in v.split(other) if part.strip())
            for v in values
        ])
        if suspicious.any():
            problems.append(
                f"Column {column_name!r} separates labels with {separator!r}, but {suspicious.sum()} cell(s) use "
                f"{other!r} between known labels: {_rows(suspicious)}. Use one separator (--label-separator)."
            )
    return [labels or () for labels in sets]


def _number_values(column: pd.Series, column_name: str, problems: list) -> list[float]:
    values = column.tolist()
    numbers = []
    for value in values:
        number = None
        if _is_number(value):
            number = float(value)
        elif isinstance(value, str):
            number = _as_float(value.strip())
        numbers.append(number if number is not None and math.isfinite(number) else None)
    missing = np.array([_is_missing(v) or (isinstance(v, str) and not v.strip()) for v in values])
    bad = np.array([number is None for number in numbers]) & ~missing
    if missing.any():
        problems.append(f"{missing.sum()} empty target(s) in column {column_name!r}: {_rows(missing)}. Fill them in or remove those rows.")
    if bad.any():
        examples = sorted({str(v) for v, b in zip(values, bad) if b})[:5]
        problems.append(
            f"{bad.sum()} target(s) in column {column_name!r} are not numbers (e.g. {examples}): {_rows(bad)}. Regression "
            "needs a number on every row; for class labels drop --task regression."
        )
    return [number if number is not None else float("nan") for number in numbers]


def split_indices(labels, validation_fraction: float, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices), stratified by label and seeded.

    Each label with at least two examples puts ``round(fraction * count)`` of them
    (at least one) into validation, so rare labels are validated too.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_split must be in (0, 1). Received: validation_split={validation_fraction}")
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    validation_indices = []
    for label in sorted(set(labels.tolist())):
        indices = np.flatnonzero(labels == label)
        if len(indices) < 2:
            continue
        count = min(len(indices) - 1, max(1, round(validation_fraction * len(indices))))
        validation_indices.extend(rng.permutation(indices)[:count].tolist())
    validation_mask = np.zeros(len(labels), dtype=bool)
    validation_mask[validation_indices] = True
    return np.flatnonzero(~validation_mask), np.flatnonzero(validation_mask)


def split_examples(examples: Examples, validation_fraction: float, *, seed: int = 0) -> tuple[Examples, Examples]:
    """Split into (train, validation), stratified by label (or label set, or target decile) and seeded.

    Example:
        >>> train, validation = split_examples(examples, 0.1, seed=0)
        >>> len(train) + len(validation) == len(examples)
        True
    """
    if examples.labels is None:
        raise ValueError("A stratified split needs labels; the examples have none.")
    train_indices, validation_indices = split_indices(strata(examples.labels, examples.task), validation_fraction, seed=seed)
    return (
        examples.subset(train_indices, f"{examples.source} (train split)"),
        examples.subset(validation_indices, f"{examples.source} (validation split)"),
    )
