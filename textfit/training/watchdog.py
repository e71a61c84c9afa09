"""A Keras callback that notices, in the first steps of ``fit``, a model that is not learning.

It watches the first ``num_steps`` steps (cheap: it reads the logged loss, and runs one
forward pass on a sample batch at the end of the window) and reports:

- a NaN or infinite loss: stops training at once (``FloatingPointError``) and names the likely cause;
- a loss that stays at ln(num_classes), i.e. uniform predictions;
- every prediction on a training sample being the same class;
- a peak learning rate outside the usual fine-tuning range.
"""

import logging
import math

import keras
import numpy as np

from textfit.training.history import step_value

logger = logging.getLogger("textfit")

# Fewer steps than this say nothing about whether a model learns.
MIN_STEPS_TO_JUDGE = 8
# Usual peak learning rates for fine-tuning BERT-family encoders with Adam(W).
USUAL_LEARNING_RATES = (1e-6, 1e-3)


def peak_learning_rate(optimizer) -> float | None:
    """The optimizer's peak learning rate (a schedule's peak, or the constant rate)."""
    rate = getattr(optimizer, "_learning_rate", None)
    peak = getattr(rate, "peak_learning_rate", None)
    if peak is not None:
        return float(peak)
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        return None
    try:
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except (TypeError, ValueError, AttributeError):
        return None


class NotLearningWatchdog(keras.callbacks.Callback):
    """Diagnose a run that is not learning, during its first steps.

    ``TextClassifier.fit`` adds one by default (``watchdog=False`` turns it off). Findings
    are logged as warnings once each and kept in ``findings``.

    Args:
        num_classes: number of labels (for the ln(num_classes) check).
        sample_inputs: a batch of training inputs to look at predictions.
        num_steps: how many steps to watch.

    Example:
        >>> watchdog = NotLearningWatchdog(num_classes=3, sample_inputs=first_batch, num_steps=50)
        >>> model.fit(x, y, callbacks=[watchdog])
        >>> watchdog.findings
        []
    """

    def __init__(self, *, num_classes: int, sample_inputs=None, num_steps: int = 50):
        super().__init__()
        self.num_classes = num_classes
        self.sample_inputs = sample_inputs
        self.num_steps = num_steps
        self.findings: list[str] = []
        self._losses: list[float] = []
        self._step = 0
        self._epoch_mean = 0.0

    def _report(self, message: str) -> None:
        if message not in self.findings:
            self.findings.append(message)
            logger.warning(message)

    def on_train_begin(self, logs=None):
        self._losses, self._step = [], 0
        rate = peak_learning_rate(self.model.optimizer)
        low, high = USUAL_LEARNING_RATES
        if rate is not None and not low <= rate <= high:
            direction = "high: the loss may diverge or the model collapse to one class" if rate > high else "low: the model will barely move from its initial weights"
            self._report(
                f"Learning rate {rate:g} is outside the usual fine-tuning range [{low:g}, {high:g}] and likely too "
                f"{direction}. Fix: use 2e-5 to 1e-4 (e.g. --learning-rate 5e-5)."
            )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_mean = 0.0

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if not math.isfinite(loss):
            self.model.stop_training = True
            rate = peak_learning_rate(self.model.optimizer)
            raise FloatingPointError(
                f"The training loss became {loss} at step {self._step}. Likely causes: a learning rate too high "
                f"(now {rate:g}; try 5e-5), or NaN/inf weights or inputs. Fix the learning rate first; "
                "training was stopped so no NaN weights are saved."
            )
        # Keras logs the running mean of the epoch's loss; recover this step's value from it.
        step_loss = step_value(batch, loss, self._epoch_mean)
        self._epoch_mean = loss
        if self._step > self.num_steps:
            return
        self._losses.append(step_loss)
        if self._step == self.num_steps:
            self._check_window()

    def on_train_end(self, logs=None):
        # A run shorter than the window is still checked once, if it had steps enough to judge.
        if MIN_STEPS_TO_JUDGE <= self._step < self.num_steps:
            self._check_window()

    def _check_window(self) -> None:
        expected = math.log(self.num_classes)
        recent = self._losses[-max(1, len(self._losses) // 4):]
        if self.num_classes > 1 and abs(np.mean(recent) - expected) < 0.02 * expected:
            self._report(
                f"The loss has stayed at ln({self.num_classes}) = {expected:.4f} for {len(self._losses)} steps: the model "
                "predicts uniform probabilities and is not learning. Likely causes: a learning rate far too low, a "
                "loss that does not match the outputs, or labels that do not belong to their texts. Check the "
                "learning rate and that each label is on its text's row."
            )
        if self.sample_inputs is not None:
            logits = keras.ops.convert_to_numpy(self.model(self.sample_inputs, training=False))
            predicted = np.argmax(logits, axis=-1)
            if len(predicted) >= 8 and len(set(predicted.tolist())) == 1:
                label_names = getattr(self.model, "labels", None)
                name = label_names[predicted[0]] if label_names else int(predicted[0])
                self._report(
                    f"After {self._step} steps the model predicts {name!r} for every one of {len(predicted)} training "
                    "examples: it has collapsed to one class. Likely causes: a learning rate too high, or heavy class "
                    "imbalance. Lower the learning rate, or pass class_weight (see `textfit check`)."
                )
