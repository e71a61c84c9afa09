"""Backend choice, and the core path on the backend the rest of the suite does not use."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from conftest import TOY_LABELS, TOY_TEXTS
from textfit import TextClassifier, backend_name

CORE_PATH = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import textfit
    checkpoint_dir, output_dir, texts, labels = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
    model = textfit.TextClassifier.from_pretrained(checkpoint_dir, labels=sorted(set(labels)), dropout=0.0)
    model.compile(learning_rate=1e-3, warmup_fraction=0.0)
    history = model.fit(texts, labels, epochs=30, batch_size=8, verbose=0)
    model.save_pretrained(output_dir)
    reloaded = textfit.TextClassifier.from_pretrained(output_dir)
    logits = reloaded.predict_logits(texts)
    assert np.allclose(logits, model.predict_logits(texts), atol=1e-6)
    print(json.dumps({"backend": textfit.backend_name(), "loss": history.history["loss"],
                      "predictions": reloaded.predict(texts), "logits": logits.tolist()}))
    """
)


def _run_python(code, *args, backend=None):
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    if backend:
        env["KERAS_BACKEND"] = backend
    completed = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout.strip().splitlines()[-1]


def test_torch_is_chosen_when_keras_backend_is_unset():
    assert _run_python("import textfit; print(textfit.backend_name())") == "torch"


def test_keras_backend_variable_is_respected():
    assert _run_python("import textfit; print(textfit.backend_name())", backend="jax") == "jax"


def test_core_path_runs_on_the_other_backend(tiny_checkpoint_dir, tmp_path):
    other = "jax" if backend_name() == "torch" else "torch"
    output_dir = tmp_path / f"saved-{other}"
    result = json.loads(
        _run_python(CORE_PATH, str(tiny_checkpoint_dir), str(output_dir), json.dumps(TOY_TEXTS), json.dumps(TOY_LABELS), backend=other)
    )
    assert result["backend"] == other
    assert result["loss"][-1] < result["loss"][0]
    assert result["predictions"] == TOY_LABELS
    # A model trained on one backend loads on the other with the same logits.
    here = TextClassifier.from_pretrained(output_dir)
    np.testing.assert_allclose(here.predict_logits(TOY_TEXTS), np.array(result["logits"]), atol=1e-5)
