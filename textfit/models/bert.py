"""Everything BERT-specific: HF config -> backbone kwargs, the Keras encoder, the weight table.

The encoder is post-LayerNorm BERT written with ``keras.layers``/``keras.ops`` only,
so it runs on the torch and JAX backends. Names inside textfit use Keras terms
(``hidden_dim``, ``num_layers``); HF keys appear only in the two conversion functions.
"""

import keras
from keras import ops

ARCHITECTURE = "BertForSequenceClassification"
# Prefix of encoder tensors inside a task checkpoint (BertForSequenceClassification);
# a bare BertModel (all-MiniLM-L6-v2) has none.
WEIGHT_PREFIX = "bert."
# HF Linear stores (out, in); Keras Dense wants (in, out).
TRANSPOSE = "transpose"

# HF `hidden_act` -> Keras activation. BERT's "gelu" is the exact erf form (the tanh
# approximation is a different function, and shifts outputs by ~1e-3).
_ACTIVATIONS = {
    "gelu": lambda x: keras.activations.gelu(x, approximate=False),
    "gelu_new": lambda x: keras.activations.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: keras.activations.gelu(x, approximate=True),
    "relu": keras.activations.relu,
}


def backbone_kwargs_from_hf_config(config: dict) -> dict:
    """Map a BERT ``config.json`` to ``BertBackbone`` arguments."""
    activation = config.get("hidden_act", "gelu")
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"Unsupported hidden_act={activation!r} in config.json. Supported: {sorted(_ACTIVATIONS)}."
        )
    position_type = config.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise ValueError(
            f"Unsupported position_embedding_type={position_type!r} in config.json; textfit supports 'absolute'."
        )
    sizes = ("vocab_size", "num_hidden_layers", "num_attention_heads", "hidden_size", "intermediate_size")
    missing = [key for key in sizes if key not in config]
    if missing:
        raise ValueError(f"config.json lacks the BERT keys {missing}; it is not a complete BERT config.")
    for key in (*sizes, "max_position_embeddings", "type_vocab_size"):
        value = config.get(key, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"config.json: {key} must be a positive integer, found {value!r}. The config is damaged.")
    if config["hidden_size"] % config["num_attention_heads"]:
        raise ValueError(
            f"config.json: hidden_size={config['hidden_size']} is not divisible by num_attention_heads="
            f"{config['num_attention_heads']}. The config is damaged."
        )
    try:
        return {
            "vocabulary_size": config["vocab_size"],
            "num_layers": config["num_hidden_layers"],
            "num_heads": config["num_attention_heads"],
            "hidden_dim": config["hidden_size"],
            "intermediate_dim": config["intermediate_size"],
            "max_sequence_length": config.get("max_position_embeddings", 512),
            "num_segments": config.get("type_vocab_size", 2),
            "dropout": config.get("hidden_dropout_prob", 0.1),
            "layer_norm_epsilon": config.get("layer_norm_eps", 1e-12),
            "activation": activation,
        }
    except KeyError as error:
        raise ValueError(f"config.json lacks the BERT key {error.args[0]!r}; it is not a complete BERT config.") from None


class BertTransformerLayer(keras.layers.Layer):
    """One post-LayerNorm encoder block: self-attention, then a GELU feed-forward."""

    def __init__(self, *, num_heads, hidden_dim, intermediate_dim, dropout, layer_norm_epsilon, activation, seed, **kwargs):
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim={hidden_dim} is not divisible by num_heads={num_heads}.")
        self.num_heads = num_heads
        self.head_dim = hidden_dim // num_heads
        # === Layers ===
        self.query = keras.layers.Dense(hidden_dim, name="query")
        self.key = keras.layers.Dense(hidden_dim, name="key")
        self.value = keras.layers.Dense(hidden_dim, name="value")
        self.attention_output = keras.layers.Dense(hidden_dim, name="attention_output")
        self.attention_dropout = keras.layers.Dropout(dropout, seed=seed)
        self.attention_layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, name="attention_layer_norm")
        self.intermediate = keras.layers.Dense(intermediate_dim, activation=_ACTIVATIONS[activation], name="intermediate")
        self.output_dense = keras.layers.Dense(hidden_dim, name="output_dense")
        self.output_dropout = keras.layers.Dropout(dropout, seed=seed + 1)
        self.output_layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, name="output_layer_norm")

    def _split_heads(self, x, batch_size):
        # (batch, sequence_length, hidden_dim) -> (batch, sequence_length, num_heads, head_dim)
        return ops.reshape(x, (batch_size, -1, self.num_heads, self.head_dim))

    def call(self, hidden, attention_mask, training=False):
        batch_size = ops.shape(hidden)[0]
        query = self._split_heads(self.query(hidden), batch_size)
        key = self._split_heads(self.key(hidden), batch_size)
        value = self._split_heads(self.value(hidden), batch_size)
        # Fused attention (scaled_dot_product_attention on torch). It takes no dropout on the
        # attention probabilities, so BERT's attention-probability dropout is not applied; the
        # hidden-state dropouts are.
        attended = ops.dot_product_attention(query, key, value, mask=attention_mask)
        attended = ops.reshape(attended, (batch_size, -1, self.num_heads * self.head_dim))
        attended = self.attention_dropout(self.attention_output(attended), training=training)
        hidden = self.attention_layer_norm(hidden + attended)
        feed_forward = self.output_dense(self.intermediate(hidden))
        feed_forward = self.output_dropout(feed_forward, training=training)
        return self.output_layer_norm(hidden + feed_forward)


class BertBackbone(keras.layers.Layer):
    """The BERT encoder: embeddings, ``num_layers`` transformer blocks and the tanh pooler.

    Use ``BertBackbone(**backbone_kwargs_from_hf_config(config))``; ``TextClassifier``
    does this for you and copies the checkpoint's tensors in.

    Args:
        vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim,
        max_sequence_length, num_segments: sizes, as in the HF config.
        dropout: hidden-state dropout rate.
        layer_norm_epsilon: LayerNorm epsilon (1e-12 for BERT).
        activation: HF ``hidden_act`` name.
        seed: base seed of the dropout layers.

    Example:
        >>> backbone = BertBackbone(**backbone_kwargs_from_hf_config(config))
        >>> outputs = backbone(token_ids, segment_ids, padding_mask)
        >>> outputs["sequence_output"].shape
        (2, 9, 384)
    """

    def __init__(
        self,
        *,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        max_sequence_length=512,
        num_segments=2,
        dropout=0.1,
        layer_norm_epsilon=1e-12,
        activation="gelu",
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.max_sequence_length = max_sequence_length
        self.hidden_dim = hidden_dim
        # === Embeddings ===
        self.token_embedding = keras.layers.Embedding(vocabulary_size, hidden_dim, name="token_embedding")
        self.position_embedding = keras.layers.Embedding(max_sequence_length, hidden_dim, name="position_embedding")
        self.segment_embedding = keras.layers.Embedding(num_segments, hidden_dim, name="segment_embedding")
        self.embeddings_layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, name="embeddings_layer_norm")
        self.embeddings_dropout = keras.layers.Dropout(dropout, seed=seed)
        # === Encoder ===
        self.transformer_layers = [
            BertTransformerLayer(
                num_heads=num_heads,
                hidden_dim=hidden_dim,
                intermediate_dim=intermediate_dim,
                dropout=dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                activation=activation,
                seed=seed + 10 * (index + 1),
                name=f"transformer_layer_{index}",
            )
            for index in range(num_layers)
        ]
        # === Pooler: tanh(Dense(hidden at [CLS])) ===
        self.pooler = keras.layers.Dense(hidden_dim, activation="tanh", name="pooler")

    def call(self, token_ids, segment_ids, padding_mask, training=False):
        sequence_length = ops.shape(token_ids)[1]
        positions = ops.expand_dims(ops.arange(sequence_length, dtype="int32"), 0)
        hidden = self.token_embedding(token_ids) + self.segment_embedding(segment_ids) + self.position_embedding(positions)
        hidden = self.embeddings_dropout(self.embeddings_layer_norm(hidden), training=training)
        # (batch, 1, 1, sequence_length): every query may attend to every unpadded key.
        attention_mask = ops.cast(padding_mask, "bool")[:, None, None, :]
        for layer in self.transformer_layers:
            hidden = layer(hidden, attention_mask, training=training)
        pooled = self.pooler(hidden[:, 0, :])
        return {"sequence_output": hidden, "pooled_output": pooled}


def weight_table(backbone: BertBackbone) -> list[tuple]:
    """Rows of (keras_variable, hf_name, transform): import reads them forwards, export backwards.

    HF names are given without the ``bert.`` prefix.
    """
    rows = [
        (backbone.token_embedding.embeddings, "embeddings.word_embeddings.weight", None),
        (backbone.position_embedding.embeddings, "embeddings.position_embeddings.weight", None),
        (backbone.segment_embedding.embeddings, "embeddings.token_type_embeddings.weight", None),
        (backbone.embeddings_layer_norm.gamma, "embeddings.LayerNorm.weight", None),
        (backbone.embeddings_layer_norm.beta, "embeddings.LayerNorm.bias", None),
    ]
    for index, layer in enumerate(backbone.transformer_layers):
        prefix = f"encoder.layer.{index}."
        for dense, hf_name in (
            (layer.query, "attention.self.query"),
            (layer.key, "attention.self.key"),
            (layer.value, "attention.self.value"),
            (layer.attention_output, "attention.output.dense"),
            (layer.intermediate, "intermediate.dense"),
            (layer.output_dense, "output.dense"),
        ):
            rows.append((dense.kernel, f"{prefix}{hf_name}.weight", TRANSPOSE))
            rows.append((dense.bias, f"{prefix}{hf_name}.bias", None))
        for norm, hf_name in ((layer.attention_layer_norm, "attention.output.LayerNorm"), (layer.output_layer_norm, "output.LayerNorm")):
            rows.append((norm.gamma, f"{prefix}{hf_name}.weight", None))
            rows.append((norm.beta, f"{prefix}{hf_name}.bias", None))
    rows.append((backbone.pooler.kernel, "pooler.dense.weight", TRANSPOSE))
    rows.append((backbone.pooler.bias, "pooler.dense.bias", None))
    return rows


# Tensors that may be in a checkpoint but are not weights of the encoder (buffers).
IGNORED_TENSORS = ("embeddings.position_ids",)
# Weights the encoder can do without: a sentence-embedding checkpoint may lack the pooler.
OPTIONAL_PREFIXES = ("pooler.",)


def normalize_hf_name(name: str) -> str:
    """Strip the ``bert.`` prefix and map legacy TF names (``LayerNorm.gamma``) to current ones."""
    if name.startswith(WEIGHT_PREFIX):
        name = name[len(WEIGHT_PREFIX) :]
    return name.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
