"""textfit's rule for the Keras backend, applied at interpreter start.

Keras 3 reads its backend once, when it is first imported: ``KERAS_BACKEND`` if set,
else the ``backend`` of ``$KERAS_HOME/keras.json`` (``~/.keras/keras.json``, which Keras
writes on its first import), else ``"tensorflow"``. textfit never installs TensorFlow, so
``import keras`` before ``import textfit`` would crash inside Keras on a textfit install.

textfit therefore installs ``textfit_backend_hook.pth`` into site-packages (see
``setup.py``); Python's ``site`` runs its one line at every interpreter start, and it
calls :func:`apply`. That sets ``KERAS_BACKEND`` only when the backend Keras would load
on its own is not installed, to textfit's choice (torch if installed, else JAX). A
``KERAS_BACKEND`` the user set, or a ``keras.json`` naming a backend that is installed
(TensorFlow included, where it is), is left alone.

``textfit.backend`` applies the same rule (stricter: only torch or JAX) when textfit is
imported before Keras. This module must stay cheap, as every interpreter in the
environment runs it: it imports neither Keras nor any backend, only asks
``importlib.util.find_spec`` whether one is installed.
"""

import importlib.util
import os

# The backends Keras 3 knows, named as their modules are.
KERAS_BACKENDS = ("tensorflow", "jax", "torch", "numpy", "openvino")
# The backends textfit runs on, in order of preference (torch is the fastest on CPUs).
TEXTFIT_BACKENDS = ("torch", "jax")


def installed(module_name: str) -> bool:
    """Whether ``module_name`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):
        return False


def keras_config_path() -> str:
    """Where Keras reads ``keras.json`` (the same rule as ``keras.src.backend.config``)."""
    if "KERAS_HOME" in os.environ:
        keras_dir = os.environ["KERAS_HOME"]
    else:
        base_dir = os.path.expanduser("~")
        if not os.access(base_dir, os.W_OK):
            base_dir = "/tmp"
        keras_dir = os.path.join(base_dir, ".keras")
    return os.path.expanduser(os.path.join(keras_dir, "keras.json"))


def keras_configured_backend() -> str:
    """The backend Keras would load on its own: ``KERAS_BACKEND``, else keras.json's, else tensorflow."""
    requested = os.environ.get("KERAS_BACKEND")
    if requested:
        return requested
    path = keras_config_path()
    if os.path.exists(path):
        import json

        try:
            with open(path) as f:
                config = json.load(f)
        except (OSError, ValueError):
            config = None
        if isinstance(config, dict) and isinstance(config.get("backend"), str):
            return config["backend"]
    return "tensorflow"


def preferred_backend() -> str | None:
    """textfit's choice: the first installed of torch, jax (None when neither is)."""
    for name in TEXTFIT_BACKENDS:
        if installed(name):
            return name
    return None


def choose_backend(supported: tuple[str, ...] | None = None) -> str | None:
    """The backend to put in ``KERAS_BACKEND``, or None to leave Keras' own choice alone.

    A ``KERAS_BACKEND`` already set is always kept. Otherwise Keras' configured backend
    (keras.json's, else tensorflow) is kept when it is installed and, if ``supported`` is
    given, one of those; else textfit's preferred backend replaces it. Without
    ``supported`` (the interpreter-start hook), a name Keras does not know is left for
    Keras to report.
    """
    if os.environ.get("KERAS_BACKEND"):
        return None
    configured = keras_configured_backend()
    if supported is None:
        if configured not in KERAS_BACKENDS or installed(configured):
            return None
    elif configured in supported and installed(configured):
        return None
    return preferred_backend()


def apply(supported: tuple[str, ...] | None = None) -> str | None:
    """Set ``KERAS_BACKEND`` when :func:`choose_backend` says so; return what was set, if anything."""
    choice = choose_backend(supported)
    if choice:
        os.environ["KERAS_BACKEND"] = choice
    return choice
