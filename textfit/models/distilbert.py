"""DistilBERT (``model_type: distilbert``): a 6-layer BERT without segments or pooler.

Config keys differ from BERT's (``dim``, ``hidden_dim``, ``n_layers``, ``n_heads``,
``activation``, ``dropout``); the LayerNorm epsilon is fixed at 1e-12 in transformers' code; the
attention output has no dropout. DistilBertForSequenceClassification: [CLS] ->
``pre_classifier`` -> ReLU -> dropout(``seq_classif_dropout``) -> ``classifier``.
"""

from textfit.models import bert
from textfit.models.family import Family, HeadSpec, WeightRow, check_heads, config_float, config_int
from textfit.models.layers import Embeddings, PostNormBlock, PostNormEncoder, activation

_LAYER_NORM_EPSILON = 1e-12  # hard-coded in transformers' DistilBERT, absent from its config

BLOCK_NAMES = {
    "query": "attention.q_lin",
    "key": "attention.k_lin",
    "value": "attention.v_lin",
    "attention_output": "attention.out_lin",
    "attention_layer_norm": "sa_layer_norm",
    "intermediate": "ffn.lin1",
    "output_dense": "ffn.lin2",
    "output_layer_norm": "output_layer_norm",
}


def build_backbone(config: dict, seed: int = 0) -> PostNormEncoder:
    hidden_dim, num_heads = config_int(config, "dim"), config_int(config, "n_heads")
    check_heads(hidden_dim, num_heads, "dim", "n_heads")
    hidden_act = config.get("activation", "gelu")
    activation(hidden_act, "activation")
    dropout = config_float(config, "dropout", 0.1)
    embeddings = Embeddings(
        vocabulary_size=config_int(config, "vocab_size"),
        embedding_dim=hidden_dim,
        # Sinusoidal or learned, the table is stored in the checkpoint either way.
        num_positions=config_int(config, "max_position_embeddings", 512),
        num_segments=0,
        layer_norm_epsilon=_LAYER_NORM_EPSILON,
        dropout=dropout,
        seed=seed,
        name="embeddings",
    )
    blocks = [
        PostNormBlock(
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=config_int(config, "hidden_dim"),
            activation=hidden_act,
            layer_norm_epsilon=_LAYER_NORM_EPSILON,
            dropout=dropout,
            attention_dropout=config_float(config, "attention_dropout", 0.1),
            attention_output_dropout=False,
            seed=seed + 10 * (index + 1),
            name=f"block_{index}",
        )
        for index in range(config_int(config, "n_layers"))
    ]
    return PostNormEncoder(embeddings=embeddings, blocks=blocks, name="backbone")


def weight_table(backbone: PostNormEncoder) -> list[WeightRow]:
    rows = bert.embeddings_rows(backbone.embeddings)
    for index, block in enumerate(backbone.blocks):
        rows += bert.block_rows(block, f"transformer.layer.{index}.", BLOCK_NAMES)
    return rows


def head(config: dict, dropout: float | None) -> HeadSpec:
    return HeadSpec(
        dense_name="pre_classifier",
        activation="relu",
        dropout=config_float(config, "seq_classif_dropout", 0.2) if dropout is None else dropout,
        logits_name="classifier",
    )


FAMILY = Family(
    architectures={"distilbert": "DistilBertForSequenceClassification"},
    weight_prefix="distilbert.",
    build_backbone=build_backbone,
    head=head,
    weight_table=weight_table,
    max_length=bert.max_length,
    default_pad_token_id=0,
    special_tokens="bert",
    checked_checkpoints=("distilbert-base-uncased", "distilbert-base-uncased-finetuned-sst-2-english"),
)
