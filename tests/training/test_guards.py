"""The logits guard: every combination of output activation and loss configuration."""

import itertools
import warnings

import keras
import numpy as np
import pytest

from textfit import LogitsGuard, TextClassifier, check_loss_matches_outputs
from textfit.training.guards import find_loss_mismatch, initial_loss_finding, outputs_look_like_probabilities

X = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
Y = np.random.default_rng(1).integers(0, 3, size=32)


def _sequential(activation):
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation=activation)])


def _functional(activation):
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(3, activation=activation)(inputs))


class _Subclassed(keras.Model):
    """Its output activation is invisible from outside: only the first-batch check can tell."""

    def __init__(self, softmax: bool):
        super().__init__()
        self.dense = keras.layers.Dense(3)
        self.softmax = softmax

    def call(self, inputs):
        logits = self.dense(inputs)
        return keras.ops.softmax(logits) if self.softmax else logits


LOSSES = {
    "from_logits=True": lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    "from_logits=False": lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=False),
    "string": lambda: "sparse_categorical_crossentropy",
    "function": lambda: keras.losses.sparse_categorical_crossentropy,
}
BUILDERS = {
    "sequential": _sequential,
    "functional": _functional,
    "subclassed": lambda activation: _Subclassed(softmax=activation == "softmax"),
}


@pytest.mark.parametrize(
    "builder, activation, loss",
    list(itertools.product(BUILDERS, ["softmax", None], LOSSES)),
)
def test_guard_flags_exactly_the_mismatched_combinations(builder, activation, loss):
    model = BUILDERS[builder](activation)
    model.compile(optimizer="adam", loss=LOSSES[loss]())
    model(X[:1])
    mismatch = (activation == "softmax") == (loss == "from_logits=True")
    problem = find_loss_mismatch(model, X)
    if not mismatch:
        assert problem is None
        return
    assert problem is not None
    if activation == "softmax":
        assert "expects raw logits" in problem and "remove the softmax" in problem
    else:
        assert "treats them as probabilities" in problem and "from_logits=True" in problem
    if builder == "subclassed":
        assert problem.startswith("On the first batch")
        assert find_loss_mismatch(model) is None  # nothing to look at without a batch


def test_logits_guard_callback_stops_a_keras_softmax_model_before_the_first_step():
    model = _sequential("softmax")
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model(X[:1])
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=r"applies softmax, but the loss SparseCategoricalCrossentropy\(from_logits=True\)"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[LogitsGuard(X[:8])])
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_non_cross_entropy_losses_are_left_alone():
    model = _sequential(None)
    model.compile(optimizer="adam", loss="mse")
    assert check_loss_matches_outputs(model, X) is None


@pytest.mark.parametrize("loss", ["from_logits=False", "string", "function"])
def test_text_classifier_fit_refuses_a_probability_loss_before_training(tiny_checkpoint_dir, toy_data, loss):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    model.compile(loss=LOSSES[loss]())
    before = model.predict_logits(toy_data[0])
    with pytest.raises(ValueError, match=r"outputs raw logits \(output layer 'logits' has no activation\).*logits_guard='warn'"):
        model.fit(*toy_data, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.predict_logits(toy_data[0]), before)


def test_logits_guard_can_warn_or_be_off(tiny_checkpoint_dir, toy_data):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    model.compile(loss="sparse_categorical_crossentropy", logits_guard="warn")
    with pytest.warns(UserWarning, match="treats them as probabilities"):
        model.fit(*toy_data, epochs=1, verbose=0)
    model.compile(loss="sparse_categorical_crossentropy", logits_guard="off")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.fit(*toy_data, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"logits_guard must be one of"):
        model.compile(logits_guard="sometimes")


def test_default_compile_passes_the_guard(tiny_checkpoint_dir, toy_data):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    model.compile()
    assert find_loss_mismatch(model) is None


def test_outputs_look_like_probabilities():
    assert outputs_look_like_probabilities([[0.2, 0.8], [0.5, 0.5]])
    assert not outputs_look_like_probabilities([[0.2, 0.3], [0.5, 0.5]])
    assert not outputs_look_like_probabilities([[-0.1, 1.1]])


def test_initial_loss_far_from_ln_num_classes_is_reported(tiny_checkpoint_dir, toy_data, caplog):
    assert initial_loss_finding(0.70, 2) is None
    assert "far from ln(2)" in initial_loss_finding(9.0, 2)
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    model.logits_layer.kernel.assign(keras.ops.convert_to_numpy(model.logits_layer.kernel) * 2000)
    with caplog.at_level("WARNING", logger="textfit"):
        model.fit(*toy_data, epochs=1, verbose=0, watchdog=False)
    assert "The loss before training is" in caplog.text and "head may be broken" in caplog.text
