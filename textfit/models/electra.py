"""ELECTRA (``model_type: electra``): BERT's encoder with a narrower embedding projected up.

The discriminator checkpoints (google/electra-*-discriminator) are what people fine-tune. Their
embeddings have width ``embedding_size``; when it differs from ``hidden_size`` (small: 128 vs
256) ``electra.embeddings_project`` follows the embedding LayerNorm. There is no pooler.
ElectraForSequenceClassification: [CLS] -> dropout -> ``classifier.dense`` -> GELU -> dropout
-> ``classifier.out_proj``. The pre-training head (``discriminator_predictions.*``) is unused.
"""

from textfit.models import bert
from textfit.models.family import Family, HeadSpec, WeightRow, config_float, config_int, dense_rows
from textfit.models.layers import Embeddings, PostNormEncoder


def build_backbone(config: dict, seed: int = 0) -> PostNormEncoder:
    bert.check_position_embedding_type(config)
    hidden_dim = config_int(config, "hidden_size")
    embeddings = Embeddings(
        vocabulary_size=config_int(config, "vocab_size"),
        embedding_dim=config_int(config, "embedding_size", hidden_dim),
        hidden_dim=hidden_dim,
        projection="after_norm",  # LayerNorm at embedding width, then embeddings_project
        num_positions=config_int(config, "max_position_embeddings", 512),
        num_segments=config_int(config, "type_vocab_size", 2, minimum=0),
        layer_norm_epsilon=config_float(config, "layer_norm_eps", 1e-12),
        dropout=config_float(config, "hidden_dropout_prob", 0.1),
        seed=seed,
        name="embeddings",
    )
    return PostNormEncoder(embeddings=embeddings, blocks=bert.build_blocks(config, seed), name="backbone")


def weight_table(backbone: PostNormEncoder) -> list[WeightRow]:
    rows = bert.embeddings_rows(backbone.embeddings)
    if backbone.embeddings.projection is not None:
        rows += dense_rows(backbone.embeddings.projection, "embeddings_project")
    for index, block in enumerate(backbone.blocks):
        rows += bert.block_rows(block, f"encoder.layer.{index}.", bert.BERT_BLOCK_NAMES)
    return rows


def head(config: dict, dropout: float | None) -> HeadSpec:
    rate = bert.classifier_dropout(config) if dropout is None else dropout
    return HeadSpec(
        dense_name="classifier.dense", activation="gelu", dense_dropout=rate, dropout=rate, logits_name="classifier.out_proj"
    )


FAMILY = Family(
    architectures={"electra": "ElectraForSequenceClassification"},
    weight_prefix="electra.",
    build_backbone=build_backbone,
    head=head,
    weight_table=weight_table,
    max_length=bert.max_length,
    default_pad_token_id=0,
    special_tokens="bert",
    checked_checkpoints=("google/electra-base-discriminator", "google/electra-small-discriminator"),
)
