"""textfit.hf.sentencepiece against transformers: same ids and type ids from the same SentencePiece folder.

Small SentencePiece models are trained here (no download), laid out like the real checkpoints'
files: DeBERTa-v3's spm.model, XLM-R's and CamemBERT's sentencepiece.bpe.model, ALBERT's
spiece.model. Each folder gets the tokenizer_config.json (and the legacy files) such checkpoints
ship, transformers loads it with AutoTokenizer, and we compare.
"""

import io
import json
import random

import pytest
import sentencepiece as spm  # test dependency: transformers reads .model files with it and protobuf
import transformers

from textfit.hf.sentencepiece import TOKENIZER_CLASS_BY_MODEL_TYPE, read_sentencepiece_model, tokenizer_from_sentencepiece


# ---------------------------------------------------------------- training the models


def _corpus(n=600, seed=0):
    """Sentences with accents, case, digits, punctuation, CJK and emoji, from random syllables."""
    rng = random.Random(seed)
    syllables = ["la", "le", "de", "ra", "mo", "ti", "sun", "ka", "ré", "çé", "è", "ü", "ö", "ß"]
    syllables += ["ñ", "ta", "ki", "no", "ma", "ha", "zu", "über", "straß", "café", "naï", "ve", "élè"]
    extras = ["東京", "日本語", "北京", "大学", "😀", "🚀", "❤️", "123", "4567", "3,000"]
    extras += ["89.5", "2024", "...", "!!", "??", "--", "(x)", '"q"', "'a'", "``", "''", "–", "£", "€", "@", "#"]
    for _ in range(n):
        words = []
        for _ in range(rng.randint(3, 12)):
            if rng.random() < 0.25:
                words.append(rng.choice(extras))
            else:
                word = "".join(rng.choice(syllables) for _ in range(rng.randint(1, 3)))
                words.append(word.capitalize() if rng.random() < 0.2 else word)
        yield " ".join(words)


# Special pieces and ids as in the real checkpoints' .model files.
LAYOUTS = {
    # microsoft/deberta-v3-base spm.model: [PAD]=0 [CLS]=1 [SEP]=2 [UNK]=3; [MASK] is added after the vocab.
    "deberta": {
        "pad_id": 0, "bos_id": 1, "eos_id": 2, "unk_id": 3,
        "pad_piece": "[PAD]", "bos_piece": "[CLS]", "eos_piece": "[SEP]", "unk_piece": "[UNK]",
    },
    # xlm-roberta-base and camembert-base: spm defaults <unk>=0 <s>=1 </s>=2, no pad. transformers moves them
    # to fairseq's layout (XLM-R: <s>0 <pad>1 </s>2 <unk>3 ... <mask>; CamemBERT: <s>NOTUSED ... <s>5 </s>6 ...).
    "fairseq": {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1},
    # albert-base-v2 spiece.model: <pad>=0 <unk>=1 [CLS]=2 [SEP]=3 [MASK]=4 (control), then user-defined symbols.
    "albert": {
        "pad_id": 0, "unk_id": 1, "bos_id": -1, "eos_id": -1,
        "control_symbols": ["[CLS]", "[SEP]", "[MASK]"],
        "user_defined_symbols": ["(", ")", '"', "-", ".", "–", "£", "€"],
    },
}


def _train(layout, model_type, normalization="nmt_nfkc"):
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=_corpus(),
        model_writer=model,
        model_type=model_type,
        vocab_size=400,
        hard_vocab_limit=False,
        character_coverage=1.0,
        normalization_rule_name=normalization,
        minloglevel=2,
        num_threads=2,
        **LAYOUTS[layout],
    )
    return model.getvalue()


@pytest.fixture(scope="module")
def spm_models():
    """The trained .model files, by (layout, model type, normalization); trained once, on demand."""
    cache = {}

    def get(layout, model_type="unigram", normalization="nmt_nfkc"):
        key = (layout, model_type, normalization)
        if key not in cache:
            cache[key] = _train(*key)
        return cache[key]

    return get


# ---------------------------------------------------------------- folders like the Hub's

_TOKEN = {"lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True}

# (id, SentencePiece file, layout, model type, normalization, files other than the .model)
CASES = [
    # microsoft/deberta-v3-base: the class comes from config.json's model_type.
    ("deberta-v3-hub", "spm.model", "deberta", "unigram", "nmt_nfkc", {
        "tokenizer_config.json": {"do_lower_case": False, "vocab_type": "spm"},
        "config.json": {"model_type": "deberta-v2"},
    }),
    # A DeBERTa-v3 fine-tuned and saved with transformers 4.2x: legacy special_tokens_map.json + added_tokens.json.
    ("deberta-v3-legacy", "spm.model", "deberta", "unigram", "nmt_nfkc", {
        "tokenizer_config.json": {"tokenizer_class": "DebertaV2Tokenizer", "do_lower_case": False, "vocab_type": "spm",
                                  "split_by_punct": False, "sp_model_kwargs": {}},
        "special_tokens_map.json": {"bos_token": "[CLS]", "cls_token": "[CLS]", "eos_token": "[SEP]",
                                    "mask_token": "[MASK]", "pad_token": "[PAD]", "sep_token": "[SEP]",
                                    "unk_token": "[UNK]"},
        "added_tokens.json": {"[MASK]": "VOCAB_SIZE"},
    }),
    ("deberta-lower-punct-noprefix", "spm.model", "deberta", "unigram", "nmt_nfkc", {
        "tokenizer_config.json": {"tokenizer_class": "DebertaV2TokenizerFast", "do_lower_case": True,
                                  "split_by_punct": True, "add_prefix_space": False},
    }),
    ("xlmr-hub", "sentencepiece.bpe.model", "fairseq", "unigram", "nmt_nfkc", {
        "tokenizer_config.json": {"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": 512},
    }),
    # Saved by transformers 4.x before added_tokens_decoder existed: <mask> as a serialized AddedToken.
    ("xlmr-legacy-mask", "sentencepiece.bpe.model", "fairseq", "unigram", "nmt_nfkc", {
        "tokenizer_config.json": {
            "tokenizer_class": "XLMRobertaTokenizer", "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>",
            "sep_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>", "sp_model_kwargs": {},
            "mask_token": {"__type": "AddedToken", "content": "<mask>", "lstrip": True, "normalized": True,
                           "rstrip": False, "single_word": False},
        },
    }),
    # Saved by transformers 4.3x: added_tokens_decoder (special_tokens_map.json is then ignored).
    ("xlmr-added-tokens-decoder", "sentencepiece.bpe.model", "fairseq", "unigram", "nmt_nfkc", {
        "tokenizer_config.json": {
            "tokenizer_class": "XLMRobertaTokenizer", "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>",
            "sep_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>",
            "added_tokens_decoder": {
                "0": {"content": "<s>", **_TOKEN}, "1": {"content": "<pad>", **_TOKEN},
                "2": {"content": "</s>", **_TOKEN}, "3": {"content": "<unk>", **_TOKEN},
                "VOCAB_SIZE-1": {"content": "<mask>", **_TOKEN, "lstrip": True},
            },
        },
        "special_tokens_map.json": {"mask_token": "[NOT-USED]"},
    }),
    # The file is named "bpe"; a BPE-trained one is read as a unigram vocabulary by transformers 5.24.
    ("xlmr-bpe-model", "sentencepiece.bpe.model", "fairseq", "bpe", "nmt_nfkc", {
        "tokenizer_config.json": {"tokenizer_class": "XLMRobertaTokenizerFast"},
    }),
    ("camembert-hub", "sentencepiece.bpe.model", "fairseq", "unigram", "nmt_nfkc", {
        "tokenizer_config.json": {"tokenizer_class": "CamembertTokenizer"},
    }),
    ("camembert-notused", "sentencepiece.bpe.model", "fairseq", "unigram", "nmt_nfkc", {
        "tokenizer_config.json": {
            "tokenizer_class": "CamembertTokenizer",
            "additional_special_tokens": ["<s>NOTUSED", "</s>NOTUSED", "<unk>NOTUSED"],
            "added_tokens_decoder": {
                "0": {"content": "<s>NOTUSED", **_TOKEN}, "1": {"content": "<pad>", **_TOKEN},
                "2": {"content": "</s>NOTUSED", **_TOKEN}, "3": {"content": "<unk>", **_TOKEN},
                "4": {"content": "<unk>NOTUSED", **_TOKEN},
                "VOCAB_SIZE-1": {"content": "<mask>", **_TOKEN, "lstrip": True},
            },
        },
    }),
    # albert-base-v2: lowercases and strips accents; mask_token with lstrip in special_tokens_map.json.
    ("albert-hub", "spiece.model", "albert", "unigram", "nmt_nfkc", {
        "tokenizer_config.json": {"tokenizer_class": "AlbertTokenizer", "do_lower_case": True, "remove_space": True,
                                  "keep_accents": False},
        "special_tokens_map.json": {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "<unk>",
                                    "sep_token": "[SEP]", "pad_token": "<pad>", "cls_token": "[CLS]",
                                    "mask_token": {"content": "[MASK]", "lstrip": True, "normalized": False,
                                                   "rstrip": False, "single_word": False}},
    }),
    # Cased, accents kept, no precompiled charsmap (identity normalization).
    ("albert-cased-identity", "spiece.model", "albert", "unigram", "identity", {
        "tokenizer_config.json": {"tokenizer_class": "AlbertTokenizer", "do_lower_case": False, "keep_accents": True},
    }),
    # add_bos_token/add_eos_token make transformers replace ALBERT's template with its own.
    ("albert-add-bos-eos", "spiece.model", "albert", "unigram", "nmt_nfkc", {
        "tokenizer_config.json": {"tokenizer_class": "AlbertTokenizer", "add_bos_token": True, "add_eos_token": False},
    }),
]


def _write_folder(folder, case, model_bytes):
    _, filename, _, _, _, files = case
    folder.mkdir()
    (folder / filename).write_bytes(model_bytes)
    vocab_size = spm.SentencePieceProcessor(model_proto=model_bytes).get_piece_size()
    # The fairseq layouts' vocabularies grow by one (XLM-R) or four (CamemBERT): <mask> is the last id.
    mask_id = vocab_size + (4 if "camembert" in case[0] else 1)
    text = json.dumps(files).replace('"VOCAB_SIZE-1"', f'"{mask_id}"').replace('"VOCAB_SIZE"', str(vocab_size))
    for name, content in json.loads(text).items():
        (folder / name).write_text(json.dumps(content), encoding="utf-8")


def _ours(folder):
    """What a textfit loader does: read the folder's JSON files, pick the class, build the tokenizer.

    Returns the tokenizer class's name (without "Fast") and the tokenizer.
    """

    def read(name):
        path = folder / name
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    config = read("tokenizer_config.json") or {}
    tokenizer_class = config.get("tokenizer_class") or TOKENIZER_CLASS_BY_MODEL_TYPE[read("config.json")["model_type"]]
    model_file = next(folder.glob("*.model"))
    tokenizer = tokenizer_from_sentencepiece(
        model_file,
        tokenizer_class=tokenizer_class,
        tokenizer_config=config,
        special_tokens_map=read("special_tokens_map.json"),
        added_tokens=read("added_tokens.json"),
    )
    return tokenizer_class.removesuffix("Fast"), tokenizer


# ---------------------------------------------------------------- the comparison

TEXTS = [
    "Hello world",
    "naïve café",
    "decomposed cafe\u0301 nai\u0308ve",
    "  leading and trailing spaces  ",
    "multiple    spaces\tand\ttabs\nnew\nlines\r\nend",
    "UPPERCASE Words MiXeD Über STRASSE",
    "東京は日本の首都です",
    "emoji 😀🚀❤️ party",
    "digits 123 4567 3,000 89.5 ２０２４",
    'punctuation!!! ... ?? -- (parens) "quotes" ``tex\'\' – £ € @#',
    " ",
    "Ünïcödé ÉLÈVE straße ﬁ ＡＢＣ",
    "unknown scripts: Привет мир, مرحبا",
    "[CLS] literal [MASK] and <mask> and <s> </s> [SEP]",
    "a<mask>b <s>NOTUSED <unk> [UNK] [PAD]",
    "la" * 40,
]
PAIRS = [
    ("Hello world", "naïve café"),
    ("  spaced  out  ", "\ttabbed\n"),
    ("東京 😀", "digits 3,000 and (parens)"),
    (" ", "x"),
    ("a fairly long first sentence with many many words in it to truncate", "short"),
    ("short", "a fairly long second sentence with many many words in it to truncate"),
    ("[MASK] <mask>", "<s> </s>"),
]


def _ids(encodings):
    return [encoding.ids for encoding in encodings], [encoding.type_ids for encoding in encodings]


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_same_ids_and_type_ids_as_transformers(case, spm_models, tmp_path):
    _, _, layout, model_type, normalization, _ = case
    folder = tmp_path / "checkpoint"
    _write_folder(folder, case, spm_models(layout, model_type, normalization))
    expected = transformers.AutoTokenizer.from_pretrained(folder)
    tokenizer_class, ours = _ours(folder)
    assert type(expected).__name__ == tokenizer_class
    # Before any call: transformers sets truncation on its backend while encoding.
    expected_json = json.loads(expected.backend_tokenizer.to_str())

    def transformers_ids(*texts, **kwargs):
        encoded = expected(*texts, return_token_type_ids=True, **kwargs)
        return encoded["input_ids"], encoded["token_type_ids"]

    assert _ids(ours.encode_batch(TEXTS)) == transformers_ids(TEXTS)
    assert [ours.encode(text).ids for text in TEXTS] == transformers_ids(TEXTS)[0]
    firsts, seconds = map(list, zip(*PAIRS))
    assert _ids(ours.encode_batch(PAIRS)) == transformers_ids(firsts, seconds)
    assert ours.encode(*PAIRS[0]).type_ids == transformers_ids(*PAIRS[0])[1]

    ours.enable_truncation(max_length=10, strategy="longest_first")
    truncation = {"truncation": "longest_first", "max_length": 10}
    assert _ids(ours.encode_batch(PAIRS)) == transformers_ids(firsts, seconds, **truncation)
    assert _ids(ours.encode_batch(TEXTS)) == transformers_ids(TEXTS, **truncation)
    ours.no_truncation()

    # Decoding, and the whole pipeline: normalizer, pre-tokenizer, vocab and scores, added tokens and their
    # flags, template, decoder.
    ids = ours.encode(TEXTS[1], TEXTS[4]).ids
    assert ours.decode(ids) == expected.decode(ids, skip_special_tokens=True)
    assert json.loads(ours.to_str()) == expected_json


def test_reads_the_model_file_like_protobuf(spm_models, tmp_path):
    from sentencepiece import sentencepiece_model_pb2

    data = spm_models("albert")
    proto = sentencepiece_model_pb2.ModelProto.FromString(data)
    (tmp_path / "spiece.model").write_bytes(data)
    model = read_sentencepiece_model(tmp_path / "spiece.model")
    assert model.pieces == [(piece.piece, piece.score, piece.type) for piece in proto.pieces]
    assert (model.model_type, model.unk_id) == (proto.trainer_spec.model_type, proto.trainer_spec.unk_id) == (1, 1)
    assert model.precompiled_charsmap == proto.normalizer_spec.precompiled_charsmap != b""


def test_camembert_bpe_model_fails_like_transformers(spm_models, tmp_path):
    case = ("camembert-bpe", "sentencepiece.bpe.model", "fairseq", "bpe", "nmt_nfkc",
            {"tokenizer_config.json": {"tokenizer_class": "CamembertTokenizer"}})
    folder = tmp_path / "checkpoint"
    _write_folder(folder, case, spm_models("fairseq", "bpe"))
    with pytest.raises(TypeError):  # transformers 5.24 mixes strings into the unigram vocabulary
        transformers.AutoTokenizer.from_pretrained(folder)
    with pytest.raises(ValueError, match="not a unigram .*CamembertTokenizer"):
        _ours(folder)


def test_unsupported_class(spm_models, tmp_path):
    (tmp_path / "spm.model").write_bytes(spm_models("deberta"))
    with pytest.raises(ValueError, match="'T5Tokenizer'.*supported classes are DebertaV2Tokenizer.*tokenizer.json"):
        tokenizer_from_sentencepiece(tmp_path / "spm.model", tokenizer_class="T5Tokenizer", tokenizer_config={})


@pytest.mark.parametrize(
    "content",
    [None, b"", b'{"version": "1.0", "model": {}}', b"version https://git-lfs.github.com/spec/v1\n", "truncated"],
    ids=["missing", "empty", "json", "lfs-pointer", "truncated"],
)
def test_unreadable_model_file(content, spm_models, tmp_path):
    path = tmp_path / "spm.model"
    if content == "truncated":
        path.write_bytes(spm_models("deberta")[:1000])
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match="spm.model"):
        tokenizer_from_sentencepiece(path, tokenizer_class="DebertaV2Tokenizer", tokenizer_config={})
