"""Tiny random Hugging Face checkpoints for every supported encoder family, built offline with transformers.

``write_checkpoint(model_type, folder)`` saves a folder shaped like the family's real Hub checkpoint: config.json,
model.safetensors with every parameter randomised, tokenizer.json (+ vocab files where the Hub has them) and a
tokenizer_config.json with ``tokenizer_class`` and the special tokens.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch
from conftest import VOCAB, WORDS
from tokenizers import (
    AddedToken,
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

# VOCAB/WORDS: the BERT fixtures' WordPiece vocabulary. VOCAB lists "a", "i" and "##s" twice (so ids 6, 17 and 107
# are never produced); dedupe so ids are contiguous.
WORDPIECE_VOCAB = list(dict.fromkeys(VOCAB))

FAMILIES = ("bert", "electra", "distilbert", "roberta", "xlm-roberta", "deberta-v2", "modernbert", "mpnet", "albert")

# What each real Hub base checkpoint was saved from (base="pretraining"). Names verified against the tensors each saves.
BASE_CLASSES = {
    "bert": "BertForPreTraining",  # bert-base-uncased: bert.*, cls.predictions.*, cls.seq_relationship.*
    "electra": "ElectraForPreTraining",  # electra-base-discriminator: electra.*, discriminator_predictions.*
    "distilbert": "DistilBertForMaskedLM",  # distilbert-base-uncased: distilbert.*, vocab_transform/_layer_norm/_projector
    "roberta": "RobertaForMaskedLM",  # roberta-base: roberta.*, lm_head.*
    "xlm-roberta": "XLMRobertaForMaskedLM",  # xlm-roberta-base: roberta.*, lm_head.*
    "deberta-v2": "DebertaV2ForMaskedLM",  # deberta-v3-base: deberta.*, lm_predictions.lm_head.* (legacy=False names)
    "modernbert": "ModernBertForMaskedLM",  # ModernBERT-base: model.*, head.*, decoder.bias (decoder.weight tied)
    "mpnet": "MPNetForMaskedLM",  # mpnet-base: mpnet.*, lm_head.*
    "albert": "AlbertForMaskedLM",  # albert-base-v2: albert.*, predictions.*
}

# Prefix of the encoder tensors in pretraining and task folders (base="model" folders have no prefix).
WEIGHT_PREFIXES = {
    "bert": "bert.",
    "electra": "electra.",
    "distilbert": "distilbert.",
    "roberta": "roberta.",
    "xlm-roberta": "roberta.",
    "deberta-v2": "deberta.",
    "modernbert": "model.",
    "mpnet": "mpnet.",
    "albert": "albert.",
}

# Top-level names of the non-encoder tensors: MLM/pretraining heads (unused when fine-tuning) and classifier heads.
PRETRAINING_HEAD_PREFIXES = {
    "bert": ("cls.predictions.", "cls.seq_relationship."),
    "electra": ("discriminator_predictions.",),
    "distilbert": ("vocab_transform.", "vocab_layer_norm.", "vocab_projector."),
    "roberta": ("lm_head.",),
    "xlm-roberta": ("lm_head.",),
    "deberta-v2": ("lm_predictions.lm_head.",),
    "modernbert": ("head.", "decoder."),
    "mpnet": ("lm_head.",),
    "albert": ("predictions.",),
}
TASK_HEAD_PREFIXES = {
    "bert": ("bert.pooler.", "classifier."),
    "electra": ("classifier.dense.", "classifier.out_proj."),
    "distilbert": ("pre_classifier.", "classifier."),
    "roberta": ("classifier.dense.", "classifier.out_proj."),
    "xlm-roberta": ("classifier.dense.", "classifier.out_proj."),
    "deberta-v2": ("pooler.dense.", "classifier."),
    "modernbert": ("head.", "classifier."),
    "mpnet": ("classifier.dense.", "classifier.out_proj."),
    "albert": ("albert.pooler.", "classifier."),
}

# 46-52 tokens with every family's tokenizer (pair with "a": at most 55): past DeBERTa's 8 buckets and ModernBERT's
# 8-token window, yet within the 64 positions, so parity tests need no truncation.
LONG_TEXT = ("i love this film: the acting was great and the plot was fun, but the movie was long, "
             "the price was not cheap and we were late, so the team lost the game!")
SAMPLE_TEXTS = [
    "i love this film",
    "The acting was GREAT, but the plot... not so much!",
    "Café au lait at the résumé workshop was naïve fun.",
    "São Paulo won the match 3-1 🎉⚽",
    "bad movie 👎🏽 — really boring",
    "Zürich's bank shares fell 4.5% on Monday?!",
    "Don't, won't, can't: 'quotes' and \"double quotes\".",
    "  leading spaces,   many   spaces\tand a tab",
    "naïve façade, coöperate, piñata: accents everywhere",
    "日本 and 🦜 are rare here",
    "a",
    LONG_TEXT,
]
SAMPLE_PAIRS = [
    ("i love this film", "the plot was dull"),
    ("Café au lait?", "Oui, merci! 🙂"),
    ("Zürich's bank shares", "fell 4.5% on Monday"),
    ("a", LONG_TEXT),
    ("São Paulo won 3-1 ⚽", "naïve façade"),
]

_SMALL = {"hidden": 32, "heads": 4, "layers": 2, "intermediate": 37, "dropout": 0.1, "positions": 64}


# ---------------------------------------------------------------------------------------------------------------
# Tokenizers
# ---------------------------------------------------------------------------------------------------------------

def training_sentences(count: int = 150, seed: int = 0) -> list[str]:
    """Deterministic short sentences with accents, emoji, digits and punctuation (the tokenizer training corpus)."""
    rng = random.Random(seed)
    subjects = ["I", "you", "we", "the team", "my friend", "the critic", "São Paulo", "Zürich", "the café", "Anna"]
    verbs = ["love", "hate", "like", "watched", "played", "won", "lost", "bought", "sold", "enjoyed", "visited"]
    objects = ["this film", "the movie", "the match", "a game", "the résumé", "bank shares", "the app", "the phone",
               "a naïve plot", "the façade", "the piñata", "the election", "the party", "the market", "the goal"]
    extras = ["very much", "on time", "too late", "for 3 euros", "at 10:30", "in 2024", "again", "yesterday",
              "with the fans", "under the price", "over the top", "", "", ""]
    endings = [".", "!", "?", "...", " 🙂", " 🎉", " 👍", " ⚽", "!!", ";", ", really.", " - great!", " (boring)"]
    sentences = []
    for _ in range(count):
        words = [rng.choice(subjects), rng.choice(verbs), rng.choice(objects), rng.choice(extras)]
        sentence = " ".join(word for word in words if word) + rng.choice(endings)
        if rng.random() < 0.3:
            sentence = sentence.capitalize()
        if rng.random() < 0.1:
            sentence = sentence.upper()
        if rng.random() < 0.2:
            sentence = f"\"{sentence}\" don't, won't, can't"
        sentences.append(sentence)
        # A bag of the shared BERT words too, so the long sample text is made of known words.
        sentences.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))) + rng.choice(endings))
    return sentences


def _wordpiece(vocab: list[str], unk: str) -> Tokenizer:
    # Same components as transformers' BertTokenizer/MPNetTokenizer build, so both libraries agree.
    tokenizer = Tokenizer(models.WordPiece({token: i for i, token in enumerate(vocab)}, unk_token=unk))
    tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    return tokenizer


def _bert_tokenizer() -> Tokenizer:
    tokenizer = _wordpiece(WORDPIECE_VOCAB, "[UNK]")
    tokenizer.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return tokenizer


def _mpnet_tokenizer() -> Tokenizer:
    # Like microsoft/mpnet-base: fairseq specials, then the BERT vocabulary (with its own [PAD]=4, [UNK]), then <mask>.
    vocab = ["<s>", "<pad>", "</s>", "<unk>"] + WORDPIECE_VOCAB + ["<mask>"]
    tokenizer = _wordpiece(vocab, "[UNK]")
    tokenizer.add_special_tokens(["<s>", "<pad>", "</s>", "[UNK]", AddedToken("<mask>", lstrip=True, special=True)])
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False)
    return tokenizer


def _byte_level_bpe(special_tokens: list, vocab_size: int = 600) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special_tokens, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(training_sentences(), trainer)
    return tokenizer


def _roberta_tokenizer() -> Tokenizer:
    tokenizer = _byte_level_bpe(["<s>", "<pad>", "</s>", "<unk>", AddedToken("<mask>", lstrip=True, special=True)])
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False)
    return tokenizer


def _modernbert_tokenizer() -> Tokenizer:
    # ModernBERT-base (OLMo BPE): NFC, byte-level BPE, specials appended after the merges vocabulary
    # ([UNK] 50280, [CLS] 50281, [SEP] 50282, [PAD] 50283, [MASK] 50284), so pad is not 0 or 1.
    tokenizer = _byte_level_bpe([])
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.add_special_tokens(["[UNK]", "[CLS]", "[SEP]", "[PAD]", AddedToken("[MASK]", lstrip=True, special=True)])
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return tokenizer


def _unigram(specials: list[str], unk: str, appended: list[str], normalizer, pre_tokenizer, vocab_size: int = 400) -> Tokenizer:
    """Train a Unigram model; ``appended`` specials go at the end of the vocabulary (as [MASK]/<mask> on the Hub)."""
    tokenizer = Tokenizer(models.Unigram())
    if normalizer is not None:
        tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token=unk, show_progress=False)
    tokenizer.train_from_iterator(training_sentences(), trainer)
    # Rebuild with the specials scored 0.0 (DebertaV2Tokenizer finds unk by looking up (unk, 0.0)) and the extras appended.
    pieces = json.loads(tokenizer.to_str())["model"]["vocab"]
    vocab = [(piece, 0.0 if piece in specials else score) for piece, score in pieces] + [(token, 0.0) for token in appended]
    rebuilt = Tokenizer(models.Unigram(vocab, unk_id=specials.index(unk), byte_fallback=False))
    if normalizer is not None:
        rebuilt.normalizer = normalizer
    rebuilt.pre_tokenizer = pre_tokenizer
    rebuilt.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    rebuilt.add_special_tokens(specials + appended)
    return rebuilt


def _xlm_roberta_tokenizer() -> Tokenizer:
    # XLMRobertaTokenizer (transformers 5) rebuilds WhitespaceSplit + Metaspace; the Hub's Precompiled normalizer is omitted.
    # All type ids 0, as RobertaProcessing gives (the model has one token type).
    tokenizer = _unigram(
        ["<s>", "<pad>", "</s>", "<unk>"], "<unk>", ["<mask>"], None,
        pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")]),
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s>:0 $A:0 </s>:0", pair="<s>:0 $A:0 </s>:0 </s>:0 $B:0 </s>:0", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return tokenizer


def _deberta_v2_tokenizer() -> Tokenizer:
    # The components transformers 5's DebertaV2Tokenizer builds (do_lower_case=False, split_by_punct=False).
    normalizer = normalizers.Sequence([normalizers.Replace(Regex(r"\s{2,}|[\n\r\t]"), " "), normalizers.NFC(), normalizers.Strip(left=False, right=True)])
    tokenizer = _unigram(
        ["[PAD]", "[CLS]", "[SEP]", "[UNK]"], "[UNK]", ["[MASK]"], normalizer,
        pre_tokenizers.Sequence([pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")]),
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
    )
    return tokenizer


def _albert_tokenizer() -> Tokenizer:
    # albert-base-v2's tokenizer.json components minus the Precompiled charsmap (AlbertTokenizer rebuilds the same).
    normalizer = normalizers.Sequence([
        normalizers.Replace("``", '"'), normalizers.Replace("''", '"'), normalizers.NFKD(), normalizers.StripAccents(), normalizers.Lowercase(),
    ])
    tokenizer = _unigram(
        ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"], "<unk>", [], normalizer,
        pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")]),
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return tokenizer


_BUILDERS = {
    "bert": _bert_tokenizer, "electra": _bert_tokenizer, "distilbert": _bert_tokenizer, "mpnet": _mpnet_tokenizer,
    "roberta": _roberta_tokenizer, "modernbert": _modernbert_tokenizer,
    "xlm-roberta": _xlm_roberta_tokenizer, "deberta-v2": _deberta_v2_tokenizer, "albert": _albert_tokenizer,
}
_TOKENIZERS: dict[str, str] = {}  # family -> serialised tokenizer.json (training runs once per process)


def build_tokenizer(model_type: str) -> Tokenizer:
    """The family's tokenizer (a fresh copy; built once per process)."""
    if model_type not in _TOKENIZERS:
        _TOKENIZERS[model_type] = _BUILDERS[model_type]().to_str()
    return Tokenizer.from_str(_TOKENIZERS[model_type])


_BERT_SPECIALS = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}
_FAIRSEQ_SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>", "unk_token": "<unk>",
                     "pad_token": "<pad>", "mask_token": "<mask>"}
_WORDPIECE_OPTIONS = {"do_lower_case": True, "strip_accents": None, "tokenize_chinese_chars": True}

# tokenizer_config.json per family, as on the Hub (plus the special tokens spelled out).
TOKENIZER_CONFIGS = {
    # bert-base-uncased, electra-base-discriminator and distilbert-base-uncased ship no tokenizer_class; we name one.
    "bert": {"tokenizer_class": "BertTokenizer", **_WORDPIECE_OPTIONS, **_BERT_SPECIALS, "model_max_length": 64},
    "electra": {"tokenizer_class": "ElectraTokenizer", **_WORDPIECE_OPTIONS, **_BERT_SPECIALS, "model_max_length": 64},
    "distilbert": {"tokenizer_class": "DistilBertTokenizer", **_WORDPIECE_OPTIONS, **_BERT_SPECIALS, "model_max_length": 64},
    "roberta": {"tokenizer_class": "RobertaTokenizer", **_FAIRSEQ_SPECIALS, "add_prefix_space": False, "trim_offsets": True,
                "errors": "replace", "model_max_length": 64},
    "xlm-roberta": {"tokenizer_class": "XLMRobertaTokenizer", **_FAIRSEQ_SPECIALS, "model_max_length": 64},
    "deberta-v2": {"tokenizer_class": "DebertaV2Tokenizer", "do_lower_case": False, "split_by_punct": False, "vocab_type": "spm",
                   "bos_token": "[CLS]", "eos_token": "[SEP]", **_BERT_SPECIALS, "model_max_length": 64},
    "modernbert": {"tokenizer_class": "PreTrainedTokenizerFast", **_BERT_SPECIALS, "clean_up_tokenization_spaces": True,
                   "model_input_names": ["input_ids", "attention_mask"], "model_max_length": 64},
    "mpnet": {"tokenizer_class": "MPNetTokenizer", **_WORDPIECE_OPTIONS, **_FAIRSEQ_SPECIALS, "unk_token": "[UNK]", "model_max_length": 64},
    "albert": {"tokenizer_class": "AlbertTokenizer", "do_lower_case": True, "keep_accents": False, "remove_space": True,
               "bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "<unk>", "sep_token": "[SEP]", "pad_token": "<pad>",
               "cls_token": "[CLS]", "mask_token": "[MASK]", "model_max_length": 64},
}


def write_tokenizer(model_type: str, folder) -> Tokenizer:
    """Write tokenizer.json, the Hub's extra vocabulary files and tokenizer_config.json; return the tokenizer."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(model_type)
    tokenizer.save(str(folder / "tokenizer.json"))
    if model_type in ("bert", "electra", "distilbert", "mpnet"):
        vocab = sorted(tokenizer.get_vocab(with_added_tokens=False).items(), key=lambda item: item[1])
        (folder / "vocab.txt").write_text("".join(token + "\n" for token, _ in vocab), encoding="utf-8")
    elif model_type == "roberta":
        tokenizer.model.save(str(folder))  # vocab.json + merges.txt, as in roberta-base
    (folder / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIGS[model_type], indent=2), encoding="utf-8")
    return tokenizer


# ---------------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------------

def _bert_like(vocab_size: int, **extra) -> dict:
    return {
        "vocab_size": vocab_size, "hidden_size": _SMALL["hidden"], "num_hidden_layers": _SMALL["layers"],
        "num_attention_heads": _SMALL["heads"], "intermediate_size": _SMALL["intermediate"], "hidden_act": "gelu",
        "hidden_dropout_prob": _SMALL["dropout"], "attention_probs_dropout_prob": _SMALL["dropout"],
        "max_position_embeddings": _SMALL["positions"], "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0, **extra,
    }


def _roberta_like(vocab_size: int, **extra) -> dict:
    # Hub values: positions = max length + pad + 1 (514), one token type, eps 1e-5, fairseq special ids.
    return _bert_like(vocab_size, max_position_embeddings=_SMALL["positions"] + 2, type_vocab_size=1, layer_norm_eps=1e-5,
                      pad_token_id=1, bos_token_id=0, eos_token_id=2, **extra)


def tiny_config(model_type: str, vocab_size: int, special_ids: dict[str, int]) -> dict:
    """Config keyword arguments for a tiny model of the family."""
    if model_type == "bert":
        return _bert_like(vocab_size)
    if model_type == "electra":
        return _bert_like(vocab_size, embedding_size=16)  # ≠ hidden: exercises embeddings_project
    if model_type == "distilbert":
        return {"vocab_size": vocab_size, "dim": _SMALL["hidden"], "n_layers": _SMALL["layers"], "n_heads": _SMALL["heads"],
                "hidden_dim": _SMALL["intermediate"], "dropout": _SMALL["dropout"], "attention_dropout": _SMALL["dropout"],
                "seq_classif_dropout": 0.2, "qa_dropout": _SMALL["dropout"], "max_position_embeddings": _SMALL["positions"],
                "activation": "gelu", "sinusoidal_pos_embds": False, "pad_token_id": 0}
    if model_type in ("roberta", "xlm-roberta"):
        return _roberta_like(vocab_size)
    if model_type == "mpnet":
        # relative_attention_num_buckets stays at its default (32).
        return {key: value for key, value in _roberta_like(vocab_size).items() if key != "type_vocab_size"}
    if model_type == "deberta-v2":
        # deberta-v3-base settings, shrunk: no absolute positions, no token types, bucketed relative positions.
        return _bert_like(
            vocab_size, type_vocab_size=0, layer_norm_eps=1e-7, relative_attention=True, position_buckets=8, max_relative_positions=-1,
            pos_att_type=["p2c", "c2p"], position_biased_input=False, norm_rel_ebd="layer_norm", share_att_key=True,
            pooler_dropout=_SMALL["dropout"], pooler_hidden_act="gelu", pooler_hidden_size=_SMALL["hidden"], legacy=False,
        )
    if model_type == "modernbert":
        return {
            "vocab_size": vocab_size, "hidden_size": _SMALL["hidden"], "num_hidden_layers": 4, "num_attention_heads": _SMALL["heads"],
            "intermediate_size": 48, "max_position_embeddings": _SMALL["positions"], "norm_eps": 1e-5,
            "local_attention": 8, "global_attn_every_n_layers": 3, "global_rope_theta": 160000.0, "local_rope_theta": 10000.0,
            "attention_dropout": _SMALL["dropout"], "embedding_dropout": _SMALL["dropout"], "mlp_dropout": _SMALL["dropout"],
            "classifier_dropout": _SMALL["dropout"], "classifier_pooling": "mean",  # ModernBERT-base ships "mean"
            "pad_token_id": special_ids["[PAD]"], "bos_token_id": special_ids["[CLS]"], "cls_token_id": special_ids["[CLS]"],
            "eos_token_id": special_ids["[SEP]"], "sep_token_id": special_ids["[SEP]"],
        }
    if model_type == "albert":
        return _bert_like(vocab_size, embedding_size=16, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=1,
                          hidden_act="gelu_new", classifier_dropout_prob=_SMALL["dropout"], bos_token_id=2, eos_token_id=3)
    raise ValueError(f"unknown model_type {model_type!r}; expected one of {FAMILIES}")


def _model_vocab_size(model_type: str, tokenizer: Tokenizer) -> int:
    size = max(tokenizer.get_vocab(with_added_tokens=True).values()) + 1
    if model_type in ("deberta-v2", "modernbert"):
        return -(-size // 16) * 16  # padded embedding rows, like deberta-v3 (128100) and ModernBERT (50368)
    return size


@torch.no_grad()
def randomise(model: torch.nn.Module, seed: int = 0) -> None:
    """Set every parameter to normal(0, 0.2), norm weights to 1 + normal(0, 0.1): nothing stays at HF's 0/1 init."""
    generator = torch.Generator().manual_seed(seed)
    seen = set()
    for module_name, module in model.named_modules():
        is_norm = isinstance(module, torch.nn.LayerNorm) or "norm" in type(module).__name__.lower()
        for name, parameter in module.named_parameters(recurse=False):
            if id(parameter) in seen:  # tied weights: randomise once
                continue
            seen.add(id(parameter))
            noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float32)
            if is_norm and name == "weight":
                parameter.copy_(1 + 0.1 * noise)
            elif is_norm:
                parameter.copy_(0.1 * noise)
            else:
                parameter.copy_(0.2 * noise)


def write_checkpoint(model_type: str, folder, *, task: bool = False, base: str = "pretraining",
                     labels=("neg", "pos", "meh"), seed: int = 0, **config_overrides) -> Path:
    """Write a tiny random checkpoint folder of the family and return it.

    task=True saves ``AutoModelForSequenceClassification`` with id2label/label2id from ``labels`` (a fine-tuned classifier);
    otherwise base="pretraining" saves ``BASE_CLASSES[model_type]`` (Hub-like base folder) and base="model" the bare encoder.
    ``config_overrides`` go to the config class.
    """
    import transformers

    if model_type not in FAMILIES:
        raise ValueError(f"unknown model_type {model_type!r}; expected one of {FAMILIES}")
    if base not in ("pretraining", "model"):
        raise ValueError(f"base must be 'pretraining' or 'model', not {base!r}")
    folder = Path(folder)
    tokenizer = write_tokenizer(model_type, folder)
    special_ids = {token: tokenizer.token_to_id(token) for token in ("[PAD]", "[CLS]", "[SEP]")}
    kwargs = {**tiny_config(model_type, _model_vocab_size(model_type, tokenizer), special_ids), **config_overrides}
    if task:
        kwargs["id2label"] = dict(enumerate(labels))
        kwargs["label2id"] = {label: i for i, label in enumerate(labels)}
    config = transformers.AutoConfig.for_model(model_type, **kwargs)

    torch.manual_seed(seed)
    if task:
        model = transformers.AutoModelForSequenceClassification.from_config(config)
    elif base == "model":
        model = transformers.AutoModel.from_config(config)
    else:
        model = getattr(transformers, BASE_CLASSES[model_type])(config)
    model = model.float().eval()
    randomise(model, seed)
    model.save_pretrained(folder)
    return folder


def to_v4_modernbert_config(folder) -> Path:
    """Rewrite a ModernBERT config.json in the transformers 4 layout (global/local_rope_theta, no rope_parameters/layer_types).

    transformers 5 writes ``rope_parameters`` and ``layer_types``; Hub files from transformers 4 carry the flat keys.
    """
    path = Path(folder) / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    rope = config.pop("rope_parameters")
    layer_types = config.pop("layer_types")
    config["global_rope_theta"] = rope["full_attention"]["rope_theta"]
    config["local_rope_theta"] = rope["sliding_attention"]["rope_theta"]
    full = [i for i, kind in enumerate(layer_types) if kind == "full_attention"]
    config["global_attn_every_n_layers"] = full[1] if len(full) > 1 else len(layer_types)
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return Path(folder)


# Special pieces of the real checkpoints' SentencePiece files (see tests/hf/test_sentencepiece.py for all layouts).
_SENTENCEPIECE_LAYOUTS = {
    # microsoft/deberta-v3-base spm.model: [PAD]=0 [CLS]=1 [SEP]=2 [UNK]=3; [MASK] is added after the pieces.
    "deberta-v2": ("spm.model", {"pad_id": 0, "bos_id": 1, "eos_id": 2, "unk_id": 3, "pad_piece": "[PAD]",
                                 "bos_piece": "[CLS]", "eos_piece": "[SEP]", "unk_piece": "[UNK]"}),
    # xlm-roberta-base: spm defaults (<unk>0 <s>1 </s>2); transformers moves them to fairseq's layout.
    "xlm-roberta": ("sentencepiece.bpe.model", {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1}),
    # albert-base-v2 spiece.model: <pad>=0 <unk>=1 [CLS]=2 [SEP]=3 [MASK]=4, the last three control symbols.
    "albert": ("spiece.model", {"pad_id": 0, "unk_id": 1, "bos_id": -1, "eos_id": -1, "control_symbols": ["[CLS]", "[SEP]", "[MASK]"]}),
}

# tokenizer_config.json of those folders, beyond model_max_length.
_SENTENCEPIECE_TOKENIZER_CONFIGS = {
    "deberta-v2": {"do_lower_case": False},  # no tokenizer_class: AutoTokenizer goes by config.json's model_type
    "xlm-roberta": {"do_lower_case": False, "tokenizer_class": "XLMRobertaTokenizer"},
    "albert": {"tokenizer_class": "AlbertTokenizer", "do_lower_case": True, "remove_space": True, "keep_accents": False},
}


def write_sentencepiece_checkpoint(model_type: str, folder, *, pickled_fp16: bool = False, seed: int = 0) -> Path:
    """A tiny base checkpoint whose only tokenizer file is a SentencePiece model, as on the Hub.

    deberta-v2 mirrors microsoft/deberta-v3-base: config.json, spm.model, a tokenizer_config.json
    without tokenizer_class, and (``pickled_fp16``) only pytorch_model.bin in float16. albert mirrors
    the ALBERT uploads without tokenizer.json: spiece.model and an AlbertTokenizer tokenizer_config.json.
    """
    import io

    import sentencepiece
    import transformers

    file_name, layout = _SENTENCEPIECE_LAYOUTS[model_type]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model_bytes = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(training_sentences(400, seed)), model_writer=model_bytes, model_type="unigram",
        vocab_size=300, hard_vocab_limit=False, character_coverage=1.0, minloglevel=2, num_threads=1, **layout,
    )
    (folder / file_name).write_bytes(model_bytes.getvalue())
    tokenizer_config = {**_SENTENCEPIECE_TOKENIZER_CONFIGS[model_type], "model_max_length": 512}
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config), encoding="utf-8")
    if model_type == "deberta-v2":  # AutoTokenizer needs config.json's model_type to pick the class
        (folder / "config.json").write_text(json.dumps({"model_type": model_type}), encoding="utf-8")
    # Hub checkpoints have more embedding rows than tokens (deberta-v3-base: 128,100 for 128,001).
    vocab_size = len(transformers.AutoTokenizer.from_pretrained(folder)) + 8
    kwargs = tiny_config(model_type, vocab_size, {"[PAD]": 0, "[CLS]": 1, "[SEP]": 2})
    config = transformers.AutoConfig.for_model(model_type, **kwargs)
    torch.manual_seed(seed)
    model = getattr(transformers, BASE_CLASSES[model_type])(config).float().eval()
    randomise(model, seed)
    if pickled_fp16:
        config.save_pretrained(folder)
        torch.save({name: tensor.half() for name, tensor in model.state_dict().items()}, folder / "pytorch_model.bin")
    else:
        model.save_pretrained(folder)
    return folder


def build(model_type: str, folder, **kwargs):
    """``write_checkpoint``, plus CamemBERT: XLM-R's architecture and tokenizer under its own model_type."""
    if model_type != "camembert":
        return write_checkpoint(model_type, folder, **kwargs)
    folder = write_checkpoint("xlm-roberta", folder, **kwargs)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "camembert"
    config["architectures"] = [name.replace("XLMRoberta", "Camembert") for name in config.get("architectures", [])]
    (folder / "config.json").write_text(json.dumps(config))
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**tokenizer_config, "tokenizer_class": "CamembertTokenizer"}))
    return folder


def randomize_head(model, seed: int = 0) -> None:
    """Give every head weight non-trivial values (a new head's bias is 0 and its norm 1/0, hiding lost tensors)."""
    rng = np.random.default_rng(seed)
    for variable in model.head.trainable_variables:
        variable.assign((rng.standard_normal(tuple(variable.shape)) * 0.5).astype("float32"))
