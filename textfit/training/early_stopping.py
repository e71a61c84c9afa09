"""Validation during training, keeping the best model, and stopping when it stops improving.

``ValidationMonitor`` evaluates the validation texts itself (one pass computing every metric of
the task: loss, accuracy, macro-F1...) at each epoch end and, with ``eval_every``, every N steps.
It puts ``val_*`` values in the epoch logs, so Keras' History, the progress bar, the report and
callbacks such as Keras' own ``EarlyStopping`` see them. It keeps a copy of the weights with the
best ``monitor`` value, restores them when training ends (the saved model is the best one), and
with ``patience`` stops after that many evaluations without improvement. Its state (best value,
best weights, evaluations without improvement) goes into training checkpoints, so a resumed run
keeps its best-so-far.
"""

import logging
import math

import keras
import numpy as np

logger = logging.getLogger("textfit")

# Metrics where lower is better; every other metric is maximised.
_LOWER_IS_BETTER = ("loss", "mae", "rmse", "hamming_loss")
# Keys of an evaluation that are not scalar metrics.
_NOT_LOGGED = ("task", "num_examples", "per_class", "per_label", "confusion_matrix", "thresholds")


def default_monitor(task: str) -> str:
    """Macro-F1 for classification (robust to imbalance), the loss for regression."""
    return "loss" if task == "regression" else "macro_f1"


def normalize_monitor(monitor: str) -> str:
    """"val_macro_f1" or "macro-f1" -> "macro_f1"."""
    name = str(monitor).strip().lower().replace("-", "_")
    return name[4:] if name.startswith("val_") else name


def lower_is_better(monitor: str) -> bool:
    return monitor in _LOWER_IS_BETTER


def validation_logs(metrics: dict) -> dict[str, float]:
    """``val_<name>`` for every scalar metric of an evaluation."""
    logs = {}
    for name, value in metrics.items():
        if name in _NOT_LOGGED or value is None or isinstance(value, (dict, list, str)):
            continue
        logs[f"val_{name}"] = float(value)
    if metrics.get("task") == "multi_label" and "hamming_loss" in metrics:
        # Training's "accuracy" counts label decisions (Keras' BinaryAccuracy): compare like with like.
        logs["val_accuracy"] = 1.0 - float(metrics["hamming_loss"])
    return logs


class ValidationMonitor(keras.callbacks.Callback):
    """Evaluate on validation data during training; keep the best weights; stop early if asked.

    Args:
        evaluate: () -> metrics dict of the current model on the validation data; None to read
            the ``val_*`` values Keras put in the epoch logs instead (validation given as a dataset).
        monitor: the metric that decides "best" ("macro_f1", "accuracy", "loss", "mae"...).
        patience: stop after this many evaluations without improvement (None: never stop early).
        eval_every: also evaluate every this many optimizer steps (None: at epoch ends only).
        restore_best: put the best weights back when training ends.
        min_delta: an improvement smaller than this does not count.

    Example:
        >>> monitor = ValidationMonitor(lambda: textfit.evaluate(model, texts, labels), monitor="macro_f1", patience=2)
        >>> model.fit(..., callbacks=[monitor])
    """

    def __init__(self, evaluate, *, monitor: str, patience: int | None = None, eval_every: int | None = None,
                 restore_best: bool = True, min_delta: float = 0.0):
        super().__init__()
        self.evaluate = evaluate
        self.monitor = normalize_monitor(monitor)
        self.patience = patience
        self.eval_every = eval_every
        self.restore_best = restore_best
        self.min_delta = min_delta
        self.best_value: float | None = None
        self.best_step: int | None = None
        self.best_epoch: int | None = None
        self.best_weights: list[np.ndarray] | None = None
        self.wait = 0
        self.evaluations: list[dict] = []
        self.stopped_early = False
        self._epoch = 0
        self._last_evaluated_step = None

    # === State for checkpoints ===
    def state(self) -> dict:
        """JSON-ready state (the best weights travel separately, as tensors)."""
        return {
            "monitor": self.monitor, "best_value": self.best_value, "best_step": self.best_step, "best_epoch": self.best_epoch,
            "wait": self.wait, "evaluations": self.evaluations,
        }

    def restore(self, state: dict, best_weights: list[np.ndarray] | None) -> None:
        """Continue from a checkpoint's ``state()`` and best weights."""
        if not state or state.get("monitor") != self.monitor:
            return
        self.best_value, self.best_step, self.best_epoch = state["best_value"], state["best_step"], state["best_epoch"]
        self.wait, self.evaluations = state["wait"], list(state.get("evaluations", []))
        self.best_weights = best_weights

    def best(self) -> dict | None:
        """Where the best model was: {"monitor", "value", "step", "epoch"}, or None before any evaluation."""
        if self.best_value is None:
            return None
        return {"monitor": self.monitor, "value": self.best_value, "step": self.best_step, "epoch": self.best_epoch}

    # === Keras hooks ===
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        if not self.eval_every or self.evaluate is None:
            return
        step = self._step()
        if step % self.eval_every == 0:
            self._evaluate(step)

    def on_epoch_end(self, epoch, logs=None):
        step = self._step()
        if self.evaluate is None:  # Keras validated: judge its numbers
            self._record(step, {name: float(value) for name, value in (logs or {}).items() if name.startswith("val_")})
            return
        metrics_logs = self._evaluate(step) if self._last_evaluated_step != step else self.evaluations[-1]["logs"]
        if logs is not None:
            logs.update(metrics_logs)

    def on_train_end(self, logs=None):
        if self.restore_best and self.best_weights is not None:
            current = self._monitored_value(self.evaluations[-1]["logs"]) if self.evaluations else None
            if current != self.best_value:
                logger.info(
                    "Restoring the weights of step %d (epoch %d), the best %s (%.4f).",
                    self.best_step, self.best_epoch, self.monitor, self.best_value,
                )
            for variable, value in zip(self.model.weights, self.best_weights):
                variable.assign(value)

    # === Internals ===
    def _step(self) -> int:
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def _monitored_value(self, logs: dict) -> float:
        key = f"val_{self.monitor}"
        if key not in logs:
            available = sorted(name[4:] for name in logs)
            raise ValueError(f"Cannot monitor {self.monitor!r}: the validation metrics are {available}. Pass --monitor one of them.")
        return logs[key]

    def _evaluate(self, step: int) -> dict:
        logs = validation_logs(self.evaluate())
        self._last_evaluated_step = step
        return self._record(step, logs)

    def _record(self, step: int, logs: dict) -> dict:
        value = self._monitored_value(logs)
        self.evaluations.append({"step": step, "epoch": self._epoch, "logs": logs})
        if self._improved(value):
            self.best_value, self.best_step, self.best_epoch, self.wait = value, step, self._epoch, 0
            if self.restore_best:
                self.best_weights = [np.array(keras.ops.convert_to_numpy(variable)) for variable in self.model.weights]
        else:
            self.wait += 1
            if self.patience is not None and self.wait >= self.patience:
                self.stopped_early = True
                self.model.stop_training = True
                logger.info(
                    "Early stopping at step %d: validation %s has not improved for %d evaluation(s) (best %.4f at step %d).",
                    step, self.monitor, self.wait, self.best_value, self.best_step,
                )
        return logs

    def _improved(self, value: float) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if self.best_value is None:
            return True
        if lower_is_better(self.monitor):
            return value < self.best_value - self.min_delta
        return value > self.best_value + self.min_delta
