"""The tokenizer files a Hugging Face folder may hold, read into a ``tokenizers.Tokenizer``.

In order of preference, as transformers' ``AutoTokenizer`` does:
1. ``tokenizer.json``: the Rust tokenizer, complete (normalizer, model, special-token template).
2. ``vocab.txt``: WordPiece (BERT, ELECTRA, DistilBERT, MPNet), rebuilt as BertTokenizerFast would.
3. ``vocab.json`` + ``merges.txt``: byte-level BPE (RoBERTa), rebuilt as RobertaTokenizer would.
4. A SentencePiece model (``spm.model``, ``sentencepiece.bpe.model``, ``spiece.model``):
   DeBERTa-v3, XLM-R, CamemBERT, ALBERT; see ``hf/sentencepiece.py``.
Nothing here imports transformers.
"""

from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers, processors
from tokenizers.implementations import BertWordPieceTokenizer
from tokenizers.models import BPE

from textfit.hf.folder import read_json

TOKENIZER_JSON = "tokenizer.json"
SENTENCEPIECE_FILES = ("spm.model", "sentencepiece.bpe.model", "spiece.model")
# Every file that defines a tokenizer for transformers; copied verbatim when a model is saved.
TOKENIZER_FILES = (
    TOKENIZER_JSON, "vocab.txt", "vocab.json", "merges.txt", *SENTENCEPIECE_FILES,
    "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
)
# What check_checkpoint_dir asks for: one complete way to build the tokenizer.
TOKENIZER_KINDS = (TOKENIZER_JSON, "vocab.txt", "vocab.json + merges.txt", *SENTENCEPIECE_FILES)

# Special tokens when tokenizer_config.json does not name them, by template (see Family.special_tokens).
_DEFAULT_SPECIAL_TOKENS = {
    "bert": {"cls_token": "[CLS]", "sep_token": "[SEP]", "unk_token": "[UNK]", "pad_token": "[PAD]", "mask_token": "[MASK]"},
    "roberta": {"cls_token": "<s>", "sep_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"},
}


def has_tokenizer_files(checkpoint_dir) -> bool:
    """True when the folder holds at least one complete tokenizer definition."""
    path = Path(checkpoint_dir)
    if any((path / name).is_file() for name in (TOKENIZER_JSON, "vocab.txt", *SENTENCEPIECE_FILES)):
        return True
    return (path / "vocab.json").is_file() and (path / "merges.txt").is_file()


def read_tokenizer_config(checkpoint_dir) -> dict:
    """tokenizer_config.json merged over special_tokens_map.json (either may be absent)."""
    path = Path(checkpoint_dir)
    merged = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        if (path / name).is_file():
            merged.update(read_json(path / name))
    return merged


def token_text(value) -> str | None:
    """A special token as written in tokenizer_config.json: a string, or {"content": ...} in older files."""
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


def special_tokens(tokenizer_config: dict, template: str) -> dict[str, str]:
    """cls/sep/unk/pad/mask token strings: the config's, else the template's defaults."""
    defaults = _DEFAULT_SPECIAL_TOKENS[template]
    return {key: token_text(tokenizer_config.get(key)) or default for key, default in defaults.items()}


def read_rust_tokenizer(checkpoint_dir, *, template: str, model_type: str | None = None) -> Tokenizer:
    """The folder's tokenizer as a ``tokenizers.Tokenizer``.

    ``template`` ("bert"/"roberta") fills in the special-token template for WordPiece files,
    ``model_type`` picks the SentencePiece tokenizer class when tokenizer_config.json names none.
    """
    path = Path(checkpoint_dir)
    tokenizer_config = read_tokenizer_config(path)
    if (path / TOKENIZER_JSON).is_file():
        try:
            return Tokenizer.from_file(str(path / TOKENIZER_JSON))
        except Exception as error:  # tokenizers raises a bare Exception on bad files
            raise ValueError(f"Could not read {path / TOKENIZER_JSON}: {error}. Copy the checkpoint's tokenizer.json again.") from None
    if (path / "vocab.txt").is_file():
        return _wordpiece(path, tokenizer_config, template)
    if (path / "vocab.json").is_file() and (path / "merges.txt").is_file():
        return _byte_level_bpe(path, tokenizer_config)
    for name in SENTENCEPIECE_FILES:
        if (path / name).is_file():
            return _sentencepiece(path / name, model_type)
    raise FileNotFoundError(f"{path} holds no tokenizer files: expected one of {list(TOKENIZER_KINDS)}.")


def _sentencepiece(model_path: Path, model_type: str | None) -> Tokenizer:
    from textfit.hf.sentencepiece import TOKENIZER_CLASS_BY_MODEL_TYPE, tokenizer_from_sentencepiece

    folder = model_path.parent
    optional = lambda name: read_json(folder / name) if (folder / name).is_file() else None  # noqa: E731
    tokenizer_config = optional("tokenizer_config.json") or {}
    tokenizer_class = tokenizer_config.get("tokenizer_class")
    if not tokenizer_class or tokenizer_class in ("TokenizersBackend", "PreTrainedTokenizerFast"):
        tokenizer_class = TOKENIZER_CLASS_BY_MODEL_TYPE.get(model_type, tokenizer_class or "")
    return tokenizer_from_sentencepiece(
        model_path, tokenizer_class=tokenizer_class, tokenizer_config=tokenizer_config,
        special_tokens_map=optional("special_tokens_map.json"), added_tokens=optional("added_tokens.json"),
    )


def _wordpiece(path: Path, tokenizer_config: dict, template: str) -> Tokenizer:
    # Same normalisation as transformers' BertTokenizerFast built from a vocab.txt:
    # accents follow `lowercase` unless `strip_accents` says otherwise.
    tokens = special_tokens(tokenizer_config, template)
    wordpiece = BertWordPieceTokenizer(
        str(path / "vocab.txt"),
        unk_token=tokens["unk_token"],
        sep_token=tokens["sep_token"],
        cls_token=tokens["cls_token"],
        pad_token=tokens["pad_token"],
        mask_token=tokens["mask_token"],
        lowercase=tokenizer_config.get("do_lower_case", True),
        strip_accents=tokenizer_config.get("strip_accents"),
        clean_text=True,
        handle_chinese_chars=tokenizer_config.get("tokenize_chinese_chars", True),
    )
    tokenizer = wordpiece._tokenizer
    if template == "roberta":  # MPNet: WordPiece with RoBERTa's <s> A </s></s> B </s>
        tokenizer.post_processor = _roberta_processing(tokenizer, tokens, tokenizer_config)
    return tokenizer


def _byte_level_bpe(path: Path, tokenizer_config: dict) -> Tokenizer:
    # As transformers 5's RobertaTokenizer builds it from vocab.json + merges.txt.
    tokens = special_tokens(tokenizer_config, "roberta")
    add_prefix_space = bool(tokenizer_config.get("add_prefix_space", False))
    vocab, merges = BPE.read_file(str(path / "vocab.json"), str(path / "merges.txt"))
    tokenizer = Tokenizer(BPE(vocab=vocab, merges=merges, dropout=None, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([
        AddedToken(tokens[key], special=True, lstrip=(key == "mask_token"))
        for key in ("cls_token", "pad_token", "sep_token", "unk_token", "mask_token")
    ])
    tokenizer.post_processor = _roberta_processing(tokenizer, tokens, tokenizer_config)
    return tokenizer


def _roberta_processing(tokenizer: Tokenizer, tokens: dict, tokenizer_config: dict) -> processors.RobertaProcessing:
    sep, cls = tokens["sep_token"], tokens["cls_token"]
    for token in (sep, cls):
        if tokenizer.token_to_id(token) is None:
            raise ValueError(f"The tokenizer's vocabulary lacks the special token {token!r} that its template needs.")
    return processors.RobertaProcessing(
        (sep, tokenizer.token_to_id(sep)),
        (cls, tokenizer.token_to_id(cls)),
        trim_offsets=bool(tokenizer_config.get("trim_offsets", True)),
        add_prefix_space=bool(tokenizer_config.get("add_prefix_space", False)),
    )


def pad_token_id(tokenizer: Tokenizer, tokenizer_config: dict, hf_config: dict, default: int) -> int:
    """The id batches are padded with: tokenizer_config's pad token, else config.json's, else the family's.

    Looking up "[PAD]" is wrong for RoBERTa/XLM-R (``<pad>`` = 1, and id 0 is ``<s>``) and for
    MPNet (its vocabulary has a "[PAD]", but it pads with ``<pad>`` = 1).
    """
    pad_token = token_text(tokenizer_config.get("pad_token"))
    if pad_token is not None and tokenizer.token_to_id(pad_token) is not None:
        return tokenizer.token_to_id(pad_token)
    configured = hf_config.get("pad_token_id")
    if isinstance(configured, int) and not isinstance(configured, bool) and configured >= 0:
        return configured
    for token in ("[PAD]", "<pad>"):
        if tokenizer.token_to_id(token) is not None:
            return tokenizer.token_to_id(token)
    return default
