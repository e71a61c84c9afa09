"""TrainConfig and ``train()``: a labelled file and a checkpoint in, a fine-tuned model folder out."""

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from textfit import atomic
from textfit.hf import folder as hf_folder
from textfit.data.examples import DataConfig, LabelMap, read_examples, split_examples
from textfit.evaluation.doctor import DataReport, diagnose
from textfit.evaluation.evaluate import evaluate
from textfit.models.classifier import ModelConfig, TextClassifier
from textfit.evaluation.report import report_files
from textfit.training.timing import parse_duration
from textfit.data.tokenizer import Tokenizer

logger = logging.getLogger("textfit")

CHECKPOINTS_DIR = "checkpoints"


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How to fine-tune.

    Args:
        epochs: passes over the training data.
        batch_size: examples per optimizer step.
        learning_rate: peak learning rate of AdamW, reached after warmup.
        weight_decay: AdamW weight decay (none on biases and LayerNorm weights).
        warmup_fraction: share of the steps spent warming the learning rate up from 0.
        validation_split: share of the training data held out (stratified) when no validation file is given.
        seed: seed of the head's initial weights, dropout, the split and the data order.
        checkpoint_every: steps between checkpoints; one is also saved at the end of every epoch.
        keep_checkpoints: how many of the newest checkpoints are kept.
        time_budget: e.g. "10m": if the timed first steps say the run would overrun, it stops at the
            last step that fits, with the learning-rate schedule shortened to end there.

    Example:
        >>> TrainConfig(epochs=2, learning_rate=1e-4)
    """

    epochs: int = field(default=3, metadata={"help": "Passes over the training data."})
    batch_size: int = field(default=32, metadata={"help": "Examples per optimizer step."})
    learning_rate: float = field(default=5e-5, metadata={"help": "Peak learning rate (AdamW), reached after warmup."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    warmup_fraction: float = field(default=0.1, metadata={"help": "Share of steps warming the learning rate up from 0."})
    validation_split: float = field(
        default=0.1, metadata={"help": "Share of training data held out for validation when no validation file is given (0: none)."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of initial head weights, dropout, split and data order."})
    checkpoint_every: int | None = field(
        default=500, metadata={"help": "Steps between checkpoints (also saved at every epoch end)."}
    )
    keep_checkpoints: int = field(default=2, metadata={"help": "How many of the newest checkpoints to keep."})
    time_budget: str | None = field(
        default=None, metadata={"help": "Time the training may take, e.g. 10m or 1h30m; it stops early to fit (default: none)."}
    )

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1. Received: {name}={value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0. Received: learning_rate={self.learning_rate}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0. Received: weight_decay={self.weight_decay}")
        if not 0.0 <= self.warmup_fraction <= 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1]. Received: warmup_fraction={self.warmup_fraction}")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1. Received: checkpoint_every={self.checkpoint_every}")
        if self.keep_checkpoints < 1:
            raise ValueError(f"keep_checkpoints must be >= 1. Received: keep_checkpoints={self.keep_checkpoints}")
        if self.time_budget is not None:
            parse_duration(self.time_budget)
        if not 0.0 <= self.validation_split < 1.0:
            raise ValueError(f"validation_split must be in [0, 1). Received: validation_split={self.validation_split}")


@dataclass(frozen=True)
class TrainResult:
    """What ``train`` produced: the model, its folder, validation metrics and timings."""

    model: TextClassifier
    output_dir: Path
    metrics: dict | None
    history: dict
    train_seconds: float
    train_examples_per_second: float


def prepare_examples(train_source, validation_source, data_config: DataConfig, train_config: TrainConfig):
    """Read training (and validation) examples; split off validation when no file is given."""
    train_examples = read_examples(train_source, data_config)
    if validation_source is not None:
        validation_examples = read_examples(validation_source, data_config)
    elif train_config.validation_split > 0:
        train_examples, validation_examples = split_examples(train_examples, train_config.validation_split, seed=train_config.seed)
    else:
        validation_examples = None
    return train_examples, validation_examples


def check_data(model_dir, train_examples, validation_examples, model_config: ModelConfig) -> DataReport:
    """Run the data doctor; raise one ValueError listing every error, log each warning once."""
    path = hf_folder.check_checkpoint_dir(model_dir)
    report = diagnose(
        train_examples, validation_examples, tokenizer=Tokenizer.from_dir(path), hf_config=hf_folder.read_config(path),
        max_length=model_config.max_length, num_labels=model_config.num_labels,
    )
    if report.errors:
        raise ValueError("The data check found errors:\n- " + "\n- ".join(f.message for f in report.errors))
    for finding in report.warnings:
        logger.warning(finding.message)
    return report


def train(
    model_dir,
    train_source,
    output_dir,
    *,
    validation_source=None,
    data_config: DataConfig = DataConfig(),
    model_config: ModelConfig = ModelConfig(),
    train_config: TrainConfig = TrainConfig(),
    callbacks=None,
    verbose="auto",
    checkpoint_dir=None,
    resume="auto",
) -> TrainResult:
    """Fine-tune ``model_dir`` on a labelled file (or DataFrame) and save the classifier to ``output_dir``.

    Use it for the whole workflow in one call; it is what ``textfit train`` runs. The folder
    also gets a training report (report.html, PNG plots, history.json/csv). Validation
    comes from ``validation_source`` or a stratified ``train_config.validation_split``. The data
    doctor runs first: its errors stop the run before the model loads, its warnings are logged.

    Checkpoints go to ``checkpoint_dir`` (default: ``output_dir/checkpoints``) every
    ``train_config.checkpoint_every`` steps and at each epoch end. With ``resume="auto"`` a rerun
    of the same command continues exactly from the newest one; ``True`` requires one; ``False``
    starts over.

    Returns:
        ``TrainResult`` with the model, the saved folder and the validation metrics.

    Example:
        >>> result = train("models/minilm", "train.csv", "out/model", train_config=TrainConfig(epochs=2))
        >>> result.metrics["accuracy"]
        0.91
    """
    output_dir = atomic.check_output_dir(output_dir)
    train_examples, validation_examples = prepare_examples(train_source, validation_source, data_config, train_config)
    data_report = check_data(model_dir, train_examples, validation_examples, model_config)
    label_map = LabelMap(tuple(data_report.stats["labels"]))
    logger.info(
        "%d training examples, %s validation examples, labels %s",
        len(train_examples), len(validation_examples) if validation_examples else "no", list(label_map.labels),
    )
    model = TextClassifier.from_pretrained(
        model_dir, labels=label_map.labels, max_length=model_config.max_length, dropout=model_config.dropout, seed=train_config.seed
    )
    model.compile(
        learning_rate=train_config.learning_rate, weight_decay=train_config.weight_decay, warmup_fraction=train_config.warmup_fraction
    )
    validation_data = None
    if validation_examples is not None:
        validation_data = (validation_examples.inputs, validation_examples.labels)
    inside_output = checkpoint_dir is None
    checkpoint_dir = output_dir / CHECKPOINTS_DIR if inside_output else Path(checkpoint_dir)
    started = time.perf_counter()
    history = model.fit(
        train_examples.inputs,
        train_examples.labels,
        validation_data=validation_data,
        epochs=train_config.epochs,
        batch_size=train_config.batch_size,
        callbacks=callbacks,
        verbose=verbose,
        seed=train_config.seed,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=train_config.checkpoint_every,
        keep_checkpoints=train_config.keep_checkpoints,
        resume=resume,
        time_budget=train_config.time_budget,
    )
    train_seconds = time.perf_counter() - started
    metrics = None
    if validation_examples is not None:
        metrics = evaluate(model, validation_examples.inputs, validation_examples.labels)
    resumed_from_step = model.training_history["resumed_from_step"]
    if resumed_from_step:
        # Only the steps after the resume ran in this process.
        steps_run = len(model.training_history["steps"]) - resumed_from_step
        examples_per_second = min(len(train_examples) * train_config.epochs, steps_run * train_config.batch_size) / train_seconds
    else:
        examples_per_second = len(train_examples) * train_config.epochs / train_seconds
    configs = {
        "data_config": dataclasses.asdict(data_config),
        "train_config": dataclasses.asdict(train_config),
        "history": {name: [float(v) for v in values] for name, values in history.history.items()},
        "timing": {"train_seconds": round(train_seconds, 2), "train_examples_per_second": round(examples_per_second, 2)},
        "num_train_examples": len(train_examples),
        "num_validation_examples": len(validation_examples) if validation_examples else 0,
        "data_check": data_report.to_dict(),
    }
    report = report_files(model.training_history, metrics, model.describe(metrics=metrics, configs=configs))
    saved_dir = model.save_pretrained(
        output_dir, metrics=metrics, configs=configs, extra_files=report, carry_over=(CHECKPOINTS_DIR,) if inside_output else ()
    )
    return TrainResult(model, saved_dir, metrics, configs["history"], train_seconds, examples_per_second)
