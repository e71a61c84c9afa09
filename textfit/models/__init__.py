"""Model families, keyed by the ``model_type`` of a checkpoint's config.json."""

from types import ModuleType

from textfit.models import bert

FAMILIES: dict[str, ModuleType] = {"bert": bert}


def get_family(model_type) -> ModuleType:
    """The module that knows how to build and convert ``model_type`` checkpoints."""
    if model_type not in FAMILIES:
        raise ValueError(
            f"Unsupported model_type={model_type!r} in config.json. Supported model types: {sorted(FAMILIES)}."
        )
    return FAMILIES[model_type]
