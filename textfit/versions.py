"""Versions of textfit and the libraries it runs on, recorded in textfit.json."""

import importlib.metadata

_LIBRARIES = ("textfit", "keras", "torch", "jax", "tokenizers", "safetensors", "numpy", "pandas")


def library_versions() -> dict[str, str]:
    """Installed version of each library textfit depends on (absent ones are skipped)."""
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
