"""Pick the Keras backend before Keras is imported.

Keras 3 alone defaults to TensorFlow, which textfit never requires. When
``KERAS_BACKEND`` is unset, textfit keeps the backend named in Keras' own
``keras.json`` if it is torch or JAX and installed, else picks torch if it is
installed (fastest on CPUs: ~31 examples/s with 8 s warm-up vs ~20 with 66 s of
XLA compilation for JAX on a 2-core machine), else JAX.

The rule lives in the top-level module ``textfit_backend_hook``, which textfit's
install also runs at every interpreter start (``textfit_backend_hook.pth``), so
that ``import keras`` before ``import textfit`` gets torch or JAX too instead of
failing on the missing TensorFlow. That start-up hook only steps in when the
backend Keras would load is not installed; this module, run when textfit is
imported first, also replaces an installed backend textfit does not support.
"""

import logging
import os
import sys

import textfit_backend_hook as _hook

logger = logging.getLogger("textfit")

SUPPORTED_BACKENDS = _hook.TEXTFIT_BACKENDS


def select_backend() -> str:
    """Set ``KERAS_BACKEND`` (unless the user chose a backend) and return the backend's name."""
    if "keras" in sys.modules:
        # Keras was imported before textfit: its backend is fixed already.
        import keras

        return keras.backend.backend()
    _hook.apply(supported=SUPPORTED_BACKENDS)
    backend = _hook.keras_configured_backend()
    if os.environ.get("KERAS_BACKEND") or (backend in SUPPORTED_BACKENDS and _hook.installed(backend)):
        return backend
    raise ImportError(
        "textfit needs a Keras backend: neither torch nor jax is installed. "
        "Install one with `pip install 'textfit[torch]'` (recommended on CPUs) or `pip install jax`."
    )


BACKEND = select_backend()


def backend_name() -> str:
    """The Keras backend textfit runs on ('torch' or 'jax')."""
    import keras

    return keras.backend.backend()
