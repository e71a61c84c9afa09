"""Record what happened during ``fit``, step by step, for reports and later inspection."""

import csv
import io

import keras


def step_value(batch: int, running_mean: float, previous_mean: float) -> float:
    """The value of step ``batch`` (0-based in its epoch) from Keras' running means after it and before it."""
    return (batch + 1) * running_mean - batch * previous_mean


class TrainingHistory(keras.callbacks.Callback):
    """A Keras callback keeping each step's loss, accuracy and learning rate, and each epoch's logs.

    Keras logs running means over the epoch; the per-step values are recovered from them.
    ``TextClassifier.fit`` adds one; ``model.training_history`` holds the last run's.

    Example:
        >>> history = TrainingHistory()
        >>> model.fit(texts, labels, callbacks=[history])
        >>> history.to_dict()["steps"][0]
        {'step': 1, 'epoch': 1, 'loss': 1.09, 'accuracy': 0.38, 'learning_rate': 0.0}
    """

    def __init__(self):
        super().__init__()
        self.steps: list[dict] = []
        self.epochs: list[dict] = []
        self._step = 0
        self._epoch = 0
        self._running = {}
        self._learning_rate = None
        self._batch_offset = 0
        self._resume_offset = 0
        self.resumed_from_step = 0  # steps run before a resume, by an earlier process

    @classmethod
    def from_state(cls, state: dict, *, resume_offset: int = 0) -> "TrainingHistory":
        """Continue a history saved by ``state()`` (in a checkpoint), ``resume_offset`` batches into an epoch."""
        history = cls()
        history.steps, history.epochs = list(state.get("steps", [])), list(state.get("epochs", []))
        history._step = len(history.steps)
        history.resumed_from_step = history._step
        history._running = dict(state.get("running", {})) if resume_offset else {}
        history._resume_offset = resume_offset
        return history

    def state(self) -> dict:
        """The history plus the running means of the current epoch, to resume from."""
        return {**self.to_dict(), "running": self._running}

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1
        # A resumed epoch continues its running means; a new one starts them over.
        self._batch_offset, self._resume_offset = self._resume_offset, 0
        if not self._batch_offset:
            self._running = {}

    def on_train_batch_begin(self, batch, logs=None):
        optimizer = self.model.optimizer
        self._learning_rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate)) if optimizer is not None else None

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        batch += self._batch_offset
        row = {"step": self._step, "epoch": self._epoch}
        for name in ("loss", "accuracy", "mae"):
            if logs and name in logs:
                mean = float(logs[name])
                value = step_value(batch, mean, self._running.get(name, 0.0))
                # float32 running means make the recovered accuracy overshoot [0, 1] by rounding.
                row[name] = min(1.0, max(0.0, value)) if name == "accuracy" else value
                self._running[name] = mean
        row["learning_rate"] = self._learning_rate
        self.steps.append(row)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append({"epoch": epoch + 1, "step": self._step, **{k: float(v) for k, v in (logs or {}).items()}})

    def to_dict(self) -> dict:
        return {"steps": self.steps, "epochs": self.epochs, "resumed_from_step": self.resumed_from_step}


def history_csv(history: dict) -> str:
    """The per-step history as CSV text (step, epoch, loss, accuracy or MAE, learning_rate)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["step", "epoch", "loss", "accuracy", "mae", "learning_rate"], extrasaction="ignore")
    writer.writeheader()
    writer.writerows(history.get("steps", []))
    return buffer.getvalue()
