"""MPNet (``model_type: mpnet``): RoBERTa's embeddings and post-LN block plus a T5-style relative-position bias.

Differences from BERT: fairseq positions with the padding row hard-coded at 1 (as RoBERTa with pad id
1, so 514 rows allow 512 tokens); no segment table; attention layers named ``attention.attn.{q,k,v,o}``;
and one table ``encoder.relative_attention_bias`` (buckets x heads), shared by every layer, whose row
for bucket(key - query) is added to the scaled attention scores. The buckets are T5's bidirectional
ones: 16 per direction, exact up to 8, log-spaced up to a distance of 128. transformers always uses
32 buckets (``compute_position_bias`` never passes the config's ``relative_attention_num_buckets``),
so rows past 32 are never read. The bias goes into the fused attention kernel as its additive bias.
MPNetForSequenceClassification: [CLS] -> dropout -> ``classifier.dense`` -> tanh -> dropout ->
``classifier.out_proj``, both dropouts at ``hidden_dropout_prob``. The masked-LM head (``lm_head.*``)
and a bare MPNetModel's ``pooler.*`` (sentence-transformers checkpoints) are unused.
"""

import functools
import math

import keras
import numpy as np
from keras import ops

from textfit.models import bert
from textfit.models.family import Family, HeadSpec, WeightRow, config_float, config_int, embedding_row
from textfit.models.layers import Embeddings, PostNormBlock, PostNormEncoder

# transformers hard-codes these three, whatever config.json says.
PADDING_INDEX = 1  # MPNetEmbeddings.padding_idx: the position row of padding
NUM_BUCKETS = 32  # MPNetEncoder.compute_position_bias(num_buckets=32)
MAX_DISTANCE = 128  # relative_position_bucket(max_distance=128)

BLOCK_NAMES = {
    "query": "attention.attn.q",
    "key": "attention.attn.k",
    "value": "attention.attn.v",
    "attention_output": "attention.attn.o",
    "attention_layer_norm": "attention.LayerNorm",
    "intermediate": "intermediate.dense",
    "output_dense": "output.dense",
    "output_layer_norm": "output.LayerNorm",
}


def relative_position_bucket(relative: np.ndarray, num_buckets: int = NUM_BUCKETS, max_distance: int = MAX_DISTANCE) -> np.ndarray:
    """T5's bidirectional bucket of each relative position (key - query), as ``MPNetEncoder.relative_position_bucket``.

    Half the buckets are for keys before the query, half for keys after it. Within a half,
    distances below a quarter of the buckets are exact, longer ones log-spaced up to
    ``max_distance`` (everything beyond shares the last bucket). The log is taken in float32,
    as transformers does in torch, so the tables agree exactly.
    """
    distance = -np.asarray(relative, dtype=np.int64)  # query - key
    half = num_buckets // 2
    bucket = (distance < 0).astype(np.int64) * half  # keys after the query use the upper half
    distance = np.abs(distance)
    max_exact = half // 2
    # log(0) never matters (0 is exact); clamping at 1 just keeps the discarded entries finite.
    log_ratio = np.log(np.maximum(distance, 1).astype(np.float32) / np.float32(max_exact))
    scaled = log_ratio / np.float32(math.log(max_distance / max_exact))  # 0 at max_exact, 1 at max_distance
    large = np.minimum(max_exact + (scaled * np.float32(half - max_exact)).astype(np.int64), half - 1)
    return bucket + np.where(distance < max_exact, distance, large)


@functools.lru_cache(maxsize=64)
def bucket_table(sequence_length: int) -> np.ndarray:
    """(sequence_length, sequence_length) int32: the bias row for query i and key j (positions from 0, padding included)."""
    positions = np.arange(sequence_length)
    return relative_position_bucket(positions[None, :] - positions[:, None]).astype(np.int32)


class RelativeBiasBlock(PostNormBlock):
    """A post-LN block that adds the encoder's relative-position bias to its scaled attention scores."""

    def attention_bias(self, query, key, position_context, training=False):
        return position_context  # (1, num_heads, queries, keys), the same for every layer


class MPNetEncoder(PostNormEncoder):
    """Embeddings, ``RelativeBiasBlock``s, and the relative-position table they share.

    Args:
        num_buckets: rows of ``encoder.relative_attention_bias`` (config ``relative_attention_num_buckets``;
            only the first 32 are read).
        num_heads: its columns.
        embeddings, blocks: as ``PostNormEncoder``.
    """

    def __init__(self, *, num_buckets, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.relative_attention_bias = keras.layers.Embedding(num_buckets, num_heads, name="relative_attention_bias")

    def position_context(self, hidden, training=False):
        buckets = ops.convert_to_tensor(bucket_table(int(ops.shape(hidden)[1])))
        bias = self.relative_attention_bias(buckets)  # (queries, keys, num_heads)
        return ops.expand_dims(ops.transpose(bias, (2, 0, 1)), 0)  # (1, num_heads, queries, keys)


def build_backbone(config: dict, seed: int = 0) -> MPNetEncoder:
    num_buckets = config_int(config, "relative_attention_num_buckets", NUM_BUCKETS)
    if num_buckets < NUM_BUCKETS:
        raise ValueError(
            f"config.json: relative_attention_num_buckets={num_buckets}, but MPNet always reads {NUM_BUCKETS} buckets "
            "(transformers ignores the setting). The config is damaged."
        )
    embeddings = Embeddings(
        vocabulary_size=config_int(config, "vocab_size"),
        embedding_dim=config_int(config, "hidden_size"),
        num_positions=config_int(config, "max_position_embeddings", 512),
        position_padding_offset=PADDING_INDEX,
        num_segments=0,
        layer_norm_epsilon=config_float(config, "layer_norm_eps", 1e-12),
        dropout=config_float(config, "hidden_dropout_prob", 0.1),
        seed=seed,
        name="embeddings",
    )
    return MPNetEncoder(
        embeddings=embeddings,
        blocks=bert.build_blocks(config, seed, block_class=RelativeBiasBlock),
        num_buckets=num_buckets,
        num_heads=config_int(config, "num_attention_heads"),
        name="backbone",
    )


def weight_table(backbone: MPNetEncoder) -> list[WeightRow]:
    # BERT's embedding names without the token_type table, then the shared bias table.
    rows = bert.embeddings_rows(backbone.embeddings)
    rows.append(embedding_row(backbone.relative_attention_bias, "encoder.relative_attention_bias"))
    for index, block in enumerate(backbone.blocks):
        rows += bert.block_rows(block, f"encoder.layer.{index}.", BLOCK_NAMES)
    return rows


def head(config: dict, dropout: float | None) -> HeadSpec:
    # MPNetClassificationHead uses hidden_dropout_prob; it never reads classifier_dropout.
    rate = config_float(config, "hidden_dropout_prob", 0.1) if dropout is None else dropout
    return HeadSpec(
        dense_name="classifier.dense", activation="tanh", dense_dropout=rate, dropout=rate, logits_name="classifier.out_proj"
    )


def max_length(config: dict) -> int:
    """Position rows minus the padding row and the rows below it: 514 rows leave 512 tokens."""
    return config_int(config, "max_position_embeddings", 512) - PADDING_INDEX - 1


FAMILY = Family(
    architectures={"mpnet": "MPNetForSequenceClassification"},
    weight_prefix="mpnet.",
    build_backbone=build_backbone,
    head=head,
    weight_table=weight_table,
    max_length=max_length,
    default_pad_token_id=PADDING_INDEX,
    special_tokens="roberta",
    checked_checkpoints=("microsoft/mpnet-base", "sentence-transformers/all-mpnet-base-v2"),
)
