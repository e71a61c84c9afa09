"""TrainConfig and ``train()``: a labelled file and a checkpoint in, a fine-tuned model folder out."""

import collections
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from textfit import atomic
from textfit.hf import folder as hf_folder
from textfit.data.examples import DataConfig, read_examples, split_examples
from textfit.data.labels import MULTI_LABEL, REGRESSION, SINGLE_LABEL, LabelMap
from textfit.evaluation.doctor import DataReport, diagnose
from textfit.evaluation.evaluate import evaluate
from textfit.models.classifier import ModelConfig, TextClassifier
from textfit.training import distributed
from textfit.training.defaults import choose_settings, validation_sample_size
from textfit.training.few_shot import fit_few_shot
from textfit.training.history import TrainingHistory
from textfit.training.resume import remove_checkpoints
from textfit.evaluation.report import report_files
from textfit.training.timing import parse_duration
from textfit.data.tokenizer import Tokenizer

logger = logging.getLogger("textfit")

CHECKPOINTS_DIR = "checkpoints"


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How to fine-tune.

    Settings left at None are chosen from the data size (``training/defaults.py``; the log says
    what and why): epochs, batch size, learning rate, warm-up, validation split and few-shot.

    Args:
        epochs: passes over the training data (few-shot: over the contrastive pairs).
        batch_size: examples per optimizer step (few-shot: pairs).
        learning_rate: peak learning rate of AdamW, reached after warmup.
        weight_decay: AdamW weight decay (none on biases and LayerNorm weights).
        warmup_fraction: share of the steps spent warming the learning rate up from 0.
        validation_split: share of the training data held out (stratified) when no validation file is given.
        few_shot: "on" trains SetFit's way (contrastive pairs, then a logistic-regression head),
            "off" fine-tunes, "auto" chooses by the examples per label.
        seeds: train this many times (seeds seed, seed+1, ...), report the spread of the validation
            metrics, and keep the model of the best validation score (or of the first seed without validation).
        seed: seed of the head's initial weights, dropout, the split and the data order.
        checkpoint_every: steps between checkpoints; one is also saved at the end of every epoch.
        keep_checkpoints: how many of the newest checkpoints are kept.
        time_budget: e.g. "10m": if the timed first steps say the run would overrun, it stops at the
            last step that fits, with the learning-rate schedule shortened to end there.
        loss: "auto" (the task's), "mse" or "huber" (regression).
        class_weight: "balanced" or "label=weight,label=weight" (single-label).
        early_stopping_patience: stop after this many validations without improvement of ``monitor``.
        monitor: the validation metric of the best model ("auto": macro-F1, or loss for regression).
        eval_every: also validate every this many steps.
        keep_best: save the best validation's weights rather than the last step's (None: when the
            validation set has 50 examples or more).
        tune_thresholds: multi-label: tune per-label thresholds on the validation data (the
            validation metrics are then measured at the tuned thresholds, so they are optimistic).
        keep_training_checkpoints: keep the checkpoints once the model is saved.
        baseline: "on" fits a TF-IDF + logistic regression (or ridge) on the same split, in seconds,
            and reports it beside the fine-tuned model; "off" skips it.

    Example:
        >>> TrainConfig(epochs=2, learning_rate=1e-4)
    """

    epochs: int | None = field(default=None, metadata={"help": "Passes over the training data.", "auto": True})
    batch_size: int | None = field(default=None, metadata={"help": "Examples per optimizer step.", "auto": True})
    learning_rate: float | None = field(
        default=None, metadata={"help": "Peak learning rate (AdamW), reached after warmup.", "auto": True}
    )
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    warmup_fraction: float | None = field(
        default=None, metadata={"help": "Share of steps warming the learning rate up from 0.", "auto": True}
    )
    validation_split: float | None = field(
        default=None, metadata={"help": "Share of training data held out for validation when no validation file is given (0: none).",
                                "auto": True}
    )
    few_shot: str = field(
        default="auto", metadata={"help": "on: contrastive pairs then a logistic-regression head (SetFit's recipe, for a few "
                                          "examples per label); off: fine-tune; auto: by examples per label.",
                                  "choices": ("auto", "on", "off")}
    )
    seeds: int = field(
        default=1, metadata={"help": "Train with this many seeds, report the spread of the metrics, keep the best model."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of initial head weights, dropout, split and data order."})
    checkpoint_every: int | None = field(
        default=500, metadata={"help": "Steps between checkpoints (also saved at every epoch end)."}
    )
    keep_checkpoints: int = field(default=2, metadata={"help": "How many of the newest checkpoints to keep."})
    time_budget: str | None = field(
        default=None, metadata={"help": "Time the training may take, e.g. 10m or 1h30m; it stops early to fit (default: none)."}
    )
    loss: str = field(
        default="auto", metadata={"help": "Loss: auto (the task's: cross-entropy, or MSE for regression) or huber (regression).",
                                  "choices": ("auto", "mse", "huber")}
    )
    class_weight: str | None = field(
        default=None, metadata={"help": "balanced (rare labels weigh more), or label=weight pairs: spam=3,ham=1 (single-label)."}
    )
    early_stopping_patience: int | None = field(
        default=None, metadata={"help": "Stop after this many validations without improvement of --monitor (default: never)."}
    )
    monitor: str = field(
        default="auto", metadata={"help": "Validation metric for the best model and early stopping: macro_f1, accuracy, loss, "
                                          "mae... (auto: macro_f1 for classification, loss for regression)."}
    )
    eval_every: int | None = field(
        default=None, metadata={"help": "Also validate every N steps, for long epochs (default: at each epoch end)."}
    )
    keep_best: bool | None = field(
        default=None, metadata={"help": "Save the weights of the best validation (by --monitor), not the last step's.",
                                "auto": True}
    )
    tune_thresholds: bool = field(
        default=False, metadata={"help": "Multi-label: tune each label's threshold for F1 on the validation data."}
    )
    keep_training_checkpoints: bool = field(
        default=False, metadata={"help": "Keep the training checkpoints once the model is saved (default: delete them)."}
    )
    baseline: str = field(
        default="on", metadata={"help": "Fit a TF-IDF + logistic-regression baseline on the same split and report it "
                                        "beside the fine-tuned model (on/off).", "choices": ("on", "off")}
    )

    def __post_init__(self):
        for name in ("epochs", "batch_size", "seeds"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be an integer >= 1. Received: {name}={value!r}")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0. Received: learning_rate={self.learning_rate}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0. Received: weight_decay={self.weight_decay}")
        if self.warmup_fraction is not None and not 0.0 <= self.warmup_fraction <= 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1]. Received: warmup_fraction={self.warmup_fraction}")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1. Received: checkpoint_every={self.checkpoint_every}")
        if self.keep_checkpoints < 1:
            raise ValueError(f"keep_checkpoints must be >= 1. Received: keep_checkpoints={self.keep_checkpoints}")
        if self.time_budget is not None:
            parse_duration(self.time_budget)
        if self.validation_split is not None and not 0.0 <= self.validation_split < 1.0:
            raise ValueError(f"validation_split must be in [0, 1). Received: validation_split={self.validation_split}")
        for name in ("early_stopping_patience", "eval_every"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be an integer >= 1. Received: {name}={value!r}")
        if self.loss not in ("auto", "mse", "huber"):
            raise ValueError(f"loss must be auto, mse or huber. Received: loss={self.loss!r}")
        if self.class_weight is not None:
            parse_class_weight(self.class_weight)
        if self.few_shot not in ("auto", "on", "off"):
            raise ValueError(f"few_shot must be auto, on or off. Received: few_shot={self.few_shot!r}")
        if self.baseline not in ("on", "off"):
            raise ValueError(f"baseline must be on or off. Received: baseline={self.baseline!r}")


@dataclass(frozen=True)
class TrainResult:
    """What ``train`` produced: the model, its folder, validation metrics and timings."""

    model: TextClassifier
    output_dir: Path
    metrics: dict | None
    history: dict
    train_seconds: float
    train_examples_per_second: float
    best: dict | None = None  # where the best validation was: monitor, value, step, epoch, restored, stopped_early


def parse_class_weight(value) -> str | dict[str, float]:
    """"balanced", or "spam=3,ham=1" -> {"spam": 3.0, "ham": 1.0}."""
    if value == "balanced":
        return value
    weights = {}
    for part in str(value).split(","):
        label, separator, weight = part.rpartition("=")
        try:
            number = float(weight)
        except ValueError:
            number = None
        if not separator or not label.strip() or number is None or number < 0:
            raise ValueError(
                f"class_weight must be 'balanced' or label=weight pairs such as spam=3,ham=1. Received: class_weight={value!r}"
            )
        weights[label.strip()] = number
    return weights


def prepare_examples(train_source, validation_source, data_config: DataConfig, train_config: TrainConfig):
    """Read training (and validation) examples, choose the unset settings, split off validation when no file is given.

    Returns (train examples, validation examples or None, ``Settings``).
    """
    train_examples = read_examples(train_source, data_config)
    if data_config.task == "auto" and train_examples.task == MULTI_LABEL:
        logger.info(
            "Multi-label data: label cells hold several labels (JSON lists, or %r-separated); training one sigmoid per "
            "label. Pass --task single-label if %r is part of your labels.", data_config.label_separator, data_config.label_separator,
        )
    validation_examples = None
    if validation_source is not None:
        # The training data decide the task; the validation file is read as the same one.
        validation_examples = read_examples(validation_source, dataclasses.replace(data_config, task=train_examples.task))
    settings = choose_settings(
        len(train_examples), task=train_examples.task, examples_per_label=_smallest_label_count(train_examples),
        epochs=train_config.epochs, batch_size=train_config.batch_size, learning_rate=train_config.learning_rate,
        warmup_fraction=train_config.warmup_fraction, validation_split=train_config.validation_split,
        few_shot=train_config.few_shot, keep_best=train_config.keep_best,
        early_stopping=train_config.early_stopping_patience is not None, has_validation_file=validation_examples is not None,
        num_validation_file_examples=len(validation_examples) if validation_examples is not None else 0,
    )
    if settings.few_shot and train_examples.task != SINGLE_LABEL:
        raise ValueError(f"--few-shot on trains single-label classifiers; this data is {train_examples.task}. Use --few-shot off.")
    if validation_examples is None and settings.validation_split > 0:
        train_examples, validation_examples = split_examples(train_examples, settings.validation_split, seed=train_config.seed)
    return train_examples, validation_examples, settings


def _smallest_label_count(examples) -> int | None:
    if examples.task != SINGLE_LABEL or not len(examples):
        return None
    return min(collections.Counter(examples.labels).values())


def check_data(model_dir, train_examples, validation_examples, model_config: ModelConfig, target_name: str = "target") -> DataReport:
    """Run the data doctor; raise one ValueError listing every error, log each warning once."""
    path = hf_folder.check_checkpoint_dir(model_dir)
    report = diagnose(
        train_examples, validation_examples, tokenizer=Tokenizer.from_dir(path), hf_config=hf_folder.read_config(path),
        max_length=model_config.max_length, num_labels=model_config.num_labels, target_name=target_name,
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
    parallel = distributed.init_from_env()
    train_examples, validation_examples, settings = prepare_examples(train_source, validation_source, data_config, train_config)
    data_report = check_data(model_dir, train_examples, validation_examples, model_config, target_name=data_config.label_column)
    task = train_examples.task
    label_map = LabelMap(tuple(data_report.stats["labels"]))
    logger.info(
        "%d training examples, %s validation examples, %s %s",
        len(train_examples), len(validation_examples) if validation_examples else "no",
        "target" if task == REGRESSION else "labels", list(label_map.labels),
    )
    if settings.reasons:
        logger.info("Chosen from the data size (set any of them to override): %s.", settings.describe())
    if parallel and settings.few_shot:
        raise ValueError("Few-shot training runs in one process; pass --few-shot off to train data-parallel, or run without torchrun.")
    baseline = None
    if train_config.baseline == "on" and validation_examples is not None and distributed.is_main():
        baseline = run_baseline(train_examples, validation_examples, seed=train_config.seed)
    inside_output = checkpoint_dir is None
    checkpoint_dir = output_dir / CHECKPOINTS_DIR if inside_output else Path(checkpoint_dir)
    run_options = dict(
        train_examples=train_examples, validation_examples=validation_examples, label_map=label_map, settings=settings,
        model_config=model_config, train_config=train_config, callbacks=callbacks, verbose=verbose, resume=resume,
    )
    seeds = [train_config.seed + offset for offset in range(train_config.seeds)]
    runs, best = [], None
    for seed in seeds:
        if len(seeds) > 1:
            logger.info("Seed %d (%d of %d).", seed, len(runs) + 1, len(seeds))
        run = _train_one(model_dir, seed=seed, checkpoint_dir=checkpoint_dir / f"seed-{seed}" if len(seeds) > 1 else checkpoint_dir,
                         **run_options)
        runs.append({"seed": seed, "metrics": run["metrics"]})
        if best is None or _better(run["metrics"], best["metrics"]):
            best = run  # only the best run's model stays referenced
    model, metrics = best["model"], best["metrics"]
    if metrics is not None and baseline is not None:
        metrics["baseline"] = {**baseline.metrics, "description": baseline.description, "seconds": round(baseline.seconds, 2)}
        comparison = compare_with_baseline(metrics, baseline.metrics, data_report, model.model_config)
        metrics["baseline"]["verdict"] = comparison["verdict"]
        (logger.warning if comparison["verdict"] == "baseline_wins" else logger.info)(comparison["message"])
    if len(seeds) > 1:
        spread = seed_spread(runs, best["seed"])
        if metrics is not None:
            metrics["seeds"] = spread
        logger.info("Over %d seeds: %s; keeping seed %d's model (%s).", len(seeds), ", ".join(
            f"{name} {spread[name]['mean']:.4f} ± {spread[name]['std']:.4f}" for name in spread["metrics"]) or "no validation metrics",
            best["seed"], spread["chosen_because"])
    training_history = best["training_history"]
    train_seconds = best["train_seconds"]
    configs = {
        "data_config": dataclasses.asdict(data_config),
        "train_config": dataclasses.asdict(train_config),
        "settings": {**{k: v for k, v in dataclasses.asdict(settings).items() if k != "reasons"}, "chosen": settings.reasons},
        "history": best["history"],
        "timing": best["timing"],
        "num_train_examples": len(train_examples),
        "num_validation_examples": len(validation_examples) if validation_examples else 0,
        "data_check": data_report.to_dict(),
    }
    if best["few_shot"] is not None:
        configs["few_shot"] = best["few_shot"]
    if training_history.get("best"):
        configs["best"] = training_history["best"]
    if parallel:
        configs["distributed"] = {"world_size": distributed.world_size(), "backend": "torch.distributed"}
    saved_dir = output_dir
    if distributed.is_main():  # one writer; the other ranks wait for the folder at the barrier
        report = report_files(training_history, metrics, model.describe(metrics=metrics, configs=configs))
        saved_dir = model.save_pretrained(
            output_dir, metrics=metrics, configs=configs, extra_files=report,
            carry_over=(CHECKPOINTS_DIR,) if inside_output and train_config.keep_training_checkpoints else (),
        )
        if not train_config.keep_training_checkpoints:
            # Saved: the checkpoints were only for resuming (a MiniLM one is ~3x the model). Outside the model
            # folder only ours go; inside, the old folder left with the previous version.
            if not inside_output:
                remove_checkpoints(checkpoint_dir)
    distributed.barrier()
    return TrainResult(model, saved_dir, metrics, configs["history"], train_seconds, best["examples_per_second"], configs.get("best"))


def _train_one(model_dir, *, train_examples, validation_examples, label_map, settings, model_config, train_config, seed,
               callbacks, verbose, checkpoint_dir, resume) -> dict:
    """Fine-tune (or few-shot train) one model with ``seed``; its validation metrics, history and timings."""
    task = train_examples.task
    model = TextClassifier.from_pretrained(
        model_dir, labels=label_map.labels, max_length=model_config.max_length, dropout=model_config.dropout,
        seed=seed, task=task, truncation=model_config.truncation, chunk_overlap=model_config.chunk_overlap,
        max_chunks=model_config.max_chunks, chunk_pooling=model_config.chunk_pooling, precision=model_config.precision,
    )
    few_shot = None
    started = time.perf_counter()
    if settings.few_shot:
        if model.model_config.truncation in ("auto", "chunks"):
            model.set_truncation("head")
        recorder = TrainingHistory()
        model._textfit_state["training_history"] = recorder
        few_shot = fit_few_shot(
            model, train_examples.inputs, model.label_map.encode(train_examples.labels), batch_size=settings.batch_size,
            learning_rate=settings.learning_rate, epochs=settings.epochs, seed=seed, callbacks=[*(callbacks or []), recorder],
            verbose=verbose,
        )
        history = {"contrastive_loss": [row["loss"] for row in recorder.epochs if "loss" in row]}
        training_history = model.training_history
        steps_run = few_shot["pair_steps"]
        examples_trained = 2 * few_shot["pairs"]
    else:
        model.compile(
            loss="huber" if train_config.loss == "huber" else "auto",
            learning_rate=settings.learning_rate, weight_decay=train_config.weight_decay, warmup_fraction=settings.warmup_fraction,
        )
        validation_data = None
        if validation_examples is not None:
            monitored = validation_examples
            sample = validation_sample_size(len(validation_examples), len(train_examples))
            if sample is not None:
                monitored, _ = split_examples(validation_examples, 1 - sample / len(validation_examples), seed=seed)
                logger.info("Validating on a stratified sample of %d of the %d validation examples during training, so "
                            "validation stays under a quarter of the time; the final metrics use all of them.",
                            len(monitored), len(validation_examples))
            validation_data = (monitored.inputs, monitored.labels)
        fit_history = model.fit(
            train_examples.inputs,
            train_examples.labels,
            validation_data=validation_data,
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            callbacks=callbacks,
            verbose=verbose,
            seed=seed,
            checkpoint_dir=checkpoint_dir,
            checkpoint_every=train_config.checkpoint_every,
            keep_checkpoints=train_config.keep_checkpoints,
            resume=resume,
            time_budget=train_config.time_budget,
            early_stopping=train_config.early_stopping_patience,
            monitor=train_config.monitor,
            eval_every=train_config.eval_every,
            keep_best=settings.keep_best and validation_examples is not None,
            class_weight=None if train_config.class_weight is None else parse_class_weight(train_config.class_weight),
        )
        history = {name: [float(v) for v in values] for name, values in fit_history.history.items()}
        training_history = model.training_history
        steps_run = len(training_history["steps"]) - training_history["resumed_from_step"]  # in this process
        examples_trained = _examples_in(steps_run, len(train_examples), settings.batch_size)
    train_seconds = time.perf_counter() - started
    metrics = None
    if validation_examples is not None:
        if task == MULTI_LABEL and train_config.tune_thresholds:
            thresholds = model.tune_thresholds(validation_examples.inputs, validation_examples.labels)
            logger.info("Tuned thresholds on the validation data: %s", {k: round(v, 3) for k, v in thresholds.items()})
        metrics = evaluate(model, validation_examples.inputs, validation_examples.labels)
    monitor = model._textfit_state.get("validation_monitor")
    if monitor is not None and monitor.best() is not None:
        training_history["best"] = {**monitor.best(), "restored": settings.keep_best, "stopped_early": monitor.stopped_early}
        training_history["evaluations"] = [{"step": e["step"], "epoch": e["epoch"], **e["logs"]} for e in monitor.evaluations]
    timing = {
        "train_seconds": round(train_seconds, 2), "train_examples_per_second": round(examples_trained / train_seconds, 2),
        "steps_run": steps_run, "examples_trained": examples_trained,
    }
    return {"seed": seed, "model": model, "metrics": metrics, "history": history, "training_history": training_history,
            "train_seconds": train_seconds, "examples_per_second": examples_trained / train_seconds, "timing": timing,
            "few_shot": few_shot}


def _better(metrics: dict | None, best_metrics: dict | None) -> bool:
    """Whether a run's validation metrics beat the best so far (by the headline metric); without them, never."""
    if metrics is None or best_metrics is None:
        return False
    key, _ = headline_metric(metrics)
    ours, theirs = metrics.get(key), best_metrics.get(key)
    if ours is None or theirs is None:
        return False
    return ours < theirs if key == "rmse" else ours > theirs


def seed_spread(runs: list[dict], chosen_seed: int) -> dict:
    """Mean, standard deviation (ddof=1) and values over seeds of every number the validation metrics share."""
    import numpy as np

    spread = {"seeds": [run["seed"] for run in runs], "chosen_seed": chosen_seed, "metrics": []}
    spread["chosen_because"] = ("best validation " + headline_metric(runs[0]["metrics"])[1] if runs[0]["metrics"] is not None
                                else "no validation data: the first seed")
    if runs[0]["metrics"] is None:
        return spread
    for name, value in runs[0]["metrics"].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and name != "num_examples":
            values = [float(run["metrics"][name]) for run in runs if run["metrics"].get(name) is not None]
            if len(values) == len(runs):
                spread["metrics"].append(name)
                spread[name] = {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)), "values": values}
    return spread


def run_baseline(train_examples, validation_examples, *, seed: int):
    """Fit the TF-IDF baseline on the split and log it; None (and a warning) if it cannot run."""
    from textfit.evaluation.baseline import fit_baseline

    try:
        baseline = fit_baseline(train_examples, validation_examples, max_chars=BASELINE_MAX_CHARS, seed=seed)
    except (ValueError, MemoryError) as error:
        logger.warning("The TF-IDF baseline could not run (%s); training goes on without it.", error)
        return None
    key, name = headline_metric(baseline.metrics)
    logger.info("Baseline (%s, %.1f s): %s %.4f on the validation data.", baseline.description, baseline.seconds, name,
                baseline.metrics[key])
    return baseline


# The baseline reads this many characters of each text (head and tail halves): its memory grows with it.
BASELINE_MAX_CHARS = 10_000


def headline_metric(metrics: dict) -> tuple[str, str]:
    """(key, name) of the number that sums up a task's metrics: macro-F1, or Pearson for regression."""
    if metrics.get("task") == REGRESSION:
        return "pearson" if metrics.get("pearson") is not None else "rmse", "Pearson" if metrics.get("pearson") is not None else "RMSE"
    return "macro_f1", "macro-F1"


def compare_with_baseline(metrics: dict, baseline_metrics: dict, data_report, model_config) -> dict:
    """Say plainly whether the fine-tuned model beats the baseline, and what to change when it does not."""
    key, name = headline_metric(metrics)
    ours, theirs = metrics.get(key), baseline_metrics.get(key)
    if ours is None or theirs is None:
        return {"verdict": "unknown", "message": f"The baseline's {name} could not be compared."}
    better = ours < theirs if key == "rmse" else ours > theirs
    if better:
        return {"verdict": "model_wins", "message": f"The fine-tuned model beats the TF-IDF baseline: {name} {ours:.4f} vs {theirs:.4f}."}
    hints = []
    truncated = data_report.stats.get("truncated_fraction", 0.0)
    if truncated > 0.1:
        hints.append(
            f"longer inputs: {truncated:.0%} of the texts are cut at max_length={model_config.max_length} tokens "
            f"(try --max-length {data_report.stats.get('suggested_max_length', 512)}, or --truncation chunks)"
        )
    hints.append("more epochs or a higher learning rate, if the loss was still falling")
    hints.append("or use the baseline itself: it wins on this data, at a fraction of the cost")
    return {
        "verdict": "baseline_wins",
        "message": f"The fine-tuned model does not beat the TF-IDF baseline: {name} {ours:.4f} vs {theirs:.4f}. Consider "
                   + "; ".join(hints) + ".",
    }


def _examples_in(steps: int, num_examples: int, batch_size: int) -> int:
    """Examples trained in ``steps`` steps: whole epochs count every example, a partial one its full batches."""
    steps_per_epoch = -(-num_examples // batch_size)
    full_epochs, partial_steps = divmod(steps, steps_per_epoch)
    return full_epochs * num_examples + min(partial_steps * batch_size, num_examples)
