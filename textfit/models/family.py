"""The ``Family`` declaration: everything textfit knows about one kind of checkpoint.

A family file (``models/bert.py``, ``models/roberta.py``, ...) declares one ``Family``: how
its ``config.json`` maps to the Keras backbone, the classification head of its
``*ForSequenceClassification`` class with the Hugging Face names of the head's weights, the
weight-name table of the encoder, the padding id, the special-token template, and the
longest input its positions allow. The classifier, the weight import/export loop
(``hf/convert.py``) and the tokenizer reader only ever talk to this object, so adding a family
is one model file, one test file and one line in ``models/__init__.py``.
"""

from dataclasses import dataclass, field
from typing import Callable

import keras

# HF Linear stores (out, in); Keras Dense wants (in, out).
TRANSPOSE = "transpose"

# Special-token templates a tokenizer file may lack (vocab.txt, SentencePiece models):
# "bert" is [CLS] A [SEP] B [SEP] with segment ids 0/1; "roberta" is <s> A </s></s> B </s>, all 0.
SPECIAL_TOKEN_TEMPLATES = ("bert", "roberta")


@dataclass(frozen=True)
class WeightRow:
    """One tensor: the Keras variable, its Hugging Face name, and how to convert between them."""

    variable: keras.Variable
    hf_name: str
    transform: str | None = None


@dataclass(frozen=True, kw_only=True)
class HeadSpec:
    """A family's classification head: [pool] -> [dropout -> dense -> activation -> norm] -> dropout -> logits.

    Names are the full Hugging Face names of the ``*ForSequenceClassification`` checkpoint.
    The pre-classifier layers (``dense_name``, ``norm_name``) do not depend on the labels, so
    they are loaded whenever a checkpoint has them (BERT's pooler, ModernBERT's ``head.*``);
    the logits layer is loaded only when the checkpoint's labels are the ones asked for.

    Args:
        logits_name: the final Linear ("classifier", "classifier.out_proj").
        dense_name: the Linear before it, or None (a head that is just dropout + logits).
        norm_name: a LayerNorm after the dense's activation (ModernBERT), or None.
        pooling: "cls" (first token) or "mean" (over unpadded tokens).
        activation: activation after the dense (HF ``ACT2FN`` name).
        dense_use_bias, norm_use_bias: whether those layers have biases.
        norm_epsilon: epsilon of ``norm_name``.
        dense_dropout: dropout before the dense.
        dropout: dropout before the logits.
    """

    logits_name: str
    dense_name: str | None = None
    norm_name: str | None = None
    pooling: str = "cls"
    activation: str = "tanh"
    dense_use_bias: bool = True
    norm_use_bias: bool = True
    norm_epsilon: float = 1e-5
    dense_dropout: float = 0.0
    dropout: float = 0.1


@dataclass(frozen=True, kw_only=True)
class Family:
    """Everything specific to one ``model_type`` (or a few aliases sharing an architecture).

    Args:
        architectures: model_type -> the transformers class written to config.json
            (e.g. {"roberta": "RobertaForSequenceClassification", "xlm-roberta": ...}).
        weight_prefix: prefix of encoder tensors in a task checkpoint ("bert.", "roberta.", "model.").
        build_backbone: (config.json as a dict, seed) -> the Keras encoder; raises ValueError on a
            config it cannot build, naming the key.
        head: (config.json, dropout override or None) -> ``HeadSpec``.
        weight_table: backbone -> ``WeightRow``s with names relative to ``weight_prefix``.
        max_length: config.json -> the most tokens the positions allow.
        default_pad_token_id: the pad id when neither config.json nor the tokenizer files say.
        special_tokens: "bert" or "roberta" (see ``SPECIAL_TOKEN_TEMPLATES``), for tokenizer files
            without a template.
        ignored_tensors: suffixes of buffers that checkpoints carry but are not weights.
        checked_checkpoints: Hub checkpoints whose layout the tests mirror (for the README).
    """

    architectures: dict[str, str]
    weight_prefix: str
    build_backbone: Callable[[dict, int], keras.layers.Layer]
    head: Callable[[dict, float | None], HeadSpec]
    weight_table: Callable[[keras.layers.Layer], list[WeightRow]]
    max_length: Callable[[dict], int]
    default_pad_token_id: int = 0
    special_tokens: str = "bert"
    ignored_tensors: tuple[str, ...] = ("position_ids", "token_type_ids")
    checked_checkpoints: tuple[str, ...] = field(default=())

    @property
    def model_types(self) -> tuple[str, ...]:
        return tuple(self.architectures)

    def architecture(self, model_type: str) -> str:
        """The transformers class name to write for ``model_type`` (an alias keeps its own class)."""
        return self.architectures[model_type]


def dense_rows(dense: keras.layers.Dense, hf_name: str) -> list[WeightRow]:
    """Kernel (transposed) and bias of a Dense, under ``hf_name.weight`` / ``hf_name.bias``."""
    rows = [WeightRow(dense.kernel, f"{hf_name}.weight", TRANSPOSE)]
    if dense.use_bias:
        rows.append(WeightRow(dense.bias, f"{hf_name}.bias"))
    return rows


def norm_rows(norm: keras.layers.LayerNormalization, hf_name: str) -> list[WeightRow]:
    """Scale and offset of a LayerNorm, under ``hf_name.weight`` / ``hf_name.bias``."""
    rows = [WeightRow(norm.gamma, f"{hf_name}.weight")]
    if norm.center:
        rows.append(WeightRow(norm.beta, f"{hf_name}.bias"))
    return rows


def embedding_row(embedding: keras.layers.Embedding, hf_name: str) -> WeightRow:
    return WeightRow(embedding.embeddings, f"{hf_name}.weight")


def config_int(config: dict, key: str, default=None, *, minimum: int = 1) -> int:
    """A positive integer from config.json, or a ValueError that names the key."""
    value = config.get(key, default)
    if value is None:
        raise ValueError(f"config.json lacks {key!r}; it is not a complete {config.get('model_type')} config.")
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"config.json: {key} must be {expected}, found {value!r}. The config is damaged.")
    return value


def config_float(config: dict, key: str, default: float) -> float:
    """A float from config.json (None means the default), or a ValueError that names the key."""
    value = config.get(key)
    if value is None:
        return default
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"config.json: {key} must be a number, found {value!r}. The config is damaged.")
    return float(value)


def check_heads(hidden_dim: int, num_heads: int, hidden_key: str = "hidden_size", heads_key: str = "num_attention_heads") -> None:
    if hidden_dim % num_heads:
        raise ValueError(
            f"config.json: {hidden_key}={hidden_dim} is not divisible by {heads_key}={num_heads}. The config is damaged."
        )
