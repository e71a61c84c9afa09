"""`import keras` before `import textfit` works on a textfit install (no TensorFlow needed).

Keras picks its backend when it is first imported: ``KERAS_BACKEND``, else keras.json's, else
tensorflow. textfit's install ships ``textfit_backend_hook.pth`` (see setup.py), which runs at
interpreter start and, only when that backend is not installed, sets ``KERAS_BACKEND`` to
torch (else jax). These tests run fresh interpreters, with ``KERAS_BACKEND`` unset and a
``KERAS_HOME`` of their own so that the developer's ~/.keras/keras.json plays no part.
"""

import json
import os
import site
import subprocess
import sys

import pytest

import textfit_backend_hook as hook
from textfit.backend import SUPPORTED_BACKENDS


def _run_python(code, keras_home, keras_json=None, backend=None, check=True):
    """Run ``code`` in a fresh interpreter outside the source tree; return (returncode, last stdout line, stderr)."""
    if keras_json is not None:
        (keras_home / "keras.json").write_text(json.dumps(keras_json))
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(keras_home)
    if backend:
        env["KERAS_BACKEND"] = backend
    completed = subprocess.run(
        [sys.executable, "-c", code], check=False, env=env, cwd=keras_home, capture_output=True, text=True, timeout=300
    )
    if check:
        assert completed.returncode == 0, completed.stderr[-3000:]
    lines = completed.stdout.strip().splitlines()
    return completed.returncode, lines[-1] if lines else "", completed.stderr


# What Keras writes into keras.json on its first import when none exists.
KERAS_WRITTEN_JSON = {"floatx": "float32", "epsilon": 1e-07, "backend": "tensorflow", "image_data_format": "channels_last"}

needs_no_tensorflow = pytest.mark.skipif(hook.installed("tensorflow"), reason="TensorFlow is installed: Keras' default works")


def test_the_hook_is_installed_in_site_packages():
    site_dirs = [*site.getsitepackages(), site.getusersitepackages()]
    found = [os.path.join(d, "textfit_backend_hook.pth") for d in site_dirs if os.path.exists(os.path.join(d, "textfit_backend_hook.pth"))]
    assert found, f"textfit_backend_hook.pth is in none of {site_dirs}: reinstall textfit (pip install -e .)"
    with open(found[0]) as f:
        assert f.read().startswith("import "), "site runs a .pth line only if it starts with 'import'"


@needs_no_tensorflow
def test_without_the_hook_keras_alone_would_fail(tmp_path):
    # The situation the hook fixes: the hook has set KERAS_BACKEND at start-up; undo that before Keras loads.
    code = "import os; os.environ.pop('KERAS_BACKEND', None); import keras"
    returncode, _, stderr = _run_python(code, tmp_path, keras_json=KERAS_WRITTEN_JSON, check=False)
    assert returncode != 0 and "No module named 'tensorflow'" in stderr


def test_keras_imported_before_textfit_gets_torch(tmp_path):
    code = "import keras; import textfit; print(keras.backend.backend(), textfit.backend_name())"
    assert _run_python(code, tmp_path, keras_json=KERAS_WRITTEN_JSON)[1] == "torch torch"


def test_keras_alone_builds_and_runs_a_model(tmp_path):
    # No keras.json yet: Keras writes one (naming tensorflow) and still loads torch.
    code = (
        "import numpy as np, keras\n"
        "model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\n"
        "print(keras.backend.backend(), model.predict(np.ones((4, 3), 'float32'), verbose=0).shape)"
    )
    assert _run_python(code, tmp_path)[1] == "torch (4, 2)"


def test_keras_backend_variable_is_kept(tmp_path):
    code = "import keras; import textfit; print(keras.backend.backend(), textfit.backend_name())"
    assert _run_python(code, tmp_path, keras_json=KERAS_WRITTEN_JSON, backend="jax")[1] == "jax jax"


def test_keras_json_naming_an_installed_backend_is_kept(tmp_path):
    code = "import keras; import textfit; print(keras.backend.backend(), textfit.backend_name())"
    assert _run_python(code, tmp_path, keras_json={**KERAS_WRITTEN_JSON, "backend": "jax"})[1] == "jax jax"


# The rule itself, in this process (cheap): which backend goes into KERAS_BACKEND, if any.


@pytest.fixture
def rule(monkeypatch, tmp_path):
    """Set the scene: no KERAS_BACKEND, an empty KERAS_HOME, and a chosen set of installed modules."""
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def scene(installed=("torch", "jax", "numpy"), keras_json=None):
        monkeypatch.setattr(hook, "installed", lambda name: name in installed)
        if keras_json is not None:
            (tmp_path / "keras.json").write_text(keras_json if isinstance(keras_json, str) else json.dumps(keras_json))
        # (what the start-up hook sets, what textfit sets when imported before keras)
        return hook.choose_backend(), hook.choose_backend(SUPPORTED_BACKENDS)

    return scene


def test_rule_replaces_a_missing_tensorflow(rule):
    assert rule() == ("torch", "torch")
    assert rule(keras_json=KERAS_WRITTEN_JSON) == ("torch", "torch")
    assert rule(installed=("jax",), keras_json=KERAS_WRITTEN_JSON) == ("jax", "jax")
    assert rule(installed=(), keras_json=KERAS_WRITTEN_JSON) == (None, None)


def test_rule_keeps_an_installed_tensorflow_for_keras_alone(rule):
    # Keras users with TensorFlow keep it; textfit, imported first, still runs on torch as before.
    assert rule(installed=("tensorflow", "torch", "jax"), keras_json=KERAS_WRITTEN_JSON) == (None, "torch")


def test_rule_follows_keras_json(rule):
    assert rule(keras_json={"backend": "jax"}) == (None, None)
    assert rule(installed=("torch",), keras_json={"backend": "jax"}) == ("torch", "torch")
    # Keras reports an unknown name itself; a broken file reads as no file, as in Keras.
    assert rule(keras_json={"backend": "nope"}) == (None, "torch")
    assert rule(keras_json="{not json") == ("torch", "torch")


def test_rule_keeps_keras_backend_variable(rule, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert rule() == (None, None)
    monkeypatch.setenv("KERAS_BACKEND", "")  # Keras ignores an empty value, and so does the rule
    assert rule() == ("torch", "torch")


def test_apply_sets_the_variable(rule, monkeypatch):
    rule(keras_json=KERAS_WRITTEN_JSON)
    assert hook.apply() == "torch" and os.environ["KERAS_BACKEND"] == "torch"
    assert hook.apply() is None and os.environ["KERAS_BACKEND"] == "torch"


def test_config_path_is_the_one_keras_reads():
    from keras.src.backend import config

    # Keras computed its folder when it was imported, from this process' environment (unchanged since).
    assert hook.keras_config_path() == os.path.expanduser(os.path.join(config.keras_home(), "keras.json"))
