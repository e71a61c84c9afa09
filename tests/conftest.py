"""Shared fixtures: a tiny random BERT checkpoint in Hugging Face format, written with numpy + safetensors."""

import json
import shutil
import string
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

import textfit  # noqa: F401  (selects the Keras backend before anything imports keras)

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = (
    "the a an is was it this that and or not very i you we love hate like film movie plot acting "
    "great good fun awful bad boring dull cafe resume naive over under price cheap late on time "
    "sport goal team game match vote party election market bank shares phone app"
).split()
PUNCTUATION = list(".,!?'-")
VOCAB = SPECIAL_TOKENS + WORDS + PUNCTUATION + list(string.ascii_lowercase) + [f"##{c}" for c in string.ascii_lowercase] + ["##s", "##ing", "##ed"]

TINY_CONFIG = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "vocab_size": len(VOCAB),
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 64,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
}


def tiny_weights(config: dict, seed: int = 0, with_pooler: bool = True) -> dict[str, np.ndarray]:
    """Random BERT tensors with HF names (no ``bert.`` prefix), as in a saved BertModel."""
    rng = np.random.default_rng(seed)
    hidden, intermediate = config["hidden_size"], config["intermediate_size"]

    def normal(*shape, scale=0.2):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    tensors = {
        "embeddings.word_embeddings.weight": normal(config["vocab_size"], hidden),
        "embeddings.position_embeddings.weight": normal(config["max_position_embeddings"], hidden),
        "embeddings.token_type_embeddings.weight": normal(config["type_vocab_size"], hidden),
        "embeddings.LayerNorm.weight": 1 + normal(hidden, scale=0.1),
        "embeddings.LayerNorm.bias": normal(hidden, scale=0.1),
        "embeddings.position_ids": np.arange(config["max_position_embeddings"], dtype=np.int64)[None],
    }
    for index in range(config["num_hidden_layers"]):
        prefix = f"encoder.layer.{index}."
        for name, (out_dim, in_dim) in {
            "attention.self.query": (hidden, hidden),
            "attention.self.key": (hidden, hidden),
            "attention.self.value": (hidden, hidden),
            "attention.output.dense": (hidden, hidden),
            "intermediate.dense": (intermediate, hidden),
            "output.dense": (hidden, intermediate),
        }.items():
            tensors[f"{prefix}{name}.weight"] = normal(out_dim, in_dim)
            tensors[f"{prefix}{name}.bias"] = normal(out_dim, scale=0.05)
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[f"{prefix}{name}.weight"] = 1 + normal(hidden, scale=0.1)
            tensors[f"{prefix}{name}.bias"] = normal(hidden, scale=0.1)
    if with_pooler:
        tensors["pooler.dense.weight"] = normal(hidden, hidden)
        tensors["pooler.dense.bias"] = normal(hidden, scale=0.05)
    return tensors


def write_tiny_tokenizer(checkpoint_dir: Path, *, with_tokenizer_json: bool = True) -> None:
    (checkpoint_dir / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tokenizer_config = {"do_lower_case": True, "strip_accents": None, "tokenizer_class": "BertTokenizer", "model_max_length": 64}
    (checkpoint_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config), encoding="utf-8")
    if not with_tokenizer_json:
        return
    tokenizer = Tokenizer(models.WordPiece({token: i for i, token in enumerate(VOCAB)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.save(str(checkpoint_dir / "tokenizer.json"))


def write_tiny_checkpoint(checkpoint_dir: Path, *, prefix: str = "", with_pooler: bool = True,
                          with_tokenizer_json: bool = True, seed: int = 0, config_overrides: dict | None = None) -> Path:
    """Write a complete tiny BERT checkpoint folder and return it."""
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    config = {**TINY_CONFIG, **(config_overrides or {})}
    (checkpoint_dir / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    tensors = {prefix + name: value for name, value in tiny_weights(config, seed, with_pooler).items()}
    save_file(tensors, str(checkpoint_dir / "model.safetensors"), metadata={"format": "pt"})
    write_tiny_tokenizer(checkpoint_dir, with_tokenizer_json=with_tokenizer_json)
    return checkpoint_dir


@pytest.fixture(scope="session")
def tiny_checkpoint_dir(tmp_path_factory) -> Path:
    """A tiny random BERT (2 layers, hidden 32, 4 heads, intermediate 37) in HF format. Do not modify."""
    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny-bert")


@pytest.fixture
def tiny_checkpoint_copy(tiny_checkpoint_dir, tmp_path) -> Path:
    """A fresh copy of the tiny checkpoint, for tests that change files."""
    return Path(shutil.copytree(tiny_checkpoint_dir, tmp_path / "tiny-copy"))


TOY_TEXTS = [
    "i love this film", "great acting and fun plot", "a very good movie", "i like it",
    "awful boring plot", "i hate this movie", "bad acting", "dull and boring",
]
TOY_LABELS = ["pos", "pos", "pos", "pos", "neg", "neg", "neg", "neg"]


@pytest.fixture
def toy_data():
    """Eight short texts with 'pos'/'neg' labels that the tiny model can memorise."""
    return list(TOY_TEXTS), list(TOY_LABELS)
