"""BERT (``model_type: bert``): config mapping, the post-LN encoder, the weight table, the head.

BertForSequenceClassification: [CLS] -> ``bert.pooler.dense`` + tanh -> dropout -> ``classifier``.
A bare BertModel may lack the pooler (sentence-embedding checkpoints); it is then new.
"""

from textfit.models.family import (
    Family,
    HeadSpec,
    WeightRow,
    check_heads,
    config_float,
    config_int,
    dense_rows,
    embedding_row,
    norm_rows,
)
from textfit.models.layers import Embeddings, PostNormBlock, PostNormEncoder, activation

# Names of one block's tensors, shared with every family that kept BERT's layer layout
# (ELECTRA, RoBERTa, DeBERTa's feed-forward).
BERT_BLOCK_NAMES = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "attention_output": "attention.output.dense",
    "attention_layer_norm": "attention.output.LayerNorm",
    "intermediate": "intermediate.dense",
    "output_dense": "output.dense",
    "output_layer_norm": "output.LayerNorm",
}


def check_position_embedding_type(config: dict) -> None:
    position_type = config.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise ValueError(
            f"Unsupported position_embedding_type={position_type!r} in config.json; textfit supports 'absolute'."
        )


def block_kwargs(config: dict) -> dict:
    """BERT-style config keys -> ``PostNormBlock`` arguments."""
    hidden_dim, num_heads = config_int(config, "hidden_size"), config_int(config, "num_attention_heads")
    check_heads(hidden_dim, num_heads)
    hidden_act = config.get("hidden_act", "gelu")
    activation(hidden_act)  # raises on an unsupported name
    return {
        "num_heads": num_heads,
        "hidden_dim": hidden_dim,
        "intermediate_dim": config_int(config, "intermediate_size"),
        "activation": hidden_act,
        "layer_norm_epsilon": config_float(config, "layer_norm_eps", 1e-12),
        "dropout": config_float(config, "hidden_dropout_prob", 0.1),
        "attention_dropout": config_float(config, "attention_probs_dropout_prob", 0.1),
    }


def build_blocks(config: dict, seed: int, block_class=PostNormBlock, **overrides) -> list:
    kwargs = {**block_kwargs(config), **overrides}
    return [
        block_class(**kwargs, seed=seed + 10 * (index + 1), name=f"block_{index}")
        for index in range(config_int(config, "num_hidden_layers"))
    ]


def build_backbone(config: dict, seed: int = 0) -> PostNormEncoder:
    """BERT's encoder from its config.json."""
    check_position_embedding_type(config)
    hidden_dim = config_int(config, "hidden_size")
    embeddings = Embeddings(
        vocabulary_size=config_int(config, "vocab_size"),
        embedding_dim=hidden_dim,
        num_positions=config_int(config, "max_position_embeddings", 512),
        num_segments=config_int(config, "type_vocab_size", 2, minimum=0),
        layer_norm_epsilon=config_float(config, "layer_norm_eps", 1e-12),
        dropout=config_float(config, "hidden_dropout_prob", 0.1),
        seed=seed,
        name="embeddings",
    )
    return PostNormEncoder(embeddings=embeddings, blocks=build_blocks(config, seed), name="backbone")


def embeddings_rows(embeddings: Embeddings, prefix: str = "embeddings.") -> list[WeightRow]:
    """BERT's embedding names: word/position/token_type tables and LayerNorm (and ELECTRA's projection)."""
    rows = [embedding_row(embeddings.token_embedding, f"{prefix}word_embeddings")]
    if embeddings.position_embedding is not None:
        rows.append(embedding_row(embeddings.position_embedding, f"{prefix}position_embeddings"))
    if embeddings.segment_embedding is not None:
        rows.append(embedding_row(embeddings.segment_embedding, f"{prefix}token_type_embeddings"))
    return rows + norm_rows(embeddings.layer_norm, f"{prefix}LayerNorm")


def block_rows(block: PostNormBlock, prefix: str, names: dict[str, str]) -> list[WeightRow]:
    """One block's rows: ``names`` maps the block's layer attributes to HF names under ``prefix``."""
    rows = []
    for attribute, hf_name in names.items():
        layer = getattr(block, attribute)
        rows += (norm_rows if attribute.endswith("layer_norm") else dense_rows)(layer, prefix + hf_name)
    return rows


def weight_table(backbone: PostNormEncoder) -> list[WeightRow]:
    rows = embeddings_rows(backbone.embeddings)
    for index, block in enumerate(backbone.blocks):
        rows += block_rows(block, f"encoder.layer.{index}.", BERT_BLOCK_NAMES)
    return rows


def classifier_dropout(config: dict) -> float:
    """transformers' rule: ``classifier_dropout`` if set, else ``hidden_dropout_prob``."""
    return config_float(config, "classifier_dropout", config_float(config, "hidden_dropout_prob", 0.1))


def head(config: dict, dropout: float | None) -> HeadSpec:
    return HeadSpec(
        dense_name="bert.pooler.dense",
        activation="tanh",
        dropout=classifier_dropout(config) if dropout is None else dropout,
        logits_name="classifier",
    )


def max_length(config: dict) -> int:
    return config_int(config, "max_position_embeddings", 512)


FAMILY = Family(
    architectures={"bert": "BertForSequenceClassification"},
    weight_prefix="bert.",
    build_backbone=build_backbone,
    head=head,
    weight_table=weight_table,
    max_length=max_length,
    default_pad_token_id=0,
    special_tokens="bert",
    checked_checkpoints=("sentence-transformers/all-MiniLM-L6-v2", "bert-base-uncased"),
)
