"""The data doctor: find what would make training fail or mislead, before the first step.

``check`` reads the files like ``train`` does and reports, in one go:

errors (training would fail or be meaningless): unreadable files, missing columns, empty
texts or labels, a single class, validation labels that training never saw, ``num_labels``
that disagrees with the data, a tokenizer whose ids exceed the model's embedding matrix;

warnings: class imbalance (with ``class_weight``), duplicates and train/validation leakage,
texts cut at ``max_length`` (with token-length percentiles and a suggested ``max_length``),
very small data sets.
"""

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from textfit import atomic
from textfit.hf import folder as hf_folder
from textfit.data.examples import DataConfig, Examples, read_examples, split_examples
from textfit.data.labels import MULTI_LABEL, REGRESSION, LabelMap
from textfit.data.tokenizer import Tokenizer
from textfit.models import get_family

IMBALANCE_RATIO = 3.0
TRUNCATION_WARNING_FRACTION = 0.02
SMALL_TRAIN_SET, SMALL_CLASS = 200, 20
_PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True)
class Finding:
    """One problem: ``level`` is "error" or "warning"; ``code`` is stable, ``message`` says what and how to fix."""

    level: str
    code: str
    message: str


@dataclass
class DataReport:
    """Findings and statistics of a data check; ``ok`` when there are no errors."""

    findings: list[Finding] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, level: str, code: str, message: str) -> None:
        self.findings.append(Finding(level, code, message))

    def to_dict(self) -> dict:
        return {"ok": self.ok, "errors": [asdict(f) for f in self.errors], "warnings": [asdict(f) for f in self.warnings], "stats": self.stats}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def format(self) -> str:
        """The report as terminal text."""
        lines = ["Data check"]
        stats = self.stats
        if "num_train" in stats:
            lines.append(f"  training examples: {stats['num_train']}" + (f", validation examples: {stats['num_validation']}" if stats.get("num_validation") else ""))
        if stats.get("train_label_counts"):
            lines.append("  labels: " + ", ".join(f"{label} {count}" for label, count in stats["train_label_counts"].items()))
        lengths = stats.get("token_length_percentiles")
        if lengths:
            lines.append(
                "  tokens per example: " + ", ".join(f"p{p} {lengths[f'p{p}']}" for p in _PERCENTILES) + f", max {lengths['max']}"
                + f" (max_length {stats['max_length']}: {100 * stats['truncated_fraction']:.1f}% truncated)"
            )
        baseline = stats.get("baseline")
        if baseline and "error" not in baseline:
            scores = ", ".join(f"{name} {baseline[key]:.4f}" for key, name in (
                ("accuracy", "accuracy"), ("macro_f1", "macro-F1"), ("micro_f1", "micro-F1"), ("mae", "MAE"), ("pearson", "Pearson"),
            ) if baseline.get(key) is not None)
            lines.append(f"  baseline ({baseline['description']}): {scores} on the validation data, in {baseline['seconds']:.1f} s."
                         " A fine-tuned model should beat it.")
        for finding in self.errors:
            lines.append(f"error [{finding.code}]: {finding.message}")
        for finding in self.warnings:
            lines.append(f"warning [{finding.code}]: {finding.message}")
        lines.append("OK: no errors." if self.ok else f"{len(self.errors)} error(s): fix them before training.")
        return "\n".join(lines)


def diagnose(
    train_examples: Examples,
    validation_examples: Examples | None = None,
    *,
    tokenizer: Tokenizer | None = None,
    hf_config: dict | None = None,
    max_length: int | None = None,
    num_labels: int | None = None,
    report: DataReport | None = None,
    target_name: str = "target",
) -> DataReport:
    """Check examples already read (``check`` reads files first). See the module docstring for the checks.

    Example:
        >>> report = diagnose(train_examples, validation_examples, tokenizer=tokenizer, hf_config=config, max_length=128)
        >>> [finding.code for finding in report.warnings]
        ['class_imbalance']
    """
    report = report or DataReport()
    task = train_examples.task
    label_map = LabelMap.for_examples(train_examples.labels, task, target_name=target_name)
    counts = _label_counts(train_examples, label_map)
    report.stats.update(num_train=len(train_examples), task=task, train_label_counts=counts, labels=list(label_map.labels))
    if validation_examples is not None:
        report.stats["num_validation"] = len(validation_examples)
    if task == REGRESSION:
        _describe_targets(report, train_examples)
    else:
        _check_labels(report, train_examples, validation_examples, label_map, counts, num_labels)
    _check_duplicates(report, train_examples, validation_examples)
    _check_long_texts(report, train_examples)
    if tokenizer is not None and hf_config is not None:
        _check_tokenizer(report, tokenizer, hf_config)
        positions = get_family(hf_config.get("model_type")).max_length(hf_config)
        _check_lengths(report, train_examples, tokenizer, max_length or min(128, positions), positions)
    rarest = min(counts.values()) if counts else len(train_examples)
    if len(train_examples) < SMALL_TRAIN_SET or (task != REGRESSION and rarest < SMALL_CLASS):
        report.add(
            "warning", "small_data",
            f"Small data set: {len(train_examples)} training examples" + (f", the rarest label has {rarest}" if task != REGRESSION else "") + ". "
            "Fine-tuning needs roughly 20+ examples per label to beat chance reliably; results will vary with the seed. "
            "Add examples, or train more epochs and compare seeds.",
        )
    return report


def _label_counts(examples: Examples, label_map: LabelMap) -> dict[str, int]:
    """Examples per label (multi-label: examples carrying it); none for regression."""
    if examples.task == REGRESSION:
        return {}
    counts = dict.fromkeys(label_map.labels, 0)
    for labels in examples.labels:
        for label in (labels if examples.task == MULTI_LABEL else (labels,)):
            counts[label] += 1
    return counts


def _describe_targets(report, examples: Examples) -> None:
    targets = np.asarray(examples.labels, dtype=np.float64)
    report.stats["targets"] = {
        "mean": float(targets.mean()), "std": float(targets.std()), "min": float(targets.min()), "max": float(targets.max()),
    }
    if targets.std() == 0:
        report.add(
            "error", "constant_targets",
            f"Every target in {examples.source} is {targets[0]:g}: there is nothing to learn. Check --label-column.",
        )


def _check_labels(report, train_examples, validation_examples, label_map, counts, num_labels) -> None:
    multi_label = train_examples.task == MULTI_LABEL
    if label_map.num_classes < 2 and not multi_label:
        report.add(
            "error", "single_class",
            f"{train_examples.source} has a single label {list(label_map.labels)}: a classifier needs at least two. "
            "Check that --label-column names the label column.",
        )
    if num_labels is not None and num_labels != label_map.num_classes:
        report.add(
            "error", "num_labels_mismatch",
            f"num_labels={num_labels} but the training data has {label_map.num_classes} labels: {list(label_map.labels)}. "
            "Drop --num-labels, or fix the label column.",
        )
    if validation_examples is not None:
        seen_labels = [label for labels in validation_examples.labels for label in labels] if multi_label else validation_examples.labels
        unseen = sorted(set(seen_labels) - set(label_map.labels))
        if unseen:
            report.add(
                "error", "unseen_validation_labels",
                f"{validation_examples.source} has labels that training never saw: {unseen}. Training labels: "
                f"{list(label_map.labels)}. Add examples of them to the training data or drop those rows.",
            )
    if multi_label:
        rare = {label: count for label, count in counts.items() if count < SMALL_CLASS}
        if rare:
            report.add(
                "warning", "rare_labels",
                f"{len(rare)} label(s) have fewer than {SMALL_CLASS} training examples: {rare}. Their F1 will be noisy and "
                "their thresholds hard to tune; add examples or merge them.",
            )
        return
    if label_map.num_classes >= 2:
        largest, smallest = max(counts.values()), min(counts.values())
        if largest >= IMBALANCE_RATIO * smallest:
            total = sum(counts.values())
            weights = {label: round(total / (label_map.num_classes * counts[label]), 2) for label in label_map.labels}
            report.stats["suggested_class_weight"] = weights
            report.add(
                "warning", "class_imbalance",
                f"Labels are imbalanced: {counts} (largest/smallest = {largest / smallest:.1f}). Accuracy will flatter the "
                "model; watch macro-F1. To weight rare labels up, pass --class-weight balanced (in Python: "
                f"class_weight='balanced', or by name: class_weight={weights}).",
            )


def _pairs(examples: Examples) -> list:
    return examples.texts if examples.text_pairs is None else list(zip(examples.texts, examples.text_pairs))


def _check_duplicates(report, train_examples, validation_examples) -> None:
    keys = _pairs(train_examples)
    seen, duplicates, conflicting = {}, 0, 0
    for key, label in zip(keys, train_examples.labels):
        if key in seen:
            duplicates += 1
            conflicting += seen[key] != label
        else:
            seen[key] = label
    report.stats["train_duplicates"] = duplicates
    if duplicates:
        report.add(
            "warning", "duplicates",
            f"{duplicates} training example(s) repeat an earlier text exactly ({conflicting} of them with a different label). "
            "Duplicates weigh those texts more; conflicting labels cap accuracy. Deduplicate the file.",
        )
    if validation_examples is not None:
        leaked = sum(key in seen for key in _pairs(validation_examples))
        report.stats["train_validation_overlap"] = leaked
        if leaked:
            report.add(
                "warning", "leakage",
                f"{leaked} of {len(validation_examples)} validation example(s) also appear in the training data, so "
                "validation scores are inflated. Remove them from one of the two files.",
            )


def _check_tokenizer(report, tokenizer: Tokenizer, hf_config: dict) -> None:
    embedding_rows = hf_config.get("vocab_size")
    if embedding_rows is not None and tokenizer.vocabulary_size > embedding_rows:
        report.add(
            "error", "vocabulary_too_large",
            f"The tokenizer has {tokenizer.vocabulary_size} tokens but the model's embedding matrix has {embedding_rows} rows "
            "(vocab_size in config.json): token ids past the matrix would crash or give garbage. The tokenizer files "
            "belong to another model; copy the checkpoint's own tokenizer.",
        )


def _check_lengths(report, examples: Examples, tokenizer: Tokenizer, max_length: int, positions: int) -> None:
    # Measured past the model's positions (to a bound), so "how much of a text is seen" is not flattered by the cap.
    measure_to = max(positions, 8 * max_length, 2048)
    encoded = tokenizer.encode(examples.texts, examples.text_pairs, max_length=measure_to)
    lengths = encoded.lengths
    percentiles = {f"p{p}": int(math.ceil(np.percentile(lengths, p))) for p in _PERCENTILES}
    truncated = float(np.mean(lengths > max_length))
    report.stats.update(
        max_length=max_length,
        token_length_percentiles={**percentiles, "max": int(lengths.max())},
        truncated_fraction=truncated,
        token_length_counts=np.bincount(lengths).tolist(),  # examples per length, for the report's histogram
    )
    suggested = min(positions, max(16, int(math.ceil(percentiles["p99"] / 8) * 8)))
    report.stats["suggested_max_length"] = suggested
    if truncated <= TRUNCATION_WARNING_FRACTION or examples.text_pairs is not None:
        if truncated > TRUNCATION_WARNING_FRACTION:
            report.add("warning", "truncation", _truncation_message(truncated, percentiles, lengths, max_length, suggested, positions, {}))
        return
    options = _truncation_options(lengths - SPECIAL_TOKENS, max_length - SPECIAL_TOKENS, max_length, suggested)
    report.stats["truncation_options"] = options
    report.add("warning", "truncation", _truncation_message(truncated, percentiles, lengths, max_length, suggested, positions, options))


def _check_long_texts(report, examples: Examples) -> None:
    characters = np.fromiter((len(text) for text in examples.texts), dtype=np.int64, count=len(examples))
    long_texts = characters > LONG_TEXT_CHARS
    if long_texts.any():
        report.stats["long_texts"] = int(long_texts.sum())
        report.add(
            "warning", "long_texts",
            f"{long_texts.sum()} text(s) are longer than {LONG_TEXT_CHARS:,} characters (longest {characters.max():,}): "
            "they read as genuine texts (no rows swallowed by a quote), so they are kept; the model reads a bounded "
            "number of tokens of each (--max-length, --truncation), and texts are cut to a bounded number of characters "
            "before tokenizing, so they cost no more than shorter ones.",
        )


# Texts longer than this many characters are worth a word in the report (e-mails with attachments, reports).
LONG_TEXT_CHARS = 20_000
# [CLS] and [SEP] (or <s> and </s>): what a single text adds besides its own tokens, for the estimates below.
SPECIAL_TOKENS = 2
MAX_CHUNKS = 8


def _truncation_options(content: np.ndarray, budget: int, max_length: int, suggested: int) -> dict:
    """Share of each text's tokens the model sees, and the training time relative to today, per strategy."""
    content = np.maximum(content, 1)
    seen_one_window = float(np.mean(np.minimum(1.0, budget / content)))
    overlap = budget // 4
    windows = np.minimum(MAX_CHUNKS, 1 + np.ceil(np.maximum(0, content - budget) / max(1, budget - overlap)))
    covered = budget + (windows - 1) * (budget - overlap)
    # Attention grows with the square of the length, the rest linearly: time per example ~ tokens x (1 + tokens / 1024).
    today = np.minimum(content, budget) + SPECIAL_TOKENS
    longer = np.minimum(content, suggested - SPECIAL_TOKENS) + SPECIAL_TOKENS
    cost = lambda tokens: float(np.sum(tokens * (1 + tokens / 1024)))  # noqa: E731
    return {
        "head": {"seen": seen_one_window, "time": 1.0},
        "head+tail": {"seen": seen_one_window, "time": 1.0},
        "chunks": {"seen": float(np.mean(np.minimum(1.0, covered / content))), "time": float(windows.mean())},
        f"max_length {suggested}": {"seen": float(np.mean(np.minimum(1.0, (suggested - SPECIAL_TOKENS) / content))),
                                    "time": cost(longer) / cost(today)},
    }


def _truncation_message(truncated, percentiles, lengths, max_length, suggested, positions, options) -> str:
    message = (
        f"{100 * truncated:.1f}% of training examples are longer than max_length={max_length} tokens and will be cut "
        f"(token lengths: {', '.join(f'{k} {v}' for k, v in percentiles.items())}, max {int(lengths.max())}). "
        + (f"Pass --max-length {suggested} to keep 99% whole" if np.mean(lengths <= suggested) >= 0.99 else
           f"Pass --max-length {suggested} (the model's limit) to keep {np.mean(lengths <= suggested):.0%} whole")
    )
    if not options:
        return message + ", or accept the cut if the start of each text decides its label."
    chunks, longer = options["chunks"], options[f"max_length {suggested}"]
    return message + (
        f" (the model then sees {longer['seen']:.0%} of an average text, at about {longer['time']:.1f}x today's training "
        f"time). At max_length={max_length} it sees {options['head']['seen']:.0%}: --truncation head+tail (the default "
        "'auto' picks it here) reads both ends of each long text at the same cost, --truncation chunks reads up to "
        f"{MAX_CHUNKS} windows of it ({chunks['seen']:.0%} seen, about {chunks['time']:.1f}x the time) and pools them."
    )


def check(
    train_source,
    validation_source=None,
    *,
    model_dir=None,
    data_config: DataConfig = DataConfig(),
    max_length: int | None = None,
    validation_split: float = 0.1,
    seed: int = 0,
    num_labels: int | None = None,
    baseline: bool = True,
) -> DataReport:
    """Check training (and validation) data, and its fit with a model, without training.

    Use it before a long run, or in CI over a data set; ``textfit train`` runs the same checks
    and stops on errors. It never raises on bad data: problems are findings in the report.

    Returns:
        ``DataReport``: ``report.ok``, ``report.errors``, ``report.warnings``, ``report.format()``, ``report.to_json()``.

    Example:
        >>> report = textfit.check("train.csv", model_dir=textfit.default_model_dir())
        >>> print(report.format())
        Data check ...
    """
    report = DataReport()
    try:
        train_examples = read_examples(train_source, data_config)
    except (ValueError, FileNotFoundError) as error:
        report.add("error", "unreadable_train_data", str(error))
        return report
    validation_examples = None
    if validation_source is not None:
        try:  # the training data decide the task; the validation file is read as the same task
            validation_examples = read_examples(validation_source, replace(data_config, task=train_examples.task))
        except (ValueError, FileNotFoundError) as error:
            report.add("error", "unreadable_validation_data", str(error))
    elif validation_split:
        train_examples, validation_examples = split_examples(train_examples, validation_split, seed=seed)
    tokenizer = hf_config = None
    if model_dir is not None:
        try:
            path = hf_folder.check_checkpoint_dir(model_dir)
            tokenizer, hf_config = Tokenizer.from_dir(path), hf_folder.read_config(path)
        except (ValueError, FileNotFoundError) as error:
            report.add("error", "unusable_model", str(error))
    report = diagnose(
        train_examples, validation_examples, tokenizer=tokenizer, hf_config=hf_config,
        max_length=max_length, num_labels=num_labels, report=report, target_name=data_config.label_column,
    )
    if baseline and report.ok and validation_examples is not None:
        from textfit.evaluation.baseline import fit_baseline

        try:
            result = fit_baseline(train_examples, validation_examples, max_chars=10_000, seed=seed)
        except (ValueError, MemoryError) as error:
            report.stats["baseline"] = {"error": str(error)}
        else:
            summary = {k: v for k, v in result.metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            report.stats["baseline"] = {**summary, "description": result.description, "seconds": round(result.seconds, 2)}
    return report


def write_report(report: DataReport, path) -> None:
    """Write the report as JSON, atomically."""
    atomic.write_json(Path(path), report.to_dict())
