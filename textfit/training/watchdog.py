"""A Keras callback that notices, in the first steps of ``fit``, a model that is not learning.

A NaN or infinite loss stops training at any step (``FloatingPointError``) and names the likely
cause; a peak learning rate outside the usual fine-tuning range is reported before the first step.
The two slower symptoms are judged only on steps whose learning rate has reached half its peak
(during warm-up a model near its initial weights predicts one class or the label frequencies, and
that is healthy): over the first ``num_steps`` such steps (cheap: it reads the logged loss, and runs
one forward pass on a sample batch at the end of the window), it reports

- a loss that stays at the entropy of the label frequencies (ln(num_classes) for balanced labels):
  the model predicts the frequencies whatever the text says;
- every prediction on a training sample being the same class, with advice that follows the
  evidence (a high learning rate, or imbalanced labels and the majority class).
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
        num_classes: number of labels.
        sample_inputs: a batch of training inputs to look at predictions.
        num_steps: how many judged steps (learning rate at half its peak or more) to watch.
        class_counts: training examples per label id: the loss a model that ignores the text
            settles at is their entropy, not ln(num_classes), when labels are imbalanced.

    Example:
        >>> watchdog = NotLearningWatchdog(num_classes=3, sample_inputs=first_batch, num_steps=50)
        >>> model.fit(x, y, callbacks=[watchdog])
        >>> watchdog.findings
        []
    """

    def __init__(self, *, num_classes: int, sample_inputs=None, num_steps: int = 50, class_counts=None):
        super().__init__()
        self.num_classes = num_classes
        self.sample_inputs = sample_inputs
        self.num_steps = num_steps
        counts = np.ones(num_classes) if class_counts is None else np.asarray(class_counts, dtype=np.float64)
        self.prior = counts / counts.sum() if counts.sum() > 0 else np.full(num_classes, 1.0 / num_classes)
        self._judged = 0
        self.findings: list[str] = []
        self._losses: list[float] = []
        self._step = 0
        self._epoch_mean = 0.0

    def _report(self, message: str) -> None:
        if message not in self.findings:
            self.findings.append(message)
            logger.warning(message)

    def on_train_begin(self, logs=None):
        self._losses, self._step, self._judged = [], 0, 0
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
        if self._judged >= self.num_steps or not self._learning_rate_is_meaningful():
            return
        self._judged += 1
        self._losses.append(step_loss)
        if self._judged == self.num_steps:
            self._check_window()

    def on_train_end(self, logs=None):
        # A run shorter than the window is still checked once, if it had steps enough to judge.
        if MIN_STEPS_TO_JUDGE <= self._judged < self.num_steps:
            self._check_window()

    def _learning_rate_is_meaningful(self) -> bool:
        """True once the learning rate is at half its peak or more (after most of the warm-up)."""
        peak = peak_learning_rate(self.model.optimizer)
        if not peak:
            return True
        current = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        return current >= 0.5 * peak

    def _check_window(self) -> None:
        prior = self.prior[self.prior > 0]
        expected = float(-(prior * np.log(prior)).sum())  # ln(num_classes) when the labels are balanced
        balanced = np.allclose(self.prior, 1.0 / self.num_classes)
        recent = self._losses[-max(1, len(self._losses) // 4):]
        if self.num_classes > 1 and expected > 0 and abs(np.mean(recent) - expected) < 0.02 * expected:
            reference = f"ln({self.num_classes}) = {expected:.4f}" if balanced else (
                f"{expected:.4f}, the entropy of the label frequencies")
            self._report(
                f"The loss has stayed at {reference} for {len(self._losses)} steps at full learning rate: the model "
                "predicts the label frequencies whatever the text says, and is not learning. Likely causes: a "
                f"learning rate far too low (peak {peak_learning_rate(self.model.optimizer) or 0:g}), a loss that does "
                "not match the outputs, or labels that do not belong to their texts. Check the learning rate and that "
                "each label is on its text's row."
            )
        if self.sample_inputs is not None:
            logits = keras.ops.convert_to_numpy(self.model(self.sample_inputs, training=False))
            predicted = np.argmax(logits, axis=-1)
            if len(predicted) >= 8 and len(set(predicted.tolist())) == 1:
                label_names = getattr(self.model, "labels", None)
                name = label_names[predicted[0]] if label_names else int(predicted[0])
                self._report(
                    f"After {self._step} steps ({self._judged} at full learning rate) the model predicts {name!r} for "
                    f"every one of {len(predicted)} training examples: it has collapsed to one class. "
                    + self._collapse_advice(int(predicted[0]))
                )

    def _collapse_advice(self, predicted: int) -> str:
        """What to change, from the evidence: the learning rate, or imbalanced labels and the majority class."""
        peak = peak_learning_rate(self.model.optimizer)
        majority = int(np.argmax(self.prior))
        if predicted == majority and self.prior[majority] >= 0.6:
            return (
                f"It is the majority label ({self.prior[majority]:.0%} of the training data): weigh the rare labels up "
                "with --class-weight balanced (class_weight='balanced'), or train longer."
            )
        if peak is not None and peak > 1e-4:
            return f"The peak learning rate {peak:g} is high for fine-tuning: lower it (e.g. --learning-rate 3e-5)."
        return (
            "The learning rate is in the usual range and the labels are not dominated by this one: check that each "
            "label is on its text's row, and look at the per-class scores after training."
        )
