"""TrainConfig and ``train()``: a labelled file and a checkpoint in, a fine-tuned model folder out."""

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from textfit.data import DataConfig, Examples, LabelMap, read_examples, split_examples
from textfit.evaluate import evaluate
from textfit.models.classifier import ModelConfig, TextClassifier

logger = logging.getLogger("textfit")


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
    """Read training (and validation) examples and the label map, checking the labels agree."""
    train_examples = read_examples(train_source, data_config)
    if validation_source is not None:
        validation_examples = read_examples(validation_source, data_config)
    elif train_config.validation_split > 0:
        train_examples, validation_examples = split_examples(train_examples, train_config.validation_split, seed=train_config.seed)
    else:
        validation_examples = None
    label_map = LabelMap.from_values(train_examples.labels)
    if label_map.num_classes < 2:
        raise ValueError(
            f"{train_examples.source} has a single label {list(label_map.labels)}: a classifier needs at least two. "
            f"Check --label-column ({data_config.label_column!r})."
        )
    if validation_examples is not None:
        unseen = sorted(set(validation_examples.labels) - set(label_map.labels))
        if unseen:
            raise ValueError(
                f"{validation_examples.source} has labels that training never saw: {unseen}. "
                f"Training labels: {list(label_map.labels)}. Add examples of them to the training data or drop those rows."
            )
    return train_examples, validation_examples, label_map


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
) -> TrainResult:
    """Fine-tune ``model_dir`` on a labelled file (or DataFrame) and save the classifier to ``output_dir``.

    Use it for the whole workflow in one call; it is what ``textfit train`` runs. Validation
    comes from ``validation_source`` or a stratified ``train_config.validation_split``.

    Returns:
        ``TrainResult`` with the model, the saved folder and the validation metrics.

    Example:
        >>> result = train("models/minilm", "train.csv", "out/model", train_config=TrainConfig(epochs=2))
        >>> result.metrics["accuracy"]
        0.91
    """
    train_examples, validation_examples, label_map = prepare_examples(train_source, validation_source, data_config, train_config)
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
    )
    train_seconds = time.perf_counter() - started
    metrics = None
    if validation_examples is not None:
        metrics = evaluate(model, validation_examples.inputs, validation_examples.labels)
    examples_per_second = len(train_examples) * train_config.epochs / train_seconds
    configs = {
        "data_config": dataclasses.asdict(data_config),
        "train_config": dataclasses.asdict(train_config),
        "history": {name: [float(v) for v in values] for name, values in history.history.items()},
        "timing": {"train_seconds": round(train_seconds, 2), "train_examples_per_second": round(examples_per_second, 2)},
        "num_train_examples": len(train_examples),
        "num_validation_examples": len(validation_examples) if validation_examples else 0,
    }
    saved_dir = model.save_pretrained(output_dir, metrics=metrics, configs=configs)
    return TrainResult(model, saved_dir, metrics, configs["history"], train_seconds, examples_per_second)
