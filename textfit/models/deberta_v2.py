"""DeBERTa-v2 and -v3 (``model_type: deberta-v2``): BERT's block with disentangled attention.

Each layer's attention scores add, to content-to-content Q·K, two position terms against a
shared table of relative-position embeddings R (``encoder.rel_embeddings``, normalised by
``encoder.LayerNorm``): content-to-position Q_i·PK[c(i,j)] and position-to-content
K_j·PQ[c(j,i)], where PK/PQ are R through the layer's own key/query projections and c is a
log-bucketed relative distance. All three are divided by sqrt(3 * head_dim). The position terms
go into the fused attention kernel as its additive bias, so DeBERTa stays on the fast path.

v3 checkpoints have no absolute positions (``position_biased_input: false``), no segments
(``type_vocab_size: 0``) and 256 buckets. Padded tokens are zeroed after the embedding norm, as
transformers does. DebertaV2ForSequenceClassification: [CLS] -> dropout(``pooler_dropout``) ->
``pooler.dense`` -> GELU -> dropout(``cls_dropout``) -> ``classifier``. Convolution layers
(``conv_kernel_size``, deberta-v2-xlarge) are not supported and refused.
"""

import functools
import math

import keras
import numpy as np
from keras import ops

from textfit.models import bert
from textfit.models.family import (
    Family,
    HeadSpec,
    WeightRow,
    config_float,
    config_int,
    dense_rows,
    embedding_row,
    norm_rows,
)
from textfit.models.layers import Dropout, Embeddings, PostNormBlock, PostNormEncoder

BLOCK_NAMES = {
    **bert.BERT_BLOCK_NAMES,
    "query": "attention.self.query_proj",
    "key": "attention.self.key_proj",
    "value": "attention.self.value_proj",
}


def log_bucket_position(relative: np.ndarray, bucket_size: int, max_position: int) -> np.ndarray:
    """DeBERTa's bucket of each relative distance: exact within ``bucket_size // 2``, log-spaced beyond.

    Computed in float32, as transformers does in torch, so the tables agree exactly.
    """
    sign = np.sign(relative)
    mid = bucket_size // 2
    abs_position = np.where((relative < mid) & (relative > -mid), mid - 1, np.abs(relative)).astype(np.float32)
    scale = np.log(np.float32((max_position - 1) / mid))
    log_position = np.ceil(np.log(abs_position / np.float32(mid)) / scale * np.float32(mid - 1)) + mid
    return np.where(abs_position <= mid, relative, log_position * sign).astype(np.int64)


@functools.lru_cache(maxsize=64)
def relative_position_indices(sequence_length: int, span: int, bucket_size: int, max_position: int):
    """Rows of the relative-embedding table that each (query, key) pair reads, for both position terms.

    Returns (c2p, p2c), each (sequence_length, sequence_length) int32: c2p[i, j] for Q_i·PK and
    p2c[j, i] for K_j·PQ (transposed before use), clipped to the table's 2 * span rows.
    """
    positions = np.arange(sequence_length)
    relative = positions[:, None] - positions[None, :]  # query - key
    if bucket_size > 0 and max_position > 0:
        relative = log_bucket_position(relative, bucket_size, max_position)
    c2p = np.clip(relative + span, 0, 2 * span - 1).astype(np.int32)
    p2c = np.clip(-relative + span, 0, 2 * span - 1).astype(np.int32)
    return c2p, p2c


class DisentangledBlock(PostNormBlock):
    """A post-LN block whose attention adds DeBERTa's relative-position terms as a bias.

    Args:
        position_terms: which terms to add: a subset of ("c2p", "p2c").
        share_attention_key: project R with the layer's own query/key Dense (v3), else with
            separate ``pos_key_proj``/``pos_query_proj`` layers.
        Other arguments: as ``PostNormBlock``.
    """

    def __init__(self, *, position_terms=("p2c", "c2p"), share_attention_key=True, **kwargs):
        super().__init__(**kwargs)
        self.position_terms = tuple(position_terms)
        self.share_attention_key = share_attention_key
        hidden_dim = self.num_heads * self.head_dim
        self.position_key = self.position_query = None
        if not share_attention_key:
            if "c2p" in self.position_terms:
                self.position_key = keras.layers.Dense(hidden_dim, name="position_key")
            if "p2c" in self.position_terms:
                self.position_query = keras.layers.Dense(hidden_dim, name="position_query")
        self.position_dropout = Dropout(kwargs.get("dropout", 0.1), seed=kwargs.get("seed", 0) + 2)

    def attention_scale(self):
        return 1.0 / math.sqrt(self.head_dim * (1 + len(self.position_terms)))

    def attention_bias(self, query, key, position_context, training=False):
        if position_context is None or not self.position_terms:
            return None
        relative_embeddings, c2p_index, p2c_index = position_context
        relative_embeddings = self.position_dropout(relative_embeddings, training=training)  # (2 * span, hidden_dim)
        batch_size, sequence_length = ops.shape(query)[0], ops.shape(query)[1]
        index_shape = (batch_size, self.num_heads, sequence_length, sequence_length)
        bias = 0.0
        if "c2p" in self.position_terms:
            projection = self.key if self.share_attention_key else self.position_key
            position_keys = ops.reshape(projection(relative_embeddings), (-1, self.num_heads, self.head_dim))  # (2s, h, d)
            scores = ops.einsum("bihd,rhd->bhir", query, position_keys)  # (batch, heads, queries, 2s)
            bias = bias + ops.take_along_axis(scores, ops.broadcast_to(c2p_index, index_shape), axis=-1)
        if "p2c" in self.position_terms:
            projection = self.query if self.share_attention_key else self.position_query
            position_queries = ops.reshape(projection(relative_embeddings), (-1, self.num_heads, self.head_dim))
            scores = ops.einsum("bjhd,rhd->bhjr", key, position_queries)  # (batch, heads, keys, 2s)
            by_key = ops.take_along_axis(scores, ops.broadcast_to(p2c_index, index_shape), axis=-1)  # [.., j, i]
            bias = bias + ops.swapaxes(by_key, -1, -2)
        return bias * self.attention_scale()  # the position terms share the content term's 1/sqrt(3d)


class DebertaV2Encoder(PostNormEncoder):
    """Embeddings, the shared relative-position table and its norm, and ``DisentangledBlock``s.

    Args:
        relative_embeddings: rows of the relative table (2 * span), or 0 without relative attention.
        normalize_relative_embeddings: apply ``encoder.LayerNorm`` to the table ("layer_norm" in
            ``norm_rel_ebd``).
        span, bucket_size, max_position: the relative-position settings (see ``relative_position_indices``).
        layer_norm_epsilon: of the table's norm.
        embeddings, blocks: as ``PostNormEncoder``.
    """

    def __init__(self, *, relative_embeddings, normalize_relative_embeddings, span, bucket_size, max_position,
                 layer_norm_epsilon, **kwargs):
        super().__init__(**kwargs)
        self.span, self.bucket_size, self.max_position = span, bucket_size, max_position
        self.relative_embeddings = (
            keras.layers.Embedding(relative_embeddings, self.hidden_dim, name="relative_embeddings") if relative_embeddings else None
        )
        self.relative_layer_norm = (
            keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, name="relative_layer_norm")
            if relative_embeddings and normalize_relative_embeddings else None
        )

    def position_context(self, hidden, training=False):
        if self.relative_embeddings is None:
            return None
        table = self.relative_embeddings(ops.arange(2 * self.span, dtype="int32"))  # (2 * span, hidden_dim)
        if self.relative_layer_norm is not None:
            table = self.relative_layer_norm(table)
        c2p, p2c = relative_position_indices(int(ops.shape(hidden)[1]), self.span, self.bucket_size, self.max_position)
        return table, ops.convert_to_tensor(c2p[None, None]), ops.convert_to_tensor(p2c[None, None])


def _position_terms(config: dict) -> tuple[str, ...]:
    terms = config.get("pos_att_type") or []
    if isinstance(terms, str):  # older configs write "p2c|c2p"
        terms = [term.strip() for term in terms.lower().split("|") if term.strip()]
    unknown = sorted(set(terms) - {"c2p", "p2c"})
    if unknown:
        raise ValueError(f"Unsupported pos_att_type {unknown} in config.json; textfit supports 'c2p' and 'p2c'.")
    return tuple(terms)


def build_backbone(config: dict, seed: int = 0) -> DebertaV2Encoder:
    if config.get("conv_kernel_size", 0):
        raise ValueError(
            f"config.json has conv_kernel_size={config['conv_kernel_size']}: DeBERTa-v2 checkpoints with a convolution "
            "layer (deberta-v2-xlarge/xxlarge) are not supported. DeBERTa-v3 checkpoints are."
        )
    hidden_dim = config_int(config, "hidden_size")
    heads = config_int(config, "num_attention_heads")
    if config.get("attention_head_size", hidden_dim // heads) != hidden_dim // heads:
        raise ValueError("config.json sets attention_head_size other than hidden_size / num_attention_heads; not supported.")
    max_positions = config_int(config, "max_position_embeddings", 512)
    embeddings = Embeddings(
        vocabulary_size=config_int(config, "vocab_size"),
        embedding_dim=config_int(config, "embedding_size", hidden_dim),
        hidden_dim=hidden_dim,
        projection="before_norm",  # embed_proj (no bias), then the LayerNorm at hidden width
        projection_use_bias=False,
        num_positions=max_positions if config.get("position_biased_input", True) else 0,
        num_segments=config_int(config, "type_vocab_size", 0, minimum=0),
        layer_norm_epsilon=config_float(config, "layer_norm_eps", 1e-7),
        zero_padding=True,
        dropout=config_float(config, "hidden_dropout_prob", 0.1),
        seed=seed,
        name="embeddings",
    )
    relative = bool(config.get("relative_attention", False))
    max_relative = config.get("max_relative_positions", -1)
    max_relative = max_positions if not isinstance(max_relative, int) or max_relative < 1 else max_relative
    bucket_size = config.get("position_buckets", -1)
    bucket_size = bucket_size if isinstance(bucket_size, int) else -1
    span = bucket_size if bucket_size > 0 else max_relative
    blocks = bert.build_blocks(
        config, seed, block_class=DisentangledBlock,
        position_terms=_position_terms(config) if relative else (),
        share_attention_key=bool(config.get("share_att_key", False)),
        layer_norm_epsilon=config_float(config, "layer_norm_eps", 1e-7),
    )
    norm_relative = "layer_norm" in [part.strip() for part in str(config.get("norm_rel_ebd", "none")).lower().split("|")]
    return DebertaV2Encoder(
        embeddings=embeddings, blocks=blocks, relative_embeddings=2 * span if relative else 0,
        normalize_relative_embeddings=norm_relative, span=span, bucket_size=bucket_size, max_position=max_relative,
        layer_norm_epsilon=config_float(config, "layer_norm_eps", 1e-7), name="backbone",
    )


def weight_table(backbone: DebertaV2Encoder) -> list[WeightRow]:
    embeddings = backbone.embeddings
    rows = [embedding_row(embeddings.token_embedding, "embeddings.word_embeddings")]
    if embeddings.position_embedding is not None:
        rows.append(embedding_row(embeddings.position_embedding, "embeddings.position_embeddings"))
    if embeddings.segment_embedding is not None:
        rows.append(embedding_row(embeddings.segment_embedding, "embeddings.token_type_embeddings"))
    if embeddings.projection is not None:
        rows += dense_rows(embeddings.projection, "embeddings.embed_proj")
    rows += norm_rows(embeddings.layer_norm, "embeddings.LayerNorm")
    if backbone.relative_embeddings is not None:
        rows.append(embedding_row(backbone.relative_embeddings, "encoder.rel_embeddings"))
    if backbone.relative_layer_norm is not None:
        rows += norm_rows(backbone.relative_layer_norm, "encoder.LayerNorm")
    for index, block in enumerate(backbone.blocks):
        prefix = f"encoder.layer.{index}."
        rows += bert.block_rows(block, prefix, BLOCK_NAMES)
        if block.position_key is not None:
            rows += dense_rows(block.position_key, prefix + "attention.self.pos_key_proj")
        if block.position_query is not None:
            rows += dense_rows(block.position_query, prefix + "attention.self.pos_query_proj")
    return rows


def head(config: dict, dropout: float | None) -> HeadSpec:
    if config.get("pooler_hidden_size", config.get("hidden_size")) != config.get("hidden_size"):
        raise ValueError("config.json sets pooler_hidden_size other than hidden_size; not supported.")
    classifier_dropout = config_float(config, "cls_dropout", config_float(config, "hidden_dropout_prob", 0.1))
    return HeadSpec(
        dense_name="pooler.dense",
        activation=config.get("pooler_hidden_act", "gelu"),
        dense_dropout=config_float(config, "pooler_dropout", 0.0),
        dropout=classifier_dropout if dropout is None else dropout,
        logits_name="classifier",
    )


FAMILY = Family(
    architectures={"deberta-v2": "DebertaV2ForSequenceClassification"},
    weight_prefix="deberta.",
    build_backbone=build_backbone,
    head=head,
    weight_table=weight_table,
    max_length=bert.max_length,
    default_pad_token_id=0,
    special_tokens="bert",
    checked_checkpoints=("microsoft/deberta-v3-base", "microsoft/deberta-v3-small", "microsoft/mdeberta-v3-base"),
)
