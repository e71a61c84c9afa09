"""ALBERT (``model_type: albert``): BERT's post-LN block with its weights shared across layers.

Differences from BERT: the embeddings (word, position, token type, LayerNorm) have width
``embedding_size`` (128 in the Hub checkpoints) and ``encoder.embedding_hidden_mapping_in`` (a
Linear with bias, always present) projects them to ``hidden_size``. Only ``num_hidden_groups``
groups of ``inner_group_num`` blocks have weights; layer i runs all blocks of group
``int(i / (num_hidden_layers / num_hidden_groups))``, so one Keras block object is called once per
layer of its group and the weight table lists each shared tensor once. The block has no dropout
after its feed-forward (transformers' ``AlbertLayer.dropout`` is never applied), the activation is
``gelu_new`` (tanh approximation) by default, and the config class defaults to no dropout.
Segment ids are used (two token-type rows). AlbertForSequenceClassification: [CLS] ->
``albert.pooler`` (a Linear, no ``.dense``) + tanh -> dropout(``classifier_dropout_prob``) ->
``classifier``. The masked-LM head (``predictions.*``) of base checkpoints is unused.
"""

import keras

from textfit.models import bert
from textfit.models.family import Family, HeadSpec, WeightRow, config_float, config_int, dense_rows
from textfit.models.layers import Embeddings, PostNormBlock, PostNormEncoder, key_padding_mask

BLOCK_NAMES = {
    "query": "attention.query",
    "key": "attention.key",
    "value": "attention.value",
    "attention_output": "attention.dense",
    "attention_layer_norm": "attention.LayerNorm",
    "intermediate": "ffn",
    "output_dense": "ffn_output",
    "output_layer_norm": "full_layer_layer_norm",
}

# AlbertConfig's defaults where they differ from BERT's (BertConfig: gelu, dropout 0.1).
ALBERT_DEFAULTS = {"hidden_act": "gelu_new", "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}


class AlbertBlock(PostNormBlock):
    """``PostNormBlock`` without the dropout after the feed-forward, as ``AlbertLayer``."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Zero the rate rather than replace the layer: a replaced layer would stay tracked (and saved).
        self.output_dropout.rate = 0.0


class AlbertEncoder(PostNormEncoder):
    """Embeddings, the projection to ``hidden_dim``, then the shared block groups run layer by layer.

    Args:
        blocks: the distinct blocks, group by group (``inner_group_num`` per group).
        num_layers: layers run (``num_hidden_layers``).
        num_groups: groups of blocks (``num_hidden_groups``).
        hidden_dim: the block width.
        embeddings: an ``Embeddings`` at the embedding width, without projection.
    """

    def __init__(self, *, num_layers, num_groups, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        self.inner_group_num = len(self.blocks) // num_groups
        # transformers' rule, in floating point: int(i / (num_hidden_layers / num_hidden_groups)).
        self.layer_groups = [int(index / (num_layers / num_groups)) for index in range(num_layers)]
        self.embedding_hidden_mapping_in = keras.layers.Dense(hidden_dim, name="embedding_hidden_mapping_in")
        self.hidden_dim = hidden_dim

    def group_blocks(self, group: int) -> list:
        return self.blocks[group * self.inner_group_num : (group + 1) * self.inner_group_num]

    def call(self, token_ids, segment_ids, padding_mask, training=False):
        hidden = self.embeddings(token_ids, segment_ids, padding_mask, training=training)  # (batch, sequence, embedding_dim)
        hidden = self.embedding_hidden_mapping_in(hidden)  # (batch, sequence, hidden_dim)
        mask = key_padding_mask(padding_mask)
        for group in self.layer_groups:
            for block in self.group_blocks(group):
                hidden = block(hidden, mask, training=training)
        return hidden


def build_backbone(config: dict, seed: int = 0) -> AlbertEncoder:
    bert.check_position_embedding_type(config)
    num_layers = config_int(config, "num_hidden_layers", 12)
    num_groups = config_int(config, "num_hidden_groups", 1)
    inner_group_num = config_int(config, "inner_group_num", 1)
    config = {**ALBERT_DEFAULTS, **config}
    dropout = config_float(config, "hidden_dropout_prob", 0.0)
    embeddings = Embeddings(
        vocabulary_size=config_int(config, "vocab_size"),
        embedding_dim=config_int(config, "embedding_size", 128),
        num_positions=config_int(config, "max_position_embeddings", 512),
        num_segments=config_int(config, "type_vocab_size", 2, minimum=0),
        layer_norm_epsilon=config_float(config, "layer_norm_eps", 1e-12),
        dropout=dropout,
        seed=seed,
        name="embeddings",
    )
    block_kwargs = bert.block_kwargs(config)
    blocks = [
        AlbertBlock(**block_kwargs, seed=seed + 10 * (group * inner_group_num + inner + 1), name=f"group_{group}_block_{inner}")
        for group in range(num_groups)
        for inner in range(inner_group_num)
    ]
    return AlbertEncoder(
        embeddings=embeddings, blocks=blocks, num_layers=num_layers, num_groups=num_groups,
        hidden_dim=block_kwargs["hidden_dim"], name="backbone",
    )


def weight_table(backbone: AlbertEncoder) -> list[WeightRow]:
    rows = bert.embeddings_rows(backbone.embeddings)
    rows += dense_rows(backbone.embedding_hidden_mapping_in, "encoder.embedding_hidden_mapping_in")
    for index, block in enumerate(backbone.blocks):
        group, inner = divmod(index, backbone.inner_group_num)
        rows += bert.block_rows(block, f"encoder.albert_layer_groups.{group}.albert_layers.{inner}.", BLOCK_NAMES)
    return rows


def head(config: dict, dropout: float | None) -> HeadSpec:
    # No dropout before the pooler; classifier_dropout_prob (AlbertConfig's default 0.1) after it.
    rate = config_float(config, "classifier_dropout_prob", 0.1) if dropout is None else dropout
    return HeadSpec(dense_name="albert.pooler", activation="tanh", dropout=rate, logits_name="classifier")


FAMILY = Family(
    architectures={"albert": "AlbertForSequenceClassification"},
    weight_prefix="albert.",
    build_backbone=build_backbone,
    head=head,
    weight_table=weight_table,
    max_length=bert.max_length,
    default_pad_token_id=0,
    special_tokens="bert",
    checked_checkpoints=("albert-base-v2",),
)
