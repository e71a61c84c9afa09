"""Warmup then linear decay."""

import pytest

from textfit import WarmupThenDecay, default_optimizer


def test_schedule_rises_then_decays_to_zero():
    schedule = WarmupThenDecay(1e-3, warmup_fraction=0.1)
    schedule.plan(start_step=0, total_steps=100)
    assert float(schedule(0)) == pytest.approx(0.0)
    assert float(schedule(5)) == pytest.approx(5e-4)
    assert float(schedule(10)) == pytest.approx(1e-3)
    assert float(schedule(55)) == pytest.approx(5e-4)
    assert float(schedule(100)) == pytest.approx(0.0)
    assert float(schedule(150)) == pytest.approx(0.0)


def test_schedule_counts_from_the_planned_start_step():
    schedule = WarmupThenDecay(1e-3, warmup_fraction=0.0)
    schedule.plan(start_step=40, total_steps=10)
    assert float(schedule(40)) == pytest.approx(1e-3)
    assert float(schedule(50)) == pytest.approx(0.0)


def test_schedule_rejects_bad_values_and_use_before_plan():
    with pytest.raises(ValueError, match=r"warmup_fraction must be in \[0, 1\]. Received: warmup_fraction=1.5"):
        WarmupThenDecay(1e-3, warmup_fraction=1.5)
    with pytest.raises(ValueError, match=r"learning_rate must be > 0"):
        default_optimizer(learning_rate=0)
    with pytest.raises(RuntimeError, match=r"plan\(\) must run before training"):
        WarmupThenDecay(1e-3)(0)


def _adamw_steps(optimizer_class):
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    kernel = keras.Variable(rng.standard_normal((5, 3)).astype("float32"), name="kernel")
    bias = keras.Variable(np.ones(3, dtype="float32"), name="bias")
    optimizer = optimizer_class(learning_rate=1e-2, weight_decay=0.1, epsilon=1e-6)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    gradients = np.random.default_rng(1)
    for _ in range(5):
        optimizer.apply(
            [keras.ops.convert_to_tensor(gradients.standard_normal((5, 3)).astype("float32")),
             keras.ops.convert_to_tensor(gradients.standard_normal(3).astype("float32"))],
            [kernel, bias],
        )
    return keras.ops.convert_to_numpy(kernel), keras.ops.convert_to_numpy(bias), int(keras.ops.convert_to_numpy(optimizer.iterations))


def test_fused_adamw_matches_keras_adamw_with_decay_exclusions():
    import keras
    import numpy as np

    from textfit.training.schedule import FusedAdamW

    keras_kernel, keras_bias, keras_steps = _adamw_steps(keras.optimizers.AdamW)
    fused_kernel, fused_bias, fused_steps = _adamw_steps(FusedAdamW)
    assert fused_steps == keras_steps == 5
    # Only where epsilon sits differs (torch adds it to the bias-corrected second moment).
    np.testing.assert_allclose(fused_kernel, keras_kernel, atol=1e-4)
    np.testing.assert_allclose(fused_bias, keras_bias, atol=1e-4)
    without_decay, _, _ = _adamw_steps(lambda **kwargs: FusedAdamW(**{**kwargs, "weight_decay": 0.0}))
    assert np.abs(without_decay - fused_kernel).max() > 1e-4  # the decay really is applied to the kernel


def test_weight_decay_skips_biases_and_layer_norms(tiny_checkpoint_dir):
    """With zero gradients only decay moves weights: kernels and embeddings shrink, biases and norms stay."""
    import keras
    import numpy as np

    from conftest import TOY_LABELS, TOY_TEXTS
    from textfit import TextClassifier

    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    model.compile(learning_rate=0.1, weight_decay=0.5, warmup_fraction=0.0)
    before = {variable.path: np.array(keras.ops.convert_to_numpy(variable)) for variable in model.trainable_variables}
    # Zero sample weights: zero loss, zero gradients, so Adam's step is 0 and decay is all that acts.
    model.fit(TOY_TEXTS, TOY_LABELS, sample_weight=np.zeros(len(TOY_TEXTS)), epochs=1, batch_size=8, verbose=0)
    decayed, kept = [], []
    for variable in model.trainable_variables:
        after = np.array(keras.ops.convert_to_numpy(variable))
        (kept if np.allclose(after, before[variable.path]) else decayed).append(variable.path)
        if variable.path in decayed:
            # AdamW: w <- w - learning_rate * weight_decay * w. The schedule's one step runs at the full rate.
            np.testing.assert_allclose(after, before[variable.path] * (1 - 0.1 * 0.5), rtol=1e-5)
    assert kept and decayed
    assert all(path.endswith(("bias", "gamma", "beta")) for path in kept), kept
    assert all(path.endswith(("kernel", "embeddings")) for path in decayed), decayed
