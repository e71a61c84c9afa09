"""Mixed bfloat16: chosen only where it pays, float32 weights and loss, close to float32, exact resume within it."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from conftest import TOY_LABELS, TOY_TEXTS
from textfit import TextClassifier
from textfit.models import precision as precision_module
from textfit.models.precision import choose_precision


def test_explicit_choices_are_kept_and_auto_follows_cpu_backend_and_width(monkeypatch):
    assert choose_precision("float32", hidden_dim=768) == ("float32", "asked for")
    assert choose_precision("bfloat16", hidden_dim=32) == ("bfloat16", "asked for")
    assert choose_precision("auto", hidden_dim=32)[0] == "float32"  # too narrow
    monkeypatch.setattr(precision_module, "cpu_bfloat16_flags", lambda: [])
    assert "no bfloat16 matrix instructions" in choose_precision("auto", hidden_dim=768)[1]
    monkeypatch.setattr(precision_module, "cpu_bfloat16_flags", lambda: ["avx512_bf16"])
    monkeypatch.setattr(precision_module, "bfloat16_speedup", lambda: 1.1)
    assert choose_precision("auto", hidden_dim=768)[0] == "float32"  # the flag is there, the speed is not
    monkeypatch.setattr(precision_module, "bfloat16_speedup", lambda: 2.2)
    assert choose_precision("auto", hidden_dim=768) == ("bfloat16", "auto: this CPU's avx512_bf16 units run bfloat16 matmuls 2.2x faster than float32")
    with pytest.raises(ValueError, match=r"precision must be one of"):
        choose_precision("float16", hidden_dim=768)


def test_bfloat16_model_keeps_float32_weights_and_outputs_close_to_float32(tiny_checkpoint_dir, tmp_path):
    exact = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"], precision="float32", seed=1)
    fast = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"], precision="bfloat16", seed=1)
    assert fast.precision[0] == "bfloat16" and fast.backbone.blocks[0].query.compute_dtype == "bfloat16"
    assert all(variable.dtype == "float32" for variable in fast.trainable_variables)
    assert fast.logits_layer.compute_dtype == "float32"
    probabilities = lambda model: np.array([[row["neg"], row["pos"]] for row in model.predict_proba(TOY_TEXTS)])  # noqa: E731
    np.testing.assert_allclose(probabilities(fast), probabilities(exact), atol=1e-2)
    fast.compile(learning_rate=1e-3)
    history = fast.fit(TOY_TEXTS, TOY_LABELS, epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    saved = fast.save_pretrained(tmp_path / "saved")
    assert {tensor.dtype for tensor in load_file(saved / "model.safetensors").values()} == {np.dtype("float32")}
    record = json.loads((saved / "textfit.json").read_text())
    assert record["precision"]["used"] == "bfloat16" and record["model_config"]["precision"] == "bfloat16"
    reloaded = TextClassifier.from_pretrained(saved, precision="float32")
    np.testing.assert_allclose(reloaded.predict_logits(TOY_TEXTS), fast.predict_logits(TOY_TEXTS), atol=0.1)


class _Crash(Exception):
    pass


class _CrashAtStep(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)) == 7:
            raise _Crash()


def test_resume_is_exact_within_bfloat16(tiny_checkpoint_dir, tmp_path):
    def new_model():
        model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"], precision="bfloat16", seed=2)
        model.compile(learning_rate=1e-3)
        return model

    settings = dict(epochs=2, batch_size=2, verbose=0, checkpoint_every=2)
    straight = new_model()
    straight.fit(TOY_TEXTS, TOY_LABELS, checkpoint_dir=tmp_path / "straight", **settings)
    with pytest.raises(_Crash):
        new_model().fit(TOY_TEXTS, TOY_LABELS, checkpoint_dir=tmp_path / "crashed", callbacks=[_CrashAtStep()], **settings)
    resumed = new_model()
    resumed.fit(TOY_TEXTS, TOY_LABELS, checkpoint_dir=tmp_path / "crashed", **settings)
    for ours, theirs in zip(resumed.trainable_variables, straight.trainable_variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(theirs))


def test_textfit_train_runs_in_the_precision_asked_for(tiny_checkpoint_dir, tmp_path):
    from textfit import cli

    data = tmp_path / "train.csv"
    pd.DataFrame({"text": TOY_TEXTS * 4, "label": TOY_LABELS * 4}).to_csv(data, index=False)
    assert cli.main(["train", "--model", str(tiny_checkpoint_dir), "--train", str(data), "--output", str(tmp_path / "model"),
                     "--precision", "bfloat16", "--epochs", "1", "--few-shot", "off", "--baseline", "off"]) == 0
    record = json.loads((tmp_path / "model" / "textfit.json").read_text())
    assert record["precision"]["used"] == "bfloat16" and record["model_config"]["precision"] == "bfloat16"
