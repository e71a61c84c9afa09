"""RoBERTa, XLM-RoBERTa and CamemBERT (``model_type: roberta | xlm-roberta | camembert``).

BERT's encoder and layer names, with fairseq's positions: real tokens count from
``pad_token_id + 1`` and padding sits at ``pad_token_id`` (1), so 514 position rows allow 512
tokens. One segment row (``type_vocab_size: 1``), added everywhere; no pooler.
*ForSequenceClassification: [CLS] -> dropout -> ``classifier.dense`` -> tanh -> dropout ->
``classifier.out_proj``. The masked-LM head (``lm_head.*``) of base checkpoints is unused.
"""

from textfit.models import bert
from textfit.models.family import Family, HeadSpec, WeightRow, config_float, config_int
from textfit.models.layers import Embeddings, PostNormEncoder

_PAD_TOKEN_ID = 1  # fairseq's <pad>; RobertaConfig's default


def _pad_token_id(config: dict) -> int:
    return config_int(config, "pad_token_id", _PAD_TOKEN_ID, minimum=0)


def build_backbone(config: dict, seed: int = 0) -> PostNormEncoder:
    bert.check_position_embedding_type(config)
    embeddings = Embeddings(
        vocabulary_size=config_int(config, "vocab_size"),
        embedding_dim=config_int(config, "hidden_size"),
        num_positions=config_int(config, "max_position_embeddings", 514),
        position_padding_offset=_pad_token_id(config),
        num_segments=config_int(config, "type_vocab_size", 1, minimum=0),
        layer_norm_epsilon=config_float(config, "layer_norm_eps", 1e-12),
        dropout=config_float(config, "hidden_dropout_prob", 0.1),
        seed=seed,
        name="embeddings",
    )
    return PostNormEncoder(embeddings=embeddings, blocks=bert.build_blocks(config, seed), name="backbone")


def head(config: dict, dropout: float | None) -> HeadSpec:
    rate = bert.classifier_dropout(config) if dropout is None else dropout
    return HeadSpec(
        dense_name="classifier.dense", activation="tanh", dense_dropout=rate, dropout=rate, logits_name="classifier.out_proj"
    )


def max_length(config: dict) -> int:
    """Position rows minus the offset: 514 rows with pad id 1 leave 512 tokens."""
    return config_int(config, "max_position_embeddings", 514) - _pad_token_id(config) - 1


def weight_table(backbone: PostNormEncoder) -> list[WeightRow]:
    return bert.weight_table(backbone)


FAMILY = Family(
    architectures={
        "roberta": "RobertaForSequenceClassification",
        "xlm-roberta": "XLMRobertaForSequenceClassification",
        "camembert": "CamembertForSequenceClassification",
    },
    weight_prefix="roberta.",
    build_backbone=build_backbone,
    head=head,
    weight_table=weight_table,
    max_length=max_length,
    default_pad_token_id=_PAD_TOKEN_ID,
    special_tokens="roberta",
    checked_checkpoints=("roberta-base", "xlm-roberta-base", "camembert-base"),
)
