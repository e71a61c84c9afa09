"""Model families, keyed by the ``model_type`` of a checkpoint's config.json.

Adding a family: write ``models/<model_type>.py`` declaring ``FAMILY``, its test file, and add
the module to ``_FAMILY_MODULES`` below.
"""

from textfit.models import albert, bert, deberta_v2, distilbert, electra, modernbert, mpnet, roberta
from textfit.models.family import Family

_FAMILY_MODULES = (bert, electra, distilbert, roberta, deberta_v2, modernbert, mpnet, albert)

FAMILIES: dict[str, Family] = {
    model_type: module.FAMILY for module in _FAMILY_MODULES for model_type in module.FAMILY.model_types
}


def get_family(model_type) -> Family:
    """The ``Family`` that builds and converts ``model_type`` checkpoints, or a ValueError listing them."""
    if model_type not in FAMILIES:
        raise ValueError(
            f"Unsupported model_type={model_type!r} in config.json. Supported model types: {sorted(FAMILIES)}."
        )
    return FAMILIES[model_type]
