"""Honest time: an ETA for the whole run from its first steps, and an optional time budget."""

import logging
import math
import re
import time

import keras

from textfit.training import distributed

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
    """Log an ETA for the run once the first steps are timed; with a budget, end the run inside it.

    The first ``warmup_steps`` steps (compilation, caches) are timed apart; the pace is measured
    per padded token over every step since (batches of similar length run together, so a few steps
    can be much shorter or longer than average) and scaled to the average batch. Time spent between
    steps (validation at epoch ends) is measured too, once there has been some. With
    ``time_budget_seconds``, the plan is made after ``measure_steps`` timed steps and refined every
    ``replan_every`` steps as the pace settles: if the planned steps do not fit, the learning-rate
    schedule is re-planned to decay to zero at the last step that fits, and training stops there
    cleanly; validation and saving then run as usual.

    Args:
        total_steps: steps the run plans (all epochs).
        validation_examples_per_epoch: examples evaluated at each epoch end (for the first estimate).
        batch_size: examples per training step.
        time_budget_seconds: the budget for the whole ``fit``, or None.
        start_step: optimizer steps done before this ``fit`` (a resumed run).
        batch_tokens: padded tokens of each batch of the first epoch, in order.
        replan_every: steps between refinements of the plan (default: a tenth of the run, at least 10).
        started: ``time.perf_counter()`` when ``fit`` was called (tokenizing and the checks before
            the first step count against the budget too); default: when training begins.
    """

    def __init__(self, *, total_steps: int, validation_examples_per_epoch: int = 0, batch_size: int = 32,
                 time_budget_seconds: float | None = None, warmup_steps: int = 3, measure_steps: int = 5,
                 steps_per_epoch: int | None = None, start_step: int = 0, batch_tokens: list[int] | None = None,
                 replan_every: int | None = None, started: float | None = None):
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
        self.replan_every = replan_every or max(10, total_steps // 10)
        self.stop_at_step = None
        self.estimate_seconds = None
        self.plans: list[dict] = []  # every plan made: for the log, tests and the record
        self._steps = 0
        self._timed_tokens = 0
        self._timed_steps = 0
        self._step_seconds = 0.0
        self._between_seconds = 0.0  # time outside training steps since warm-up (validation, callbacks)
        self._epoch_ends = 0
        self._batch_started = None
        self._last_batch_end = None
        if started is not None:
            self._started = started

    def on_train_begin(self, logs=None):
        # A resumed run calls fit twice (the rest of an epoch, then the others): time them as one.
        if not hasattr(self, "_started"):
            self._started = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        now = time.perf_counter()
        if self._last_batch_end is not None and self._steps >= self.warmup_steps:
            self._between_seconds += now - self._last_batch_end
        self._batch_started = now

    def on_epoch_end(self, epoch, logs=None):
        if self._steps > self.warmup_steps:
            self._epoch_ends += 1

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        now = time.perf_counter()
        self._last_batch_end = now
        if self._steps > self.warmup_steps:
            self._timed_steps += 1
            self._step_seconds += now - (self._batch_started or now)
            if self.batch_tokens:
                self._timed_tokens += self.batch_tokens[batch % len(self.batch_tokens)]
        if self._steps == self.warmup_steps:
            self._warm = now
        timed = self._steps - self.warmup_steps
        if timed == self.measure_steps or (timed > self.measure_steps and self.time_budget is not None
                                           and (timed - self.measure_steps) % self.replan_every == 0):
            self._plan(now)
        if self.stop_at_step is not None and self._steps >= self.stop_at_step:
            self.model.stop_training = True

    def _pace(self) -> float:
        """Seconds per training step of an average batch, measured since warm-up."""
        per_step = self._step_seconds / max(1, self._timed_steps)
        if self.batch_tokens and self._timed_tokens:
            per_step = self._step_seconds / self._timed_tokens * (sum(self.batch_tokens) / len(self.batch_tokens))
        return per_step

    def _plan(self, now: float) -> None:
        per_step = self._pace()
        elapsed = now - self._started
        remaining_steps = self.total_steps - self._steps
        epochs_left = math.ceil(remaining_steps / self.steps_per_epoch) if remaining_steps > 0 else 0
        if self._epoch_ends:  # measured: validation and whatever else runs between steps, per epoch end
            between_per_epoch = self._between_seconds / self._epoch_ends
        else:  # evaluation runs forward passes only: about a third of a training step's work per example
            between_per_epoch = self.validation_examples / self.batch_size * per_step / 3
        # Data-parallel ranks decide from rank 0's clock: a stop decided apart would leave one waiting forever.
        per_step, elapsed, between_per_epoch = distributed.broadcast_floats([per_step, elapsed, between_per_epoch])
        remaining_between = epochs_left * between_per_epoch
        self.estimate_seconds = elapsed + remaining_steps * per_step + remaining_between
        first = not self.plans
        plan = {"step": self._steps, "seconds_per_step": per_step, "estimate_seconds": self.estimate_seconds}
        self.plans.append(plan)
        if first:
            logger.info(
                "ETA: about %s for %d steps (%.2f s a step on average, after %.1f s of warm-up), done around %s.",
                format_duration(self.estimate_seconds), self.total_steps, per_step, self._warm - self._started,
                time.strftime("%H:%M", time.localtime(time.time() + self.estimate_seconds - elapsed)),
            )
        if self.time_budget is None:
            return
        planned = self.stop_at_step or self.total_steps
        if self.stop_at_step is None and self.estimate_seconds <= self.time_budget:
            return
        # The steps that fit: the time left, less what validation will take at the epoch ends still to come
        # (a run stopped inside an epoch still validates at that epoch's end).
        spare = self.time_budget - elapsed
        epochs_done = self._steps // self.steps_per_epoch
        affordable = self._steps
        while affordable < self.total_steps:
            validations = math.ceil((affordable + 1) / self.steps_per_epoch) - epochs_done
            if (affordable + 1 - self._steps) * per_step + validations * between_per_epoch > spare:
                break
            affordable += 1
        new_stop = max(self._steps + 1, min(self.total_steps, affordable))
        plan["stop_at_step"] = new_stop
        if abs(new_stop - planned) <= max(1, 0.01 * planned) and self.stop_at_step is not None:
            return  # the plan holds: no need to rebuild the schedule
        self.stop_at_step = new_stop
        schedule = getattr(self.model.optimizer, "_learning_rate", None)
        if hasattr(schedule, "plan") and schedule.total_steps is not None:
            # End the decay at the new last step, so the run finishes with the learning rate at zero.
            schedule.plan(start_step=schedule.start_step, total_steps=self.start_step + self.stop_at_step - schedule.start_step)
            self.model.make_train_function(force=True)
        message = (
            "The run would take about %s, over the time budget of %s: training stops after %d of %d steps "
            "(%.1f epochs), with the learning-rate schedule shortened to end there."
            if first or planned == self.total_steps else
            "Refined the plan from the pace so far (%s in all at the old plan; budget %s): training now stops after %d of "
            "%d steps (%.1f epochs)."
        )
        logger.warning(
            message, format_duration(self.estimate_seconds), format_duration(self.time_budget), self.stop_at_step,
            self.total_steps, self.stop_at_step / self.steps_per_epoch,
        )


class HonestProgbarLogger(keras.callbacks.ProgbarLogger):
    """Keras' progress bar, but an epoch cut short (time budget, early stopping) ends at the steps it ran.

    Keras finalises the bar at the epoch's planned steps ("158/158" for an epoch stopped at 111).
    """

    def _finalize_progbar(self, logs):
        stopped_early = self.model is not None and self.model.stop_training and self.target is not None and 0 < self.seen < self.target
        if not stopped_early or self.progbar is None:
            return super()._finalize_progbar(logs)
        logger.info("Epoch stopped after %d of its %d steps.", self.seen, self.target)
        self.progbar.target = self.seen
        self.progbar.update(self.seen, list((logs or {}).items()), finalize=True)
