"""Catch a loss that does not match the model's outputs, before the first training step.

The classic silent failure: a model that outputs logits trained with a loss that assumes
probabilities (``from_logits=False``, or a loss given as a string), or softmax outputs fed to
a from-logits loss. Both train to nothing without an error. ``check_loss_matches_outputs``
compares the output activation with the loss configuration (static) and, given a batch,
what the outputs look like (dynamic).
"""

import logging
import math
import warnings

import keras
import numpy as np

logger = logging.getLogger("textfit")

GUARD_MODES = ("raise", "warn", "off")
# Cross-entropy losses given by name or as functions: Keras' default is from_logits=False.
_PROBABILITY_LOSS_NAMES = {
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
    "binary_crossentropy",
    "categorical_focal_crossentropy",
    "binary_focal_crossentropy",
}
_PROBABILITY_ACTIVATIONS = {"softmax", "sigmoid", "log_softmax"}
_LOGIT_ACTIVATIONS = {"linear"}


def loss_from_logits(loss) -> bool | None:
    """Whether ``loss`` expects logits (True), probabilities (False), or is not a cross-entropy (None)."""
    if loss is None:
        return None
    if isinstance(loss, str):
        return False if loss in _PROBABILITY_LOSS_NAMES else None
    if isinstance(loss, keras.losses.Loss):
        config = loss.get_config()
        return bool(config["from_logits"]) if "from_logits" in config else None
    if callable(loss) and getattr(loss, "__name__", None) in _PROBABILITY_LOSS_NAMES:
        return False
    return None


def _describe_loss(loss) -> str:
    if isinstance(loss, str):
        return f"{loss!r} (a loss given as a string has from_logits=False)"
    if isinstance(loss, keras.losses.Loss):
        return f"{type(loss).__name__}(from_logits={loss.get_config().get('from_logits')})"
    return f"{getattr(loss, '__name__', type(loss).__name__)} (from_logits=False by default)"


def _output_layer(model):
    """The layer producing the model's single output, or None when that can't be told from outside."""
    layer = getattr(model, "logits_layer", None)  # TextClassifier
    if layer is not None:
        return layer
    if isinstance(model, keras.Sequential):
        return model.layers[-1] if model.layers else None
    outputs = getattr(model, "outputs", None)  # functional models; None for subclassed ones
    if not outputs or len(outputs) != 1:
        return None
    history = getattr(outputs[0], "_keras_history", None)
    return history[0] if history else None


def output_activation(model) -> tuple[str | None, str]:
    """The activation of the model's output (``"linear"``, ``"softmax"``...) and its layer's name.

    (None, "") when it cannot be told statically, e.g. for a subclassed model.
    """
    layer = _output_layer(model)
    if layer is None:
        return None, ""
    if isinstance(layer, keras.layers.Softmax):
        return "softmax", layer.name
    if not hasattr(layer, "activation"):
        return None, layer.name
    activation = layer.activation
    return ("linear" if activation is None else getattr(activation, "__name__", None)), layer.name


def outputs_look_like_probabilities(outputs) -> bool:
    """True if every output is in [0, 1] and (for several classes) each row sums to 1."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.size == 0 or not np.all(np.isfinite(outputs)):
        return False
    in_range = outputs.min() >= 0.0 and outputs.max() <= 1.0
    if outputs.ndim < 2 or outputs.shape[-1] == 1:
        return bool(in_range)
    return bool(in_range and np.allclose(outputs.sum(axis=-1), 1.0, atol=1e-3))


def _loss_class(loss) -> str:
    """The Keras class name of a cross-entropy loss given as an object, a string or a function."""
    if isinstance(loss, keras.losses.Loss):
        return type(loss).__name__
    name = loss if isinstance(loss, str) else getattr(loss, "__name__", "sparse_categorical_crossentropy")
    return "".join(part.capitalize() for part in name.split("_"))


def _fix_for(from_logits_expected: bool, loss=None, activation: str = "softmax") -> str:
    loss_class = _loss_class(loss) if loss is not None else "SparseCategoricalCrossentropy"
    if from_logits_expected:
        return (
            f"Fix: loss=keras.losses.{loss_class}(from_logits=True) "
            "(TextClassifier.compile() with no loss does this)."
        )
    return (
        f"Fix: either remove the {activation} from the output layer and keep from_logits=True, or use "
        f"keras.losses.{loss_class}(from_logits=False)."
    )


def find_loss_mismatch(model, sample_inputs=None) -> str | None:
    """Describe a mismatch between the model's outputs and its compiled loss, or return None.

    Use it on any compiled Keras model; ``TextClassifier.fit`` runs it on the first batch.

    Example:
        >>> model.compile(loss="sparse_categorical_crossentropy")  # on a logits model
        >>> print(find_loss_mismatch(model))
        The model outputs raw logits ... Fix: loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True) ...
    """
    loss = getattr(model, "loss", None)
    from_logits = loss_from_logits(loss)
    if from_logits is None:
        return None
    activation, layer_name = output_activation(model)
    described = _describe_loss(loss)
    if activation in _PROBABILITY_ACTIVATIONS and from_logits:
        return (
            f"The model's output layer {layer_name!r} applies {activation}, but the loss {described} expects raw logits: "
            f"{activation} would be applied twice and the gradients vanish, so the model barely learns. "
            f"{_fix_for(False, loss, activation)}"
        )
    if activation in _LOGIT_ACTIVATIONS and not from_logits:
        return (
            f"The model outputs raw logits (output layer {layer_name!r} has no activation), but the loss {described} "
            f"treats them as probabilities, so training silently goes nowhere. {_fix_for(True, loss)}"
        )
    if activation is not None or sample_inputs is None:
        return None
    # The activation is unknown: look at what the model outputs on a real batch.
    outputs = keras.ops.convert_to_numpy(model(sample_inputs, training=False))
    if outputs_look_like_probabilities(outputs) and from_logits:
        return (
            f"On the first batch the model outputs probabilities (every row in [0, 1], summing to 1), but the loss "
            f"{described} expects raw logits. {_fix_for(False, loss)}"
        )
    if not outputs_look_like_probabilities(outputs) and not from_logits:
        return (
            f"On the first batch the model outputs raw scores (range {outputs.min():.3g} to {outputs.max():.3g}, "
            f"rows not summing to 1), but the loss {described} treats them as probabilities. {_fix_for(True, loss)}"
        )
    return None


_SINGLE_CLASS_LOSSES = {"SparseCategoricalCrossentropy", "CategoricalCrossentropy", "CategoricalFocalCrossentropy"}


def find_target_mismatch(model, sample_targets) -> str | None:
    """Multi-hot targets (several labels per row) against a one-class-per-row loss or a softmax output, or None."""
    if sample_targets is None:
        return None
    targets = np.asarray(sample_targets)
    if targets.ndim != 2 or targets.shape[-1] < 2 or not np.isin(targets, (0, 1)).all():
        return None
    if np.all(targets.sum(axis=-1) == 1):
        return None  # one-hot rows: a single label each
    loss = getattr(model, "loss", None)
    loss_class = _loss_class(loss) if loss is not None and loss_from_logits(loss) is not None else None
    if loss_class in _SINGLE_CLASS_LOSSES:
        return (
            f"The targets have several labels per row (multi-hot), but the loss {_describe_loss(loss)} scores one class "
            "per row (a softmax over the labels), so the labels compete instead of being learned each on its own. Fix: "
            "loss=keras.losses.BinaryCrossentropy(from_logits=True) on a head without activation "
            "(TextClassifier with task='multi_label' does this)."
        )
    activation, layer_name = output_activation(model)
    if activation == "softmax":
        return (
            f"The targets have several labels per row (multi-hot), but the output layer {layer_name!r} applies softmax, "
            "which makes the labels' probabilities sum to 1: at most one can be predicted with confidence. Fix: no "
            "activation on the output and loss=keras.losses.BinaryCrossentropy(from_logits=True)."
        )
    return None


def check_loss_matches_outputs(model, sample_inputs=None, *, mode: str = "raise", sample_targets=None) -> str | None:
    """Raise (or warn, by ``mode``) if the loss does not match the model's outputs or targets; return the finding."""
    if mode not in GUARD_MODES:
        raise ValueError(f"logits_guard must be one of {GUARD_MODES}. Received: logits_guard={mode!r}")
    if mode == "off":
        return None
    problem = find_target_mismatch(model, sample_targets) or find_loss_mismatch(model, sample_inputs)
    if problem is None:
        return None
    if mode == "raise":
        raise ValueError(problem + " To train anyway, pass logits_guard='warn'.")
    warnings.warn(problem, stacklevel=3)
    return problem


class LogitsGuard(keras.callbacks.Callback):
    """A Keras callback that checks the loss against the outputs before the first step of any model's ``fit``.

    Use it with models built outside textfit: ``model.fit(x, y, callbacks=[LogitsGuard(x[:32])])``.

    Args:
        sample_inputs: a batch of inputs for the dynamic check (optional).
        mode: "raise" (default), "warn" or "off".
        sample_targets: a batch of targets: multi-hot rows are checked against the loss (optional).

    Example:
        >>> model.fit(x, y, callbacks=[textfit.LogitsGuard(x[:32])])
        ValueError: The model's output layer 'dense' applies softmax, but the loss ... expects raw logits ...
    """

    def __init__(self, sample_inputs=None, *, mode: str = "raise", sample_targets=None):
        super().__init__()
        self.sample_inputs = sample_inputs
        self.sample_targets = sample_targets
        self.mode = mode

    def on_train_begin(self, logs=None):
        check_loss_matches_outputs(self.model, self.sample_inputs, mode=self.mode, sample_targets=self.sample_targets)


def initial_loss_finding(loss: float, num_classes: int) -> str | None:
    """A message when a fresh head's loss at step 0 is far from ln(num_classes), else None.

    A new head with small random weights predicts near-uniform probabilities, so its
    cross-entropy starts near ln(num_classes). Far above it means a broken head (huge
    initial weights, outputs already saturated); far below, that the labels leak into the inputs.
    """
    expected = math.log(num_classes)
    if not math.isfinite(loss):
        return f"The loss before training is {loss}: the model already outputs NaN/inf. Check the checkpoint's weights."
    if loss > 2.0 * expected + 0.5 or loss < 0.5 * expected:
        return (
            f"The loss before training is {loss:.4f}, far from ln({num_classes}) = {expected:.4f} expected of a new head "
            "that predicts uniform probabilities: the head may be broken (initial weights too large) or the labels "
            "may not be what the model is scored against. Check the label column and the head's initialisation."
        )
    return None
