"""Honest time: an ETA for the whole run from its first steps, and an optional time budget."""

import logging
import math
import re
import time

import keras

logger = logging.getLogger("textfit")

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*$")


def parse_duration(text) -> float:
    """Seconds in "90", "90s", "10m", "1h30m" or "1.5h".

    Example:
        >>> parse_duration("1h30m")
        5400.0
    """
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        if not match or not any(match.groups()):
            raise ValueError(f"time_budget must look like 90s, 10m or 1h30m. Received: time_budget={text!r}")
        hours, minutes, secs = (float(group) if group else 0.0 for group in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if seconds <= 0:
        raise ValueError(f"time_budget must be positive. Received: time_budget={text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


class TimeKeeper(keras.callbacks.Callback):
    """Log an ETA for the run once the first steps are timed; with a budget, shorten the run to fit it.

    The first ``warmup_steps`` steps (compilation, caches) are timed apart from the next
    ``measure_steps``, whose pace sets the ETA. With ``time_budget_seconds``, if the planned steps
    do not fit, the learning-rate schedule is re-planned to end (decay to zero) at the last step
    that fits, and training stops there cleanly; validation and saving then run as usual.

    Args:
        total_steps: steps the run plans (all epochs).
        validation_examples_per_epoch: examples evaluated at each epoch end (for the estimate).
        batch_size: examples per training step.
        time_budget_seconds: the budget for the whole ``fit``, or None.
        start_step: optimizer steps done before this ``fit`` (a resumed run).
        batch_tokens: padded tokens of each batch of the first epoch, in order. Batches of similar
            length run together, so the first steps can be much shorter or longer than average;
            with this the pace is measured per token and scaled to the average batch.
    """

    def __init__(self, *, total_steps: int, validation_examples_per_epoch: int = 0, batch_size: int = 32,
                 time_budget_seconds: float | None = None, warmup_steps: int = 3, measure_steps: int = 5,
                 steps_per_epoch: int | None = None, start_step: int = 0, batch_tokens: list[int] | None = None):
        super().__init__()
        self.total_steps = total_steps
        self.validation_examples = validation_examples_per_epoch
        self.batch_size = batch_size
        self.time_budget = time_budget_seconds
        self.warmup_steps = warmup_steps
        self.measure_steps = measure_steps
        self.steps_per_epoch = steps_per_epoch or total_steps
        self.start_step = start_step
        self.batch_tokens = batch_tokens
        self.stop_at_step = None
        self.estimate_seconds = None
        self._steps = 0
        self._timed_tokens = 0

    def on_train_begin(self, logs=None):
        # A resumed run calls fit twice (the rest of an epoch, then the others): time them as one.
        if not hasattr(self, "_started"):
            self._started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        now = time.perf_counter()
        if self.batch_tokens and self._steps > self.warmup_steps and batch < len(self.batch_tokens):
            self._timed_tokens += self.batch_tokens[batch]
        if self._steps == self.warmup_steps:
            self._warm = now
        elif self._steps == self.warmup_steps + self.measure_steps:
            self._plan(now)
        if self.stop_at_step is not None and self._steps >= self.stop_at_step:
            self.model.stop_training = True

    def _plan(self, now: float) -> None:
        per_step = (now - self._warm) / self.measure_steps
        if self.batch_tokens and self._timed_tokens:
            per_step = (now - self._warm) / self._timed_tokens * (sum(self.batch_tokens) / len(self.batch_tokens))
        elapsed = now - self._started
        remaining_steps = self.total_steps - self._steps
        # Evaluation runs forward passes only: about a third of a training step's work per example.
        epochs_left = math.ceil(remaining_steps / self.steps_per_epoch) if remaining_steps > 0 else 0
        validation_seconds = epochs_left * self.validation_examples / self.batch_size * per_step / 3
        self.estimate_seconds = elapsed + remaining_steps * per_step + validation_seconds
        logger.info(
            "ETA: about %s for %d steps (%.2f s a step on average, after %.1f s of warm-up), done around %s.",
            format_duration(self.estimate_seconds), self.total_steps, per_step, self._warm - self._started,
            time.strftime("%H:%M", time.localtime(time.time() + self.estimate_seconds - elapsed)),
        )
        if self.time_budget is None or self.estimate_seconds <= self.time_budget:
            return
        spare = self.time_budget - elapsed - validation_seconds
        affordable = self._steps + max(0, int(spare / per_step))
        self.stop_at_step = max(self._steps + 1, min(self.total_steps, affordable))
        schedule = getattr(self.model.optimizer, "_learning_rate", None)
        if hasattr(schedule, "plan") and schedule.total_steps is not None:
            # End the decay at the new last step, so the run finishes with the learning rate at zero.
            schedule.plan(start_step=schedule.start_step, total_steps=self.start_step + self.stop_at_step - schedule.start_step)
            self.model.make_train_function(force=True)
        logger.warning(
            "The run would take about %s, over the time budget of %s: training stops after %d of %d steps "
            "(%.1f epochs), with the learning-rate schedule shortened to end there.",
            format_duration(self.estimate_seconds), format_duration(self.time_budget), self.stop_at_step, self.total_steps,
            self.stop_at_step / self.steps_per_epoch,
        )
