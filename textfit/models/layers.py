"""Layers shared by the encoder families, in ``keras.layers``/``keras.ops`` only (torch and JAX).

- ``Embeddings``: token (+ position) (+ segment) embeddings, LayerNorm and dropout, with the
  variants the families need: RoBERTa's padding-offset positions, no segments, an embedding
  width projected to the hidden width (ELECTRA after the norm, DeBERTa before it).
- ``PostNormBlock``: the post-LayerNorm block of BERT and its descendants; DeBERTa subclasses it
  to add its relative-position attention bias.
- ``PostNormEncoder``: embeddings then blocks; the backbone of most families.
- ``ClassificationHead``: pooling, the optional pre-classifier dense/norm, and the ``logits``
  Dense, described by a family's ``HeadSpec``.
"""

import math

import keras
import numpy as np
from keras import ops

from textfit.models.family import HeadSpec, WeightRow, dense_rows, norm_rows

# HF activation names (``ACT2FN``) -> Keras functions. "gelu" is the exact erf form; the tanh
# approximation is a different function and shifts outputs by ~1e-3.
ACTIVATIONS = {
    "gelu": lambda x: keras.activations.gelu(x, approximate=False),
    "gelu_new": lambda x: keras.activations.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: keras.activations.gelu(x, approximate=True),
    "relu": keras.activations.relu,
    "tanh": keras.activations.tanh,
    "silu": keras.activations.silu,
    "swish": keras.activations.silu,
}

# Added to the attention scores of masked keys: large enough to zero them after softmax, small
# enough to stay finite in float32 and bfloat16 when a bias is added to it.
_MASKED_SCORE = -1e9


def activation(name: str, key: str = "hidden_act"):
    """The Keras function for an HF activation name, or a ValueError naming the config key."""
    if name not in ACTIVATIONS:
        raise ValueError(f"Unsupported {key}={name!r} in config.json. Supported: {sorted(ACTIVATIONS)}.")
    return ACTIVATIONS[name]


# Dropout on torch draws 15 random bits per element from torch's generator, 4 elements per int64
# word: ~5x fewer generator calls than torch's own dropout, whose bernoulli_ (one mt19937 draw per
# element) was ~13 % of a bfloat16 MiniLM step on CPU (torch.profiler). The rate is rounded to a
# multiple of 1/32768 (under 2e-5 off) and the kept values scaled by the exact inverse keep rate.
_DROPOUT_BITS = 15


def torch_dropout(inputs, rate: float):
    """Inverted dropout on a torch tensor at ``rate``, drawing from torch's global generator."""
    import torch

    levels = 1 << _DROPOUT_BITS
    threshold = round(rate * levels)
    if threshold <= 0:
        return inputs
    if threshold >= levels:
        return torch.zeros_like(inputs)
    count = inputs.numel()
    words = torch.empty(((count + 3) // 4,), dtype=torch.int64, device=inputs.device).random_()
    bits = words.view(torch.int16)[:count].view(inputs.shape) & (levels - 1)
    keep = (bits >= threshold).to(inputs.dtype)
    return inputs * (keep * (levels / (levels - threshold)))


class Dropout(keras.layers.Dropout):
    """``keras.layers.Dropout`` that, on torch, drops with ``torch_dropout`` instead of Keras' seeded path.

    Keras' torch dropout with a seed fills a probability tensor, draws a Bernoulli mask from a
    seeded generator and selects with ``where``. ``torch_dropout`` draws from torch's global
    generator, which ``fit`` gives a state of its own around every step (``DropoutGenerator``,
    saved with checkpoints), so runs stay reproducible and resume exactly. Other backends keep
    Keras' path. The seed generator stays a variable so checkpoints keep their layout.
    """

    def call(self, inputs, training=False):
        if training and 0.0 < self.rate and self.noise_shape is None and keras.backend.backend() == "torch":
            return torch_dropout(inputs, self.rate)
        return super().call(inputs, training=training)


def attention(query, key, value, *, mask=None, bias=None, scale=None, dropout_rate=0.0, training=False, seed_generator=None):
    """Scaled dot-product attention on (batch, sequence_length, num_heads, head_dim) tensors.

    ``mask`` is boolean, broadcastable to (batch, num_heads, queries, keys), True where a query
    may attend; ``bias`` is added to the scaled scores. Both go to the fused kernel
    (``scaled_dot_product_attention`` on torch) as one additive bias.

    In training, ``dropout_rate`` drops attention probabilities as the checkpoints were trained
    (``attention_probs_dropout_prob``): on torch by the math path SDPA itself takes on CPU when it
    drops, with ``torch_dropout`` drawing from torch's global generator (which training checkpoints
    save and restore); on other backends by an explicit softmax path drawing from ``seed_generator``.
    Inference always takes the fused kernel without dropout.
    """
    if bias is not None and mask is not None:
        bias = bias + ops.where(mask, ops.cast(0.0, bias.dtype), ops.cast(_MASKED_SCORE, bias.dtype))
        mask = None
    if not training or not dropout_rate:
        return ops.dot_product_attention(query, key, value, bias=bias, mask=mask, scale=scale)
    scale = 1.0 / math.sqrt(ops.shape(query)[-1]) if scale is None else scale
    if keras.backend.backend() == "torch":
        return _torch_attention_with_dropout(query, key, value, mask, bias, scale, dropout_rate)
    return explicit_attention(query, key, value, mask=mask, bias=bias, scale=scale, dropout_rate=dropout_rate, seed_generator=seed_generator)


def explicit_attention(query, key, value, *, mask, bias, scale, dropout_rate, seed_generator):
    """Attention with dropout on its probabilities, step by step (backends whose fused op takes no dropout)."""
    scores = ops.einsum("bqhd,bkhd->bhqk", query, key) * scale  # (batch, heads, queries, keys)
    if bias is not None:
        scores = scores + bias
    if mask is not None:
        scores = ops.where(mask, scores, ops.cast(_MASKED_SCORE, scores.dtype))
    probabilities = ops.softmax(scores, axis=-1)
    if dropout_rate:
        probabilities = keras.random.dropout(probabilities, dropout_rate, seed=seed_generator)
    return ops.einsum("bhqk,bkhd->bqhd", probabilities, value)


def _torch_attention_with_dropout(query, key, value, mask, bias, scale, dropout_rate):
    """The math path torch's SDPA takes on CPU when it drops, with ``torch_dropout`` and a float32 softmax."""
    import torch

    scores = torch.einsum("bqhd,bkhd->bhqk", query, key) * scale  # (batch, heads, queries, keys)
    if bias is not None:
        scores = scores + bias
    if mask is not None:
        scores = scores.masked_fill(~mask, _MASKED_SCORE)
    probabilities = torch.softmax(scores, dim=-1, dtype=torch.float32).to(value.dtype)
    return torch.einsum("bhqk,bkhd->bqhd", torch_dropout(probabilities, dropout_rate), value)


def key_padding_mask(padding_mask):
    """(batch, sequence_length) 0/1 -> (batch, 1, 1, sequence_length) bool: every query sees every real token."""
    return ops.cast(padding_mask, "bool")[:, None, None, :]


class Embeddings(keras.layers.Layer):
    """Token, position and segment embeddings, then LayerNorm and dropout.

    Args:
        vocabulary_size, embedding_dim: the token table.
        num_positions: rows of the absolute position table (0: no position table).
        position_padding_offset: None for positions 0, 1, 2...; an int ``p`` for RoBERTa's
            ``p + 1, p + 2, ...`` on real tokens and ``p`` on padding.
        num_segments: rows of the segment table (0: none; 1: one row, added everywhere).
        layer_norm_epsilon, layer_norm_center: the LayerNorm (center=False: no bias, ModernBERT).
        hidden_dim: the encoder width; when it differs from ``embedding_dim`` a Dense projects to it.
        projection: "after_norm" (ELECTRA: norm, dropout, then project) or "before_norm"
            (DeBERTa: project, then norm).
        projection_use_bias: whether that Dense has a bias.
        zero_padding: multiply padded positions by 0 after the norm (DeBERTa).
        dropout, seed: the dropout after the norm.
    """

    def __init__(
        self,
        *,
        vocabulary_size,
        embedding_dim,
        num_positions=0,
        position_padding_offset=None,
        num_segments=0,
        layer_norm_epsilon=1e-12,
        layer_norm_center=True,
        hidden_dim=None,
        projection="after_norm",
        projection_use_bias=True,
        zero_padding=False,
        dropout=0.1,
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim or embedding_dim
        self.num_segments = num_segments
        self.position_padding_offset = position_padding_offset
        self.zero_padding = zero_padding
        self.projection_place = projection
        self.token_embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, name="token_embedding")
        self.position_embedding = (
            keras.layers.Embedding(num_positions, embedding_dim, name="position_embedding") if num_positions else None
        )
        self.segment_embedding = (
            keras.layers.Embedding(num_segments, embedding_dim, name="segment_embedding") if num_segments else None
        )
        self.projection = None
        if self.hidden_dim != embedding_dim:
            self.projection = keras.layers.Dense(self.hidden_dim, use_bias=projection_use_bias, name="projection")
        self.layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, center=layer_norm_center, name="layer_norm")
        self.dropout = Dropout(dropout, seed=seed)

    def _position_ids(self, token_ids, padding_mask):
        if self.position_padding_offset is None:
            return ops.expand_dims(ops.arange(ops.shape(token_ids)[1], dtype="int32"), 0)  # (1, sequence_length)
        # RoBERTa (fairseq): real tokens count up from offset + 1, padding sits at the offset row.
        mask = ops.cast(padding_mask, "int32")
        return ops.cumsum(mask, axis=1) * mask + self.position_padding_offset  # (batch, sequence_length)

    def call(self, token_ids, segment_ids, padding_mask, training=False):
        hidden = self.token_embedding(token_ids)  # (batch, sequence_length, embedding_dim)
        if self.position_embedding is not None:
            hidden = hidden + self.position_embedding(self._position_ids(token_ids, padding_mask))
        if self.num_segments > 1:
            hidden = hidden + self.segment_embedding(segment_ids)
        elif self.num_segments == 1:  # a single segment row (RoBERTa) is added to every token
            hidden = hidden + self.segment_embedding(ops.zeros((1, 1), dtype="int32"))
        if self.projection is not None and self.projection_place == "before_norm":
            hidden = self.projection(hidden)
        hidden = self.layer_norm(hidden)
        if self.zero_padding:
            hidden = hidden * ops.cast(padding_mask, hidden.dtype)[:, :, None]
        hidden = self.dropout(hidden, training=training)
        if self.projection is not None and self.projection_place == "after_norm":
            hidden = self.projection(hidden)
        return hidden


class PostNormBlock(keras.layers.Layer):
    """One post-LayerNorm encoder block: LN(h + attention(h)), then LN(h + FFN(h)).

    Subclasses add an attention bias by overriding ``attention_bias`` (DeBERTa's relative
    positions). Attention runs in the fused kernel, with dropout on its probabilities while
    training (see ``attention``).

    Args:
        num_heads, hidden_dim, intermediate_dim: sizes.
        activation: HF name of the feed-forward activation.
        layer_norm_epsilon: both LayerNorms.
        dropout: hidden-state dropout rate.
        attention_dropout: dropout on the attention probabilities while training.
        attention_output_dropout: dropout after the attention output Dense (DistilBERT has none).
        seed: base seed of the dropouts.
    """

    def __init__(
        self,
        *,
        num_heads,
        hidden_dim,
        intermediate_dim,
        activation="gelu",
        layer_norm_epsilon=1e-12,
        dropout=0.1,
        attention_dropout=0.0,
        attention_output_dropout=True,
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim={hidden_dim} is not divisible by num_heads={num_heads}.")
        self.num_heads = num_heads
        self.head_dim = hidden_dim // num_heads
        self.attention_probabilities_dropout = attention_dropout
        # Draws the attention-probability dropout off torch (on torch, the fused kernel draws it).
        self.attention_seed_generator = keras.random.SeedGenerator(seed + 3) if attention_dropout else None
        # === Layers ===
        self.query = keras.layers.Dense(hidden_dim, name="query")
        self.key = keras.layers.Dense(hidden_dim, name="key")
        self.value = keras.layers.Dense(hidden_dim, name="value")
        self.attention_output = keras.layers.Dense(hidden_dim, name="attention_output")
        self.attention_dropout = Dropout(dropout if attention_output_dropout else 0.0, seed=seed)
        self.attention_layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, name="attention_layer_norm")
        self.intermediate = keras.layers.Dense(intermediate_dim, activation=ACTIVATIONS[activation], name="intermediate")
        self.output_dense = keras.layers.Dense(hidden_dim, name="output_dense")
        self.output_dropout = Dropout(dropout, seed=seed + 1)
        self.output_layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, name="output_layer_norm")

    def split_heads(self, x):
        # (batch, sequence_length, hidden_dim) -> (batch, sequence_length, num_heads, head_dim)
        return ops.reshape(x, (ops.shape(x)[0], -1, self.num_heads, self.head_dim))

    def attention_bias(self, query, key, position_context, training=False):
        """A bias added to the attention scores, (batch, num_heads, queries, keys); None for plain attention."""
        return None

    # 1/sqrt(head_dim) unless a subclass scales differently (DeBERTa divides by sqrt(3 * head_dim)).
    def attention_scale(self):
        return 1.0 / math.sqrt(self.head_dim)

    def call(self, hidden, attention_mask, position_context=None, training=False):
        query = self.split_heads(self.query(hidden))
        key = self.split_heads(self.key(hidden))
        value = self.split_heads(self.value(hidden))
        bias = self.attention_bias(query, key, position_context, training=training)
        attended = attention(
            query, key, value, mask=attention_mask, bias=bias, scale=self.attention_scale(),
            dropout_rate=self.attention_probabilities_dropout, training=training, seed_generator=self.attention_seed_generator,
        )
        attended = ops.reshape(attended, (ops.shape(hidden)[0], -1, self.num_heads * self.head_dim))
        attended = self.attention_dropout(self.attention_output(attended), training=training)
        hidden = self.attention_layer_norm(hidden + attended)
        feed_forward = self.output_dense(self.intermediate(hidden))
        feed_forward = self.output_dropout(feed_forward, training=training)
        return self.output_layer_norm(hidden + feed_forward)


class PostNormEncoder(keras.layers.Layer):
    """Embeddings, then a stack of post-LN blocks: the backbone of BERT, ELECTRA, RoBERTa, DistilBERT.

    Use a family's ``build_backbone(config)`` to make one from a checkpoint's config.json.

    Args:
        embeddings: an ``Embeddings`` layer.
        blocks: the ``PostNormBlock``s, in order.

    Example:
        >>> backbone = bert.FAMILY.build_backbone(config, 0)
        >>> backbone(token_ids, segment_ids, padding_mask).shape
        (2, 9, 384)
    """

    def __init__(self, *, embeddings: Embeddings, blocks: list, **kwargs):
        super().__init__(**kwargs)
        self.embeddings = embeddings
        self.blocks = list(blocks)
        self.hidden_dim = embeddings.hidden_dim

    def position_context(self, hidden, training=False):
        """What every block needs about positions beyond the embeddings (DeBERTa: relative embeddings)."""
        return None

    def call(self, token_ids, segment_ids, padding_mask, training=False):
        hidden = self.embeddings(token_ids, segment_ids, padding_mask, training=training)
        mask = key_padding_mask(padding_mask)
        context = self.position_context(hidden, training=training)
        for block in self.blocks:
            hidden = block(hidden, mask, position_context=context, training=training)
        return hidden  # (batch, sequence_length, hidden_dim)


class ClassificationHead(keras.layers.Layer):
    """Pool the encoder output, then [dropout, dense, activation, norm], dropout and the ``logits`` Dense.

    The ``logits`` layer has no activation: the model outputs logits, and softmax is applied
    only when probabilities are asked for.

    Args:
        spec: the family's ``HeadSpec``.
        num_classes: outputs of the ``logits`` layer.
        hidden_dim: the encoder width.
        initializer_range: stddev of new weights (HF: normal(0, initializer_range), zero bias).
        seed: seed of the new weights and of the dropouts.
        scaled_output: regression: outputs are ``logits * target_scale + target_shift``, two
            non-trainable weights set from the training targets' standard deviation and mean, so the
            Dense learns standardised targets while the model outputs the targets' own units. Export
            folds them into the Dense (transformers then returns the same numbers).
    """

    def __init__(self, spec: HeadSpec, *, num_classes, hidden_dim, initializer_range=0.02, seed=0, scaled_output=False, **kwargs):
        super().__init__(**kwargs)
        if spec.pooling not in ("cls", "mean"):
            raise ValueError(f"Unsupported classifier pooling {spec.pooling!r}; textfit supports 'cls' and 'mean'.")
        self.spec = spec
        self.dense = self.norm = None
        self.dense_dropout = Dropout(spec.dense_dropout, seed=seed + 2)
        if spec.dense_name is not None:
            self.dense = keras.layers.Dense(
                hidden_dim,
                activation=activation(spec.activation, "classifier activation"),
                use_bias=spec.dense_use_bias,
                kernel_initializer=keras.initializers.RandomNormal(stddev=initializer_range, seed=seed + 3),
                name="dense",
            )
        if spec.norm_name is not None:
            self.norm = keras.layers.LayerNormalization(epsilon=spec.norm_epsilon, center=spec.norm_use_bias, name="norm")
        self.dropout = Dropout(spec.dropout, seed=seed + 1)
        # float32 whatever the model computes in: the logits, their softmax and the loss stay exact enough.
        self.logits = keras.layers.Dense(
            num_classes, kernel_initializer=keras.initializers.RandomNormal(stddev=initializer_range, seed=seed), name="logits",
            dtype="float32",
        )
        self.target_scale = self.target_shift = None
        if scaled_output:
            self.target_scale = self.add_weight(shape=(num_classes,), initializer="ones", trainable=False, name="target_scale",
                                                dtype="float32")
            self.target_shift = self.add_weight(shape=(num_classes,), initializer="zeros", trainable=False, name="target_shift",
                                                dtype="float32")

    def set_target_scale(self, scale, shift) -> None:
        """Regression: the head's Dense then learns (target - shift) / scale."""
        self.target_scale.assign(np.full(tuple(self.target_scale.shape), scale, dtype="float32"))
        self.target_shift.assign(np.full(tuple(self.target_shift.shape), shift, dtype="float32"))

    def folded_logits(self) -> tuple[np.ndarray, np.ndarray]:
        """(kernel, bias) of the logits Dense with the target scale folded in: what transformers should compute."""
        kernel = np.asarray(keras.ops.convert_to_numpy(self.logits.kernel), dtype=np.float32)
        bias = np.asarray(keras.ops.convert_to_numpy(self.logits.bias), dtype=np.float32)
        if self.target_scale is None:
            return kernel, bias
        scale = np.asarray(keras.ops.convert_to_numpy(self.target_scale), dtype=np.float32)
        shift = np.asarray(keras.ops.convert_to_numpy(self.target_shift), dtype=np.float32)
        return kernel * scale, bias * scale + shift

    def weight_rows(self) -> tuple[list[WeightRow], list[WeightRow]]:
        """(pre-classifier rows, logits rows), with the full HF names from the spec."""
        pre_rows = []
        if self.dense is not None:
            pre_rows += dense_rows(self.dense, self.spec.dense_name)
        if self.norm is not None:
            pre_rows += norm_rows(self.norm, self.spec.norm_name)
        return pre_rows, dense_rows(self.logits, self.spec.logits_name)

    def pool(self, sequence, padding_mask):
        if self.spec.pooling == "cls":
            return sequence[:, 0, :]
        mask = ops.cast(padding_mask, sequence.dtype)[:, :, None]  # (batch, sequence_length, 1)
        return ops.sum(sequence * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)

    def features(self, sequence, padding_mask, training=False):
        """What the ``logits`` Dense reads: the pooled vector after the pre-classifier dense/norm."""
        pooled = self.pool(sequence, padding_mask)  # (batch, hidden_dim)
        if self.dense is not None:
            pooled = self.dense(self.dense_dropout(pooled, training=training))
        if self.norm is not None:
            pooled = self.norm(pooled)
        return pooled

    def call(self, sequence, padding_mask, training=False):
        features = self.features(sequence, padding_mask, training=training)
        logits = self.logits(self.dropout(features, training=training))  # (batch, num_classes)
        if self.target_scale is not None:
            logits = logits * self.target_scale + self.target_shift
        return logits
