"""The default optimizer: AdamW with linear warmup then linear decay to zero."""

import keras
from keras import ops


def warmup_then_decay(step, *, peak_learning_rate, warmup_steps, total_steps):
    """Learning rate at ``step``: 0 -> peak over ``warmup_steps``, then linearly to 0 at ``total_steps``.

    Works on Python numbers and on backend tensors.
    """
    step = ops.cast(step, "float32")
    warmup = ops.maximum(ops.cast(warmup_steps, "float32"), 1.0)
    decay = ops.maximum(ops.cast(total_steps - warmup_steps, "float32"), 1.0)
    rising = step / warmup
    falling = ops.maximum(0.0, (total_steps - step) / decay)
    return peak_learning_rate * ops.where(step < warmup_steps, rising, ops.minimum(1.0, falling))


class WarmupThenDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup to ``peak_learning_rate``, then linear decay to zero at the last step.

    The number of steps is known only once ``fit`` sees the data, so ``fit`` calls
    ``plan(start_step, total_steps)`` before training; ``warmup_fraction`` of those steps warm up.

    Args:
        peak_learning_rate: the rate at the end of warmup.
        warmup_fraction: share of the planned steps spent warming up, in [0, 1].

    Example:
        >>> schedule = WarmupThenDecay(peak_learning_rate=5e-5, warmup_fraction=0.1)
        >>> schedule.plan(start_step=0, total_steps=100)
        >>> float(schedule(10)), float(schedule(100))
        (5e-05, 0.0)
    """

    def __init__(self, peak_learning_rate: float, warmup_fraction: float = 0.1):
        if not peak_learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0. Received: learning_rate={peak_learning_rate}")
        if not 0.0 <= warmup_fraction <= 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1]. Received: warmup_fraction={warmup_fraction}")
        self.peak_learning_rate = float(peak_learning_rate)
        self.warmup_fraction = float(warmup_fraction)
        self.start_step = 0
        self.total_steps = None

    @property
    def warmup_steps(self) -> int:
        return round(self.warmup_fraction * self.total_steps)

    def plan(self, *, start_step: int, total_steps: int) -> None:
        """Fix the run's length: ``total_steps`` optimizer steps counted from ``start_step``."""
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1. Received: total_steps={total_steps}")
        self.start_step = int(start_step)
        self.total_steps = int(total_steps)

    def __call__(self, step):
        if self.total_steps is None:
            raise RuntimeError("WarmupThenDecay.plan() must run before training; TextClassifier.fit does this.")
        return warmup_then_decay(
            step - self.start_step,
            peak_learning_rate=self.peak_learning_rate,
            warmup_steps=self.warmup_steps,
            total_steps=self.total_steps,
        )

    def get_config(self) -> dict:
        return {"peak_learning_rate": self.peak_learning_rate, "warmup_fraction": self.warmup_fraction}


class FusedAdamW(keras.optimizers.AdamW):
    """Keras AdamW whose update on the torch backend is torch's fused AdamW kernel.

    Keras' torch AdamW makes about nine passes over every parameter and moment (``_foreach`` ops);
    the fused kernel makes one. On 2 CPU cores that takes MiniLM's update from ~240 ms to ~20 ms a
    step (benchmarks/profile_step.py). The moments stay Keras variables, so checkpoints and resume
    see the usual optimizer state. Bias correction follows torch (epsilon added to the corrected
    second moment), which differs from Keras' form only in where epsilon sits. Other backends use
    Keras' AdamW unchanged.
    """

    def _backend_update_step(self, grads, variables, learning_rate):
        if keras.backend.backend() != "torch":
            return super()._backend_update_step(grads, variables, learning_rate)
        import torch

        step = torch.tensor(float(keras.ops.convert_to_numpy(self.iterations)) + 1.0)
        rate = float(keras.ops.convert_to_numpy(learning_rate))
        decayed = [i for i, v in enumerate(variables) if self._use_weight_decay(v)]
        not_decayed = [i for i, v in enumerate(variables) if not self._use_weight_decay(v)]
        for indices, weight_decay in ((decayed, self.weight_decay or 0.0), (not_decayed, 0.0)):
            if not indices:
                continue
            group = [variables[i] for i in indices]
            torch._fused_adamw_(
                [v.value for v in group],
                [grads[i] for i in indices],
                [self._momentums[self._get_variable_index(v)].value for v in group],
                [self._velocities[self._get_variable_index(v)].value for v in group],
                [],
                [step] * len(group),
                lr=rate, beta1=float(self.beta_1), beta2=float(self.beta_2), weight_decay=float(weight_decay),
                eps=float(self.epsilon), amsgrad=False, maximize=False,
            )

    def _apply_weight_decay(self, variables):
        # On torch the fused kernel applies the decay (per group); elsewhere Keras does.
        if keras.backend.backend() != "torch":
            super()._apply_weight_decay(variables)


def default_optimizer(*, learning_rate: float = 5e-5, weight_decay: float = 0.01, warmup_fraction: float = 0.1):
    """AdamW (``FusedAdamW``) with ``WarmupThenDecay``; biases and LayerNorm weights get no weight decay (as in BERT)."""
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0. Received: weight_decay={weight_decay}")
    optimizer = FusedAdamW(
        learning_rate=WarmupThenDecay(learning_rate, warmup_fraction),
        weight_decay=weight_decay,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
    )
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer
