"""ModernBERT (``model_type: modernbert``): a pre-LayerNorm encoder with rotary positions and GeGLU.

Differences from BERT: LayerNorms and Dense layers without biases (by default), the norm before
each sub-layer (layer 0 has none before attention) and one after the last layer; no position
table: rotary embeddings (NeoX style) on queries and keys, theta 160,000 on global layers and
10,000 on local ones; every ``global_attn_every_n_layers``-th layer attends globally, the others
within ``local_attention // 2`` tokens either side (a mask on the fused kernel); the
feed-forward is GeGLU: Wo(gelu(a) * b) with [a; b] = Wi(h). No segment ids.

ModernBertForSequenceClassification: pool ("cls" or masked "mean", ``classifier_pooling``) ->
``head.dense`` -> GELU -> ``head.norm`` -> dropout -> ``classifier``. The masked-LM checkpoint has
the same ``head.*`` tensors, which are reused; its ``decoder.*`` is unused.

Configs come in two layouts: transformers 4 writes ``global_attn_every_n_layers`` and
``global_rope_theta``/``local_rope_theta``; transformers 5 writes ``layer_types`` and
``rope_parameters``. Both are read.
"""

import math

import keras
import numpy as np
from keras import ops

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
from textfit.models.layers import Dropout, Embeddings, activation, attention, key_padding_mask

GLOBAL, LOCAL = "full_attention", "sliding_attention"
_DEFAULT_THETA = {GLOBAL: 160_000.0, LOCAL: 10_000.0}


def rotate_half(x):
    """[x1, x2] -> [-x2, x1] on the last axis (NeoX-style rotary embedding)."""
    half = ops.shape(x)[-1] // 2
    return ops.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def rotary_tables(sequence_length: int, head_dim: int, theta: float):
    """cos and sin, each (1, sequence_length, 1, head_dim), for positions 0..sequence_length-1."""
    inverse_frequencies = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    angles = np.arange(sequence_length, dtype=np.float32)[:, None] * inverse_frequencies.astype(np.float32)[None, :]
    angles = np.concatenate([angles, angles], axis=-1)  # (sequence_length, head_dim)
    return ops.convert_to_tensor(np.cos(angles)[None, :, None, :]), ops.convert_to_tensor(np.sin(angles)[None, :, None, :])


class ModernBertBlock(keras.layers.Layer):
    """h += Wo(attention(norm(h))); h += Wo(gelu(a) * b) with [a; b] = Wi(norm(h)).

    Args:
        num_heads, hidden_dim, intermediate_dim: sizes (Wi outputs 2 * intermediate_dim).
        activation: HF ``hidden_activation``.
        norm_epsilon, norm_use_bias: the LayerNorms.
        attention_use_bias, mlp_use_bias: biases of Wqkv/Wo and Wi/Wo.
        attention_norm: False for the first layer, which has no norm before attention.
        attention_dropout, mlp_dropout: dropout after attention's Wo and inside the MLP.
        seed: base seed of the dropouts.
    """

    def __init__(self, *, num_heads, hidden_dim, intermediate_dim, activation="gelu", norm_epsilon=1e-5,
                 norm_use_bias=False, attention_use_bias=False, mlp_use_bias=False, attention_norm=True,
                 attention_dropout=0.0, mlp_dropout=0.0, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads, self.head_dim = num_heads, hidden_dim // num_heads
        self.activation = activation_function(activation)
        # === Attention ===
        self.attention_norm = (
            keras.layers.LayerNormalization(epsilon=norm_epsilon, center=norm_use_bias, name="attention_norm") if attention_norm else None
        )
        self.qkv = keras.layers.Dense(3 * hidden_dim, use_bias=attention_use_bias, name="qkv")  # rows [Q; K; V]
        self.attention_output = keras.layers.Dense(hidden_dim, use_bias=attention_use_bias, name="attention_output")
        self.attention_dropout = Dropout(attention_dropout, seed=seed)
        self.attention_probabilities_dropout = attention_dropout  # transformers uses the same rate for both
        self.attention_seed_generator = keras.random.SeedGenerator(seed + 3) if attention_dropout else None
        # === Feed-forward (GeGLU) ===
        self.mlp_norm = keras.layers.LayerNormalization(epsilon=norm_epsilon, center=norm_use_bias, name="mlp_norm")
        self.mlp_input = keras.layers.Dense(2 * intermediate_dim, use_bias=mlp_use_bias, name="mlp_input")
        self.mlp_dropout = Dropout(mlp_dropout, seed=seed + 1)
        self.mlp_output = keras.layers.Dense(hidden_dim, use_bias=mlp_use_bias, name="mlp_output")

    def call(self, hidden, mask, rotary, training=False):
        batch_size, sequence_length = ops.shape(hidden)[0], ops.shape(hidden)[1]
        normed = hidden if self.attention_norm is None else self.attention_norm(hidden)
        qkv = ops.reshape(self.qkv(normed), (batch_size, sequence_length, 3, self.num_heads, self.head_dim))
        query, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # (batch, sequence_length, heads, head_dim)
        cos, sin = (ops.cast(table, query.dtype) for table in rotary)  # bfloat16 under mixed precision
        query = query * cos + rotate_half(query) * sin
        key = key * cos + rotate_half(key) * sin
        attended = attention(
            query, key, value, mask=mask, scale=1.0 / math.sqrt(self.head_dim), dropout_rate=self.attention_probabilities_dropout,
            training=training, seed_generator=self.attention_seed_generator,
        )
        attended = ops.reshape(attended, (batch_size, sequence_length, self.num_heads * self.head_dim))
        hidden = hidden + self.attention_dropout(self.attention_output(attended), training=training)
        gate_input, gate = ops.split(self.mlp_input(self.mlp_norm(hidden)), 2, axis=-1)
        feed_forward = self.mlp_dropout(self.activation(gate_input) * gate, training=training)
        return hidden + self.mlp_output(feed_forward)


def activation_function(name: str):
    return activation(name, "hidden_activation")


class ModernBertEncoder(keras.layers.Layer):
    """Embeddings (token table + norm), ``ModernBertBlock``s with global or local attention, final norm.

    Args:
        embeddings: an ``Embeddings`` without positions or segments.
        blocks: the blocks, in order.
        layer_types: ``GLOBAL`` or ``LOCAL`` per block.
        local_window: a local layer's query sees keys within this many positions either side.
        rope_theta: ``GLOBAL``/``LOCAL`` -> rotary base.
        norm_epsilon, norm_use_bias: the final norm.
    """

    def __init__(self, *, embeddings, blocks, layer_types, local_window, rope_theta, norm_epsilon, norm_use_bias, **kwargs):
        super().__init__(**kwargs)
        self.embeddings = embeddings
        self.blocks = list(blocks)
        self.layer_types = list(layer_types)
        self.local_window = local_window
        self.rope_theta = dict(rope_theta)
        self.hidden_dim = embeddings.hidden_dim
        self.final_norm = keras.layers.LayerNormalization(epsilon=norm_epsilon, center=norm_use_bias, name="final_norm")

    def call(self, token_ids, segment_ids, padding_mask, training=False):
        hidden = self.embeddings(token_ids, segment_ids, padding_mask, training=training)
        sequence_length = int(ops.shape(token_ids)[1])
        head_dim = self.blocks[0].head_dim
        keys = key_padding_mask(padding_mask)  # (batch, 1, 1, sequence_length)
        positions = np.arange(sequence_length)
        window = np.abs(positions[:, None] - positions[None, :]) <= self.local_window
        masks = {GLOBAL: keys, LOCAL: ops.logical_and(keys, ops.convert_to_tensor(window[None, None]))}
        rotary = {kind: rotary_tables(sequence_length, head_dim, self.rope_theta[kind]) for kind in set(self.layer_types)}
        for block, kind in zip(self.blocks, self.layer_types):
            hidden = block(hidden, masks[kind], rotary[kind], training=training)
        return self.final_norm(hidden)  # (batch, sequence_length, hidden_dim)


def _layer_types(config: dict, num_layers: int) -> list[str]:
    layer_types = config.get("layer_types")
    if layer_types is None:
        every = config_int(config, "global_attn_every_n_layers", 3)
        layer_types = [LOCAL if index % every else GLOBAL for index in range(num_layers)]
    if len(layer_types) != num_layers or set(layer_types) - {GLOBAL, LOCAL}:
        raise ValueError(
            f"config.json: layer_types must list {GLOBAL!r} or {LOCAL!r} for each of the {num_layers} layers, "
            f"found {layer_types!r}. The config is damaged."
        )
    return list(layer_types)


def _rope_theta(config: dict) -> dict[str, float]:
    parameters = config.get("rope_parameters")
    if isinstance(parameters, dict):  # transformers 5
        theta = {}
        for kind in (GLOBAL, LOCAL):
            entry = parameters.get(kind) or {}
            if entry.get("rope_type", "default") != "default":
                raise ValueError(f"config.json: rope_type {entry['rope_type']!r} for {kind} is not supported; textfit supports 'default'.")
            theta[kind] = float(entry.get("rope_theta", _DEFAULT_THETA[kind]))
        return theta
    if config.get("rope_scaling"):
        raise ValueError("config.json sets rope_scaling, which textfit does not support for ModernBERT.")
    global_theta = config_float(config, "global_rope_theta", _DEFAULT_THETA[GLOBAL])
    # transformers 4: a local layer uses local_rope_theta, or the global one when it is null.
    return {GLOBAL: global_theta, LOCAL: config_float(config, "local_rope_theta", global_theta)}


def build_backbone(config: dict, seed: int = 0) -> ModernBertEncoder:
    hidden_dim, num_heads = config_int(config, "hidden_size"), config_int(config, "num_attention_heads")
    check_heads(hidden_dim, num_heads)
    num_layers = config_int(config, "num_hidden_layers")
    norm_epsilon = config_float(config, "norm_eps", 1e-5)
    norm_use_bias = bool(config.get("norm_bias", False))
    hidden_activation = config.get("hidden_activation", "gelu")
    activation_function(hidden_activation)  # raises on an unsupported name
    embeddings = Embeddings(
        vocabulary_size=config_int(config, "vocab_size"),
        embedding_dim=hidden_dim,
        layer_norm_epsilon=norm_epsilon,
        layer_norm_center=norm_use_bias,
        dropout=config_float(config, "embedding_dropout", 0.0),
        seed=seed,
        name="embeddings",
    )
    blocks = [
        ModernBertBlock(
            num_heads=num_heads, hidden_dim=hidden_dim, intermediate_dim=config_int(config, "intermediate_size"),
            activation=hidden_activation, norm_epsilon=norm_epsilon, norm_use_bias=norm_use_bias,
            attention_use_bias=bool(config.get("attention_bias", False)), mlp_use_bias=bool(config.get("mlp_bias", False)),
            attention_norm=index > 0, attention_dropout=config_float(config, "attention_dropout", 0.0),
            mlp_dropout=config_float(config, "mlp_dropout", 0.0), seed=seed + 10 * (index + 1), name=f"block_{index}",
        )
        for index in range(num_layers)
    ]
    return ModernBertEncoder(
        embeddings=embeddings, blocks=blocks, layer_types=_layer_types(config, num_layers),
        local_window=config_int(config, "local_attention", 128) // 2, rope_theta=_rope_theta(config),
        norm_epsilon=norm_epsilon, norm_use_bias=norm_use_bias, name="backbone",
    )


def weight_table(backbone: ModernBertEncoder) -> list[WeightRow]:
    rows = [embedding_row(backbone.embeddings.token_embedding, "embeddings.tok_embeddings")]
    rows += norm_rows(backbone.embeddings.layer_norm, "embeddings.norm")
    for index, block in enumerate(backbone.blocks):
        prefix = f"layers.{index}."
        if block.attention_norm is not None:
            rows += norm_rows(block.attention_norm, prefix + "attn_norm")
        rows += dense_rows(block.qkv, prefix + "attn.Wqkv")
        rows += dense_rows(block.attention_output, prefix + "attn.Wo")
        rows += norm_rows(block.mlp_norm, prefix + "mlp_norm")
        rows += dense_rows(block.mlp_input, prefix + "mlp.Wi")
        rows += dense_rows(block.mlp_output, prefix + "mlp.Wo")
    return rows + norm_rows(backbone.final_norm, "final_norm")


def head(config: dict, dropout: float | None) -> HeadSpec:
    return HeadSpec(
        pooling=config.get("classifier_pooling", "cls"),
        dense_name="head.dense",
        dense_use_bias=bool(config.get("classifier_bias", False)),
        activation=config.get("classifier_activation", "gelu"),
        norm_name="head.norm",
        norm_use_bias=bool(config.get("norm_bias", False)),
        norm_epsilon=config_float(config, "norm_eps", 1e-5),
        dropout=config_float(config, "classifier_dropout", 0.0) if dropout is None else dropout,
        logits_name="classifier",
    )


def max_length(config: dict) -> int:
    return config_int(config, "max_position_embeddings", 8192)


FAMILY = Family(
    architectures={"modernbert": "ModernBertForSequenceClassification"},
    weight_prefix="model.",
    build_backbone=build_backbone,
    head=head,
    weight_table=weight_table,
    max_length=max_length,
    default_pad_token_id=50283,
    special_tokens="bert",
    checked_checkpoints=("answerdotai/ModernBERT-base", "answerdotai/ModernBERT-large"),
)
