"""Training settings that follow from the data size, for the ones the user leaves unset.

Fixed defaults fail at both ends: 3 epochs of batch 32 is 6 optimizer steps on 64 examples (the
model barely leaves its initialisation), and 3 full epochs over a million examples is hours of
over-training. The rules here, and the measurements behind them (benchmarks/small_data.py):

- batch size: 8 under 256 training examples, 16 under 2,048, 32 above: small sets need more,
  noisier steps, and a batch of 32 would be a large share of the data;
- epochs: enough for ``MIN_STEPS`` optimizer steps (3 at least, 40 at most); 2 from 50,000
  examples and 1 from 200,000, where one pass already shows the model more than enough;
- few-shot (SetFit's contrastive recipe, ``training/few_shot.py``) at or below
  ``FEW_SHOT_MAX_PER_LABEL`` examples per label for single-label data, where it beats fine-tuning,
  unless the user set epochs, batch size or learning rate (a fine-tuning run, described);
- validation split: 10 %, except in few-shot training, where every example counts and a held-out
  handful would say little (``--seeds`` shows the spread instead);
- keep the best validation's weights only when the validation set has ``MIN_VALIDATION_FOR_BEST``
  examples or more (or early stopping is on): on fewer, the "best" epoch is mostly noise and the last one
  is the better bet;
- validation during training: on a stratified sample when a validation set larger than three
  quarters of the training set would cost more than a quarter of each epoch (the final metrics
  always use all of it).

Every choice comes with its reason, for the log; a value the user sets is kept as it is.
"""

import math
from dataclasses import dataclass, field

MIN_STEPS = 160
MAX_EPOCHS = 40
FEW_SHOT_MAX_PER_LABEL = 32
MIN_VALIDATION_FOR_BEST = 50
MIN_VALIDATION_SAMPLE = 200
DEFAULT_LEARNING_RATE = 5e-5
DEFAULT_WARMUP_FRACTION = 0.1
DEFAULT_VALIDATION_SPLIT = 0.1


@dataclass(frozen=True)
class Settings:
    """The settings a run uses and, for each one chosen here, why."""

    epochs: int
    batch_size: int
    learning_rate: float
    warmup_fraction: float
    validation_split: float
    few_shot: bool
    keep_best: bool
    reasons: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """One line per chosen setting, for the log."""
        return "; ".join(f"{name} {getattr(self, name)}: {why}" for name, why in self.reasons.items())


def batch_size_for(num_examples: int) -> int:
    """8 under 256 examples, 16 under 2,048, else 32."""
    return 8 if num_examples < 256 else 16 if num_examples < 2048 else 32


def epochs_for(num_examples: int, batch_size: int) -> tuple[int, str]:
    """Epochs for at least MIN_STEPS optimizer steps (3..MAX_EPOCHS); fewer for very large sets."""
    if num_examples >= 200_000:
        return 1, "one pass over 200,000+ examples is enough to fine-tune"
    if num_examples >= 50_000:
        return 2, "two passes over 50,000+ examples are enough to fine-tune"
    steps_per_epoch = math.ceil(num_examples / batch_size)
    epochs = min(MAX_EPOCHS, max(3, math.ceil(MIN_STEPS / steps_per_epoch)))
    if epochs == 3:
        return epochs, f"{3 * steps_per_epoch} optimizer steps"
    return epochs, f"{epochs * steps_per_epoch} optimizer steps: a small data set needs about {MIN_STEPS} to learn"


def choose_settings(
    num_examples: int,
    *,
    task: str,
    examples_per_label: int | None,
    epochs=None,
    batch_size=None,
    learning_rate=None,
    warmup_fraction=None,
    validation_split=None,
    few_shot="auto",
    keep_best=None,
    early_stopping: bool = False,
    has_validation_file: bool = False,
    num_validation_file_examples: int = 0,
) -> Settings:
    """Fill every unset (None, or "auto" for few_shot) setting from the data size.

    Args:
        num_examples: training examples (before any validation split).
        task: "single_label", "multi_label" or "regression".
        examples_per_label: the smallest label's count (single-label), else None.

    Example:
        >>> choose_settings(64, task="single_label", examples_per_label=32).batch_size
        8
    """
    reasons = {}
    if few_shot == "auto":
        # Epochs, batch size or learning rate set by the user describe a fine-tuning run: theirs wins.
        tuned_by_user = any(value is not None for value in (epochs, batch_size, learning_rate))
        few_shot = bool(task == "single_label" and examples_per_label is not None and examples_per_label <= FEW_SHOT_MAX_PER_LABEL
                        and not tuned_by_user)
        if few_shot:
            reasons["few_shot"] = (
                f"at most {FEW_SHOT_MAX_PER_LABEL} examples per label: contrastive pairs then a logistic-regression head "
                "(SetFit's recipe) beat plain fine-tuning here (--few-shot off to fine-tune)"
            )
    else:
        few_shot = few_shot in (True, "on")
    if validation_split is None:
        if has_validation_file:
            validation_split = 0.0
        elif few_shot:
            validation_split = 0.0
            reasons["validation_split"] = (
                "few-shot training uses every example; no validation metrics (--seeds 3 shows the spread; "
                "--validation-split or --validation to hold some out)"
            )
        else:
            validation_split = DEFAULT_VALIDATION_SPLIT
    num_train = round(num_examples * (1 - validation_split))
    num_validation = num_validation_file_examples if has_validation_file else num_examples - num_train
    if keep_best is None:
        # Early stopping asked for means "stop at the best": its weights are kept whatever the size.
        keep_best = early_stopping or num_validation >= MIN_VALIDATION_FOR_BEST
        if not keep_best and num_validation:
            reasons["keep_best"] = (f"{num_validation} validation examples are too few to pick an epoch by; the last step's "
                                    "weights are saved (--keep-best to pick anyway)")
    if batch_size is None:
        batch_size = 16 if few_shot else batch_size_for(num_train)
        if batch_size != 32 and not few_shot:
            reasons["batch_size"] = f"{num_train} training examples"
    if epochs is None:
        if few_shot:
            epochs = 1
        else:
            epochs, why = epochs_for(num_train, batch_size)
            if epochs != 3:
                reasons["epochs"] = why
    if learning_rate is None:
        learning_rate = 2e-5 if few_shot else DEFAULT_LEARNING_RATE
    if warmup_fraction is None:
        warmup_fraction = DEFAULT_WARMUP_FRACTION
    return Settings(epochs, batch_size, learning_rate, warmup_fraction, validation_split, few_shot, keep_best, reasons)


def validation_sample_size(num_validation: int, num_train: int) -> int | None:
    """How many validation examples to score at each evaluation during training, or None for all.

    A forward pass costs about a third of a training step per example, so scoring the whole
    validation set once per epoch costs more than a quarter of the epoch when it is larger than
    three quarters of the training set. Then a stratified sample that size is scored (at least
    MIN_VALIDATION_SAMPLE, so the monitored metric still means something).
    """
    sample = max(MIN_VALIDATION_SAMPLE, math.ceil(0.75 * num_train))
    return None if sample >= num_validation else sample
