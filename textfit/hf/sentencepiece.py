"""Build a ``tokenizers.Tokenizer`` from a SentencePiece ``.model`` file, exactly as transformers does.

Some Hub checkpoints ship no ``tokenizer.json``, only a SentencePiece model: ``spm.model``
(DeBERTa-v3), ``sentencepiece.bpe.model`` (XLM-R, CamemBERT), ``spiece.model`` (ALBERT).
transformers 5.24 (``AutoTokenizer.from_pretrained``) turns that file into a Rust tokenizer in
three steps, which this module mirrors so that token ids and type ids come out identical
without importing transformers:

1. ``SentencePieceExtractor.extract``: the (piece, score) vocabulary, the unk id, control and
   user-defined pieces as extra special tokens, the precompiled normalizer charsmap;
2. the class's converter, ``convert_from_spm``: XLM-R and CamemBERT move the vocabulary to
   fairseq's layout (``<s> <pad> </s> <unk>`` first, ``<mask>`` last);
3. the tokenizer class's ``__init__`` (model, normalizer, pre-tokenizer, decoder, template)
   and ``TokenizersBackend.__init__`` (which special tokens become added tokens, in which
   order, with which flags).

Where transformers does something odd, we copy it on purpose (and say so), because the model
was fine-tuned and served with transformers' ids.

Reading the file: a ``.model`` file is a protobuf ``ModelProto``. We read the few fields we need
with the small wire-format reader below instead of depending on ``sentencepiece`` (for its
generated ``sentencepiece_model_pb2``) plus ``protobuf``: the wire format is frozen, the reader
is ~50 lines, and the generated protobuf code pins a range of ``protobuf`` runtimes, a classic
source of version conflicts with other packages (TensorFlow, grpc, ...). Nothing else in textfit
needs either package.
"""

import struct
from dataclasses import dataclass
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import Unigram

# The SentencePiece file each class reads (transformers' ``vocab_files_names["vocab_file"]``).
SENTENCEPIECE_FILES = {
    "DebertaV2Tokenizer": "spm.model",
    "XLMRobertaTokenizer": "sentencepiece.bpe.model",
    "CamembertTokenizer": "sentencepiece.bpe.model",
    "AlbertTokenizer": "spiece.model",
}

# The class AutoTokenizer picks from config.json's ``model_type`` when tokenizer_config.json names
# none (microsoft/deberta-v3-base's tokenizer_config.json has no ``tokenizer_class``).
TOKENIZER_CLASS_BY_MODEL_TYPE = {
    "deberta-v2": "DebertaV2Tokenizer",
    "xlm-roberta": "XLMRobertaTokenizer",
    "camembert": "CamembertTokenizer",
    "albert": "AlbertTokenizer",
}

# Each class's defaults for its named special tokens, in transformers' SPECIAL_TOKENS_ATTRIBUTES order
# (the order decides which new id each missing token gets).
_ROBERTA_TOKENS = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "sep_token": "</s>",
    "pad_token": "<pad>",
    "cls_token": "<s>",
    "mask_token": "<mask>",
}
_DEFAULT_TOKENS = {
    "DebertaV2Tokenizer": {
        "bos_token": "[CLS]",
        "eos_token": "[SEP]",
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    },
    "XLMRobertaTokenizer": _ROBERTA_TOKENS,
    "CamembertTokenizer": _ROBERTA_TOKENS,
    "AlbertTokenizer": {
        "bos_token": "[CLS]",
        "eos_token": "[SEP]",
        "unk_token": "<unk>",
        "sep_token": "[SEP]",
        "pad_token": "<pad>",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    },
}
_NAMED_TOKENS = tuple(_ROBERTA_TOKENS)
# Tokens a class cannot do without: its template's, and the ones fairseq's layout puts in the vocabulary.
_REQUIRED_TOKENS = {
    "DebertaV2Tokenizer": ("cls_token", "sep_token"),
    "AlbertTokenizer": ("cls_token", "sep_token"),
    "XLMRobertaTokenizer": ("bos_token", "eos_token", "pad_token", "unk_token", "mask_token"),
    "CamembertTokenizer": ("bos_token", "eos_token", "pad_token", "unk_token", "mask_token"),
}

# SentencePiece piece types (sentencepiece_model.proto).
_CONTROL, _USER_DEFINED = 3, 4
_UNIGRAM = 1

_FIX = (
    "To use this checkpoint anyway, save a tokenizer.json into its folder with transformers once: "
    "AutoTokenizer.from_pretrained(folder).save_pretrained(folder)."
)


# ---------------------------------------------------------------- reading the .model file


@dataclass(frozen=True)
class SentencePieceModel:
    """The parts of a SentencePiece ``ModelProto`` that transformers uses for these tokenizers."""

    pieces: list[tuple[str, float, int]]  # (piece, score, type), in id order
    model_type: int = _UNIGRAM  # 1 unigram, 2 bpe, 3 word, 4 char
    unk_id: int = 0
    precompiled_charsmap: bytes = b""


def _varint(data, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _fields(data):
    """Yield (field number, wire type, value) for each field of one protobuf message."""
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:  # varint
            value, pos = _varint(data, pos)
        elif wire_type == 2:  # length-delimited: bytes, strings, sub-messages
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire_type == 5:  # 32-bit: float
            value, pos = data[pos : pos + 4], pos + 4
        elif wire_type == 1:  # 64-bit: double
            value, pos = data[pos : pos + 8], pos + 8
        else:  # groups (3, 4) are not used by sentencepiece_model.proto
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
        if pos > end or number == 0:
            raise ValueError("truncated or corrupt protobuf message")
        yield number, wire_type, value


def _int32(value: int) -> int:
    # Negative int32 values (unk_id = -1) are sign-extended to 64 bits on the wire.
    return value - (1 << 64) if value >= 1 << 63 else value


def _parse_model(data: bytes) -> SentencePieceModel:
    pieces, model_type, unk_id, charsmap = [], _UNIGRAM, 0, b""
    for number, wire_type, value in _fields(memoryview(data)):
        if number == 1 and wire_type == 2:  # repeated SentencePiece pieces
            piece, score, piece_type = "", 0.0, 1  # proto defaults: type NORMAL
            for field, field_wire, field_value in _fields(value):
                if field == 1 and field_wire == 2:
                    piece = str(field_value, "utf-8")
                elif field == 2 and field_wire == 5:
                    score = struct.unpack("<f", field_value)[0]
                elif field == 3 and field_wire == 0:
                    piece_type = field_value
            pieces.append((piece, score, piece_type))
        elif number == 2 and wire_type == 2:  # TrainerSpec
            for field, field_wire, field_value in _fields(value):
                if field == 3 and field_wire == 0:
                    model_type = field_value
                elif field == 40 and field_wire == 0:
                    unk_id = _int32(field_value)
        elif number == 3 and wire_type == 2:  # NormalizerSpec
            for field, field_wire, field_value in _fields(value):
                if field == 2 and field_wire == 2:
                    charsmap = bytes(field_value)
        elif number in (1, 2, 3):
            raise ValueError(f"field {number} has wire type {wire_type}")
    if not pieces:
        raise ValueError("no vocabulary pieces")
    return SentencePieceModel(pieces, model_type, unk_id, charsmap)


def read_sentencepiece_model(path) -> SentencePieceModel:
    """Read a SentencePiece ``.model`` file (a protobuf ``ModelProto``).

    Raises:
        ValueError: the file is missing, unreadable or not a SentencePiece model.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"Could not read the SentencePiece model {path}: {error}") from None
    try:
        return _parse_model(data)
    except (ValueError, IndexError, UnicodeDecodeError, struct.error) as error:
        raise ValueError(
            f"{path} is not a SentencePiece model file (a protobuf ModelProto): {error}. "
            f"Check that the file is complete (not a Git LFS pointer or an HTML error page). {_FIX}"
        ) from None


# ---------------------------------------------------------------- transformers' kwargs


def _added_token(value):
    """transformers' ``AddedToken(**dict)`` for serialized tokens; other values unchanged."""
    if isinstance(value, dict):
        return AddedToken(**{key: item for key, item in value.items() if key != "__type"})
    return value


def _special_added_token(value: dict) -> AddedToken:
    """special_tokens_map.json's entries: always special, whatever the file says."""
    return AddedToken(**{key: item for key, item in value.items() if key not in ("special", "__type")}, special=True)


def _convert_added_tokens(value):
    # transformers' ``convert_added_tokens``: {"__type": "AddedToken", ...} dicts anywhere in the config.
    if isinstance(value, dict) and value.get("__type") == "AddedToken":
        return _added_token(value)
    if isinstance(value, (list, tuple)):
        return [_convert_added_tokens(item) for item in value]
    if isinstance(value, dict):
        return {key: _convert_added_tokens(item) for key, item in value.items()}
    return value


def _load_kwargs(tokenizer_config, special_tokens_map, added_tokens):
    """Mirror ``PreTrainedTokenizerBase._from_pretrained``: the init kwargs and the saved added tokens."""
    kwargs = dict(tokenizer_config)
    kwargs.pop("tokenizer_class", None)
    kwargs.pop("init_inputs", None)
    if "additional_special_tokens" in kwargs and not kwargs.get("extra_special_tokens"):
        kwargs["extra_special_tokens"] = kwargs.pop("additional_special_tokens")
    # Custom ``*_token`` strings (and a dict of extra special tokens) become named special tokens.
    explicit_named = {
        key: kwargs.pop(key)
        for key in list(kwargs)
        if key not in _NAMED_TOKENS and key.endswith("_token") and isinstance(kwargs[key], str)
    }
    if isinstance(kwargs.get("extra_special_tokens"), dict):
        explicit_named.update(kwargs.pop("extra_special_tokens"))

    saved: dict[int, AddedToken] = {}  # id -> token, from the folder's files
    if "added_tokens_decoder" in kwargs:
        for index, token in kwargs["added_tokens_decoder"].items():
            token = _added_token(token)
            if not isinstance(token, AddedToken):
                raise ValueError(f"tokenizer_config.json: added_tokens_decoder[{index}] is {token!r}, not a token")
            saved[int(index)] = token
    else:
        # Legacy files, read only when tokenizer_config.json has no added_tokens_decoder (as transformers does).
        for key, value in (special_tokens_map or {}).items():
            if isinstance(value, dict) and key != "extra_special_tokens":
                value = _special_added_token(value)
            elif key == "extra_special_tokens" and isinstance(value, list):
                merged = list(kwargs.get("extra_special_tokens") or [])
                for token in value:
                    token = _special_added_token(token) if isinstance(token, dict) else token
                    if token not in merged:
                        merged.append(token)
                value = merged
            kwargs[key] = value
        if isinstance(kwargs.get("extra_special_tokens"), dict):
            explicit_named.update(kwargs.pop("extra_special_tokens"))
        if added_tokens:
            specials = {str(kwargs[key]) for key in _NAMED_TOKENS if kwargs.get(key)}
            specials.update(str(token) for token in kwargs.get("extra_special_tokens") or [])
            for content, index in added_tokens.items():
                special = content in specials
                saved[int(index)] = AddedToken(content, normalized=not special, special=special)
    kwargs.pop("added_tokens_decoder", None)
    kwargs = _convert_added_tokens(kwargs)
    # A named special token given as a plain string takes the flags of the saved token with that content.
    by_content = {str(token): token for token in saved.values()}
    for key in _NAMED_TOKENS:
        if kwargs.get(key) is not None and by_content:
            kwargs[key] = by_content.get(str(kwargs[key]), kwargs[key])
    return kwargs, saved, explicit_named


# ---------------------------------------------------------------- the tokenizer classes


def _metaspace(prepend_scheme):
    return pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=prepend_scheme)


def _deberta_v2(vocab, unk_id, charsmap, kwargs, tokens):
    """``DebertaV2Tokenizer.__init__``. It ignores the precompiled charsmap and normalizes by itself."""
    unk = (str(tokens["unk_token"]), 0.0)
    unk_id = vocab.index(unk) if unk in vocab else unk_id
    tokenizer = Tokenizer(Unigram(vocab, unk_id=unk_id, byte_fallback=False))
    steps = [normalizers.Lowercase()] if kwargs.get("do_lower_case", False) else []
    steps += [
        normalizers.Replace(Regex(r"\s{2,}|[\n\r\t]"), " "),
        normalizers.NFC(),
        normalizers.Strip(left=False, right=True),
    ]
    tokenizer.normalizer = normalizers.Sequence(steps)
    prepend_scheme = "always" if kwargs.get("add_prefix_space", True) else "first"
    splits = [pre_tokenizers.Punctuation(behavior="isolated")] if kwargs.get("split_by_punct", False) else []
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([*splits, _metaspace(prepend_scheme)])
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme=prepend_scheme)
    return tokenizer


def _roberta_like(vocab, unk_id, charsmap, kwargs, tokens):
    """``XLMRobertaTokenizer.__init__`` and ``CamembertTokenizer.__init__`` (same pipeline)."""
    tokenizer = Tokenizer(Unigram(vocab, unk_id=unk_id, byte_fallback=False))
    if charsmap:
        tokenizer.normalizer = normalizers.Precompiled(charsmap)
    prepend_scheme = "always" if kwargs.get("add_prefix_space", True) else "never"
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), _metaspace(prepend_scheme)])
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme=prepend_scheme)
    return tokenizer


def _albert(vocab, unk_id, charsmap, kwargs, tokens):
    """``AlbertTokenizer.__init__`` (lowercases and strips accents by default)."""
    tokenizer = Tokenizer(Unigram(vocab, unk_id=1, byte_fallback=False))  # unk id 1 is hard-coded there
    steps = [normalizers.Replace("``", '"'), normalizers.Replace("''", '"')]
    if not kwargs.get("keep_accents", False):
        steps += [normalizers.NFKD(), normalizers.StripAccents()]
    if kwargs.get("do_lower_case", True):
        steps.append(normalizers.Lowercase())
    if charsmap:
        steps.append(normalizers.Precompiled(charsmap))
    tokenizer.normalizer = normalizers.Sequence(steps)
    prepend_scheme = "always" if kwargs.get("add_prefix_space", True) else "never"
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), _metaspace(prepend_scheme)])
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme=prepend_scheme)
    return tokenizer


_BUILDERS = {
    "DebertaV2Tokenizer": _deberta_v2,
    "XLMRobertaTokenizer": _roberta_like,
    "CamembertTokenizer": _roberta_like,
    "AlbertTokenizer": _albert,
}


def _fairseq_vocab(name, vocab, tokens):
    """The converters' ``convert_from_spm``: fairseq's dictionary layout for XLM-R and CamemBERT."""
    if name == "XLMRobertaTokenizer":
        # spm has <unk> <s> </s> at 0-2; fairseq puts <s> <pad> </s> <unk> first: ids shift by one.
        head = [(str(tokens[key]), 0.0) for key in ("bos_token", "pad_token", "eos_token", "unk_token")]
        return head + vocab[3:] + [(str(tokens["mask_token"]), 0.0)], 3
    if name == "CamembertTokenizer":
        # CamemBERT's fairseq dictionary re-adds <s> </s> <unk> as "...NOTUSED" entries; its real <s> and </s>
        # are spm's pieces 1 and 2 (ids 5 and 6). -100 keeps <unk>NOTUSED from ever being chosen.
        head = [
            ("<s>NOTUSED", 0.0),
            (str(tokens["pad_token"]), 0.0),
            ("</s>NOTUSED", 0.0),
            (str(tokens["unk_token"]), 0.0),
            ("<unk>NOTUSED", -100.0),
        ]
        vocab = head + vocab[1:] + [(str(tokens["mask_token"]), 0.0)]
        unk = str(tokens["unk_token"])
        return vocab, next((i for i, (piece, _) in enumerate(vocab) if piece == unk), 0)
    return vocab, None


def _add_special_tokens(tokenizer, saved, named, extras):
    """Mirror ``TokenizersBackend.__init__``: which tokens become added tokens, in which order.

    The saved tokens come first (by id), then named special tokens and extra special tokens whose
    content is not saved. Tokens already in the vocabulary keep their id; others get new ids in
    that order. Plain strings become special tokens that skip normalization.
    """
    to_add = [token for _, token in sorted(saved.items())]
    seen = [str(token) for token in to_add]
    for token in [*named.values(), *extras]:
        if token is not None and str(token) not in seen and token not in to_add:
            to_add.append(token)
    named_contents = [str(token) for token in named.values() if token]
    final = []
    for token in to_add:
        if isinstance(token, str):
            token = AddedToken(token, special=True)
        elif not token.special and str(token) in named_contents:
            token.special = True  # transformers flips the flag in place, on the very object it was given
        final.append(token)
    if final:
        tokenizer.add_tokens(final)


def _template(name, tokenizer, tokens, bare_ids, kwargs):
    """The post-processor each class installs (``[CLS] A [SEP] B [SEP]`` or ``<s> A </s></s> B </s>``)."""
    if name == "AlbertTokenizer" and ("add_bos_token" in kwargs or "add_eos_token" in kwargs):
        # ALBERT sets its template before ``TokenizersBackend.__init__``, which replaces it with a
        # bos/eos template when the config names add_bos_token or add_eos_token.
        return _bos_eos_template(tokenizer, tokens, kwargs)
    if name == "AlbertTokenizer":
        # ALBERT names the tokens "[CLS]"/"[SEP]" whatever cls_token and sep_token are.
        first, second, ids = "[CLS]", "[SEP]", bare_ids
    elif name == "DebertaV2Tokenizer":
        first, second = str(tokens["cls_token"]), str(tokens["sep_token"])
        ids = [tokenizer.token_to_id(first), tokenizer.token_to_id(second)]
    else:  # XLM-R and CamemBERT use bos/eos, and type id 0 throughout
        first, second = str(tokens["bos_token"]), str(tokens["eos_token"])
        ids = [tokenizer.token_to_id(first), tokenizer.token_to_id(second)]
        return processors.TemplateProcessing(
            single=[first, "$A", second],
            pair=[first, "$A", second, second, "$B", second],
            special_tokens=list(zip((first, second), ids)),
        )
    return processors.TemplateProcessing(
        single=f"{first}:0 $A:0 {second}:0",
        pair=f"{first}:0 $A:0 {second}:0 $B:1 {second}:1",
        special_tokens=list(zip((first, second), ids)),
    )


def _bos_eos_template(tokenizer, tokens, kwargs):
    """``TokenizersBackend.update_post_processor``."""
    bos, eos = tokens["bos_token"], tokens["eos_token"]
    add_bos = bool(kwargs.get("add_bos_token", False)) and bos is not None
    add_eos = bool(kwargs.get("add_eos_token", False)) and eos is not None
    bos, eos = str(bos), str(eos)
    single = f"{(bos + ':0 ') if add_bos else ''}$A:0{(' ' + eos + ':0') if add_eos else ''}"
    pair = f"{single}{(' ' + bos + ':1') if add_bos else ''} $B:1{(' ' + eos + ':1') if add_eos else ''}"
    special = [(bos, tokenizer.token_to_id(bos))] if add_bos else []
    special += [(eos, tokenizer.token_to_id(eos))] if add_eos else []
    return processors.TemplateProcessing(single=single, pair=pair, special_tokens=special)


# ---------------------------------------------------------------- public API


def tokenizer_from_sentencepiece(
    model_path,
    *,
    tokenizer_class: str,
    tokenizer_config: dict,
    special_tokens_map: dict | None = None,
    added_tokens: dict | None = None,
) -> Tokenizer:
    """Build the tokenizer transformers 5.24 builds from a SentencePiece model and its config.

    Encodings (ids and type ids, singles and pairs, with or without truncation) match
    ``AutoTokenizer.from_pretrained(folder)`` for a folder with this ``.model`` and no
    ``tokenizer.json``. The result has the special-token template, the special tokens as added
    tokens, and a decoder; padding and truncation are off.

    Args:
        model_path: the ``.model`` file (``spm.model``, ``sentencepiece.bpe.model``, ``spiece.model``).
        tokenizer_class: ``tokenizer_class`` from tokenizer_config.json ("Fast" suffix allowed),
            or ``TOKENIZER_CLASS_BY_MODEL_TYPE[config["model_type"]]`` when it names none.
        tokenizer_config: the parsed tokenizer_config.json (``{}`` if the folder has none).
        special_tokens_map: the parsed special_tokens_map.json, if any. Like transformers, used
            only when tokenizer_config has no ``added_tokens_decoder``.
        added_tokens: the parsed added_tokens.json, if any (same condition).

    Raises:
        ValueError: unsupported class, unreadable file, or a model transformers cannot load either.

    Example:
        >>> tokenizer = tokenizer_from_sentencepiece(
        ...     "deberta-v3-base/spm.model", tokenizer_class="DebertaV2Tokenizer", tokenizer_config={}
        ... )
        >>> tokenizer.encode("a great film", "a dull one").type_ids
    """
    name = str(tokenizer_class).removesuffix("Fast")
    if name not in _BUILDERS:
        raise ValueError(
            f"Cannot build a {tokenizer_class!r} tokenizer from a SentencePiece model: supported classes are "
            f"{', '.join(_BUILDERS)} (with or without 'Fast'). {_FIX}"
        )
    if not isinstance(tokenizer_config, dict):
        kind = type(tokenizer_config).__name__
        raise ValueError(f"tokenizer_config must be the parsed tokenizer_config.json (a dict), got a {kind}")
    model = read_sentencepiece_model(model_path)
    charsmap = model.precompiled_charsmap or None
    if name == "CamembertTokenizer" and model.model_type != _UNIGRAM:
        # CamembertTokenizer has no fixed model type, so transformers extracts a BPE vocab here,
        # which its converter then mangles: from_pretrained fails with a TypeError.
        raise ValueError(
            f"{model_path} is not a unigram SentencePiece model (model_type={model.model_type}, 2 is BPE): "
            "transformers 5.24 cannot load it as a CamembertTokenizer either. Save a tokenizer.json into the "
            "folder with transformers 4.x, which converts BPE models: "
            "AutoTokenizer.from_pretrained(folder).save_pretrained(folder)."
        )
    kwargs, saved, explicit_named = _load_kwargs(tokenizer_config, special_tokens_map, added_tokens)

    # 1. SentencePieceExtractor.extract. The other three classes declare a Unigram model, so a BPE .model is
    #    read as a unigram vocabulary scored by merge rank, like transformers does.
    vocab = [(piece, score) for piece, score, _ in model.pieces]
    spm_specials = [
        AddedToken(piece, normalized=False, special=piece_type == _CONTROL)
        for piece, _, piece_type in model.pieces
        if piece_type in (_CONTROL, _USER_DEFINED)
    ]

    # The named special tokens, as the class passes them on (its defaults unless the config sets them).
    tokens = {key: kwargs.get(key, default) for key, default in _DEFAULT_TOKENS[name].items()}
    if name == "CamembertTokenizer" and isinstance(tokens["mask_token"], str):
        tokens["mask_token"] = AddedToken(tokens["mask_token"], lstrip=True, special=True)
    for key in _REQUIRED_TOKENS[name]:
        if tokens[key] is None:
            raise ValueError(f"tokenizer_config.json sets {key} to null, but {name} needs it. {_FIX}")

    # 2. convert_from_spm, then 3. the class's __init__.
    vocab, unk_id = _fairseq_vocab(name, vocab, tokens)
    tokenizer = _BUILDERS[name](vocab, model.unk_id if unk_id is None else unk_id, charsmap, kwargs, tokens)
    # ALBERT looks up its template ids before any special token is added, in the bare vocabulary.
    bare_ids = [tokenizer.token_to_id(str(tokens["cls_token"])), tokenizer.token_to_id(str(tokens["sep_token"]))]
    if name == "AlbertTokenizer" and None in bare_ids:
        raise ValueError(
            f"{model_path} has no piece {str(tokens['cls_token'])!r} or {str(tokens['sep_token'])!r}: "
            f"AlbertTokenizer needs both in the SentencePiece vocabulary. {_FIX}"
        )

    # Named special tokens: the standard seven, then model-specific ones (custom *_token entries).
    auto_named = {
        key: value
        for key, value in kwargs.items()
        if key not in _NAMED_TOKENS and key.endswith("_token") and isinstance(value, (str, AddedToken))
    }
    named = {**tokens, **auto_named, **explicit_named}
    # Extra special tokens: the config's (additional|extra)_special_tokens, else spm's control/user-defined pieces.
    extras = kwargs.get("extra_special_tokens", spm_specials)
    _add_special_tokens(tokenizer, saved, named, list(extras or []))
    tokenizer.encode_special_tokens = bool(kwargs.get("split_special_tokens", False))
    tokenizer.post_processor = _template(name, tokenizer, tokens, bare_ids, kwargs)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer
