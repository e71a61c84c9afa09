"""Tokenizer: truncation, pairs, per-batch padding."""

import json

import numpy as np

from textfit import Tokenizer
from textfit.data.tokenizer import pad_batch


def test_encode_truncates_to_max_length_including_special_tokens(tiny_checkpoint_dir):
    tokenizer = Tokenizer.from_dir(tiny_checkpoint_dir)
    encoded = tokenizer.encode(["the film " * 50, "great"], max_length=10)
    assert encoded.lengths.tolist() == [10, 3]
    assert tokenizer.tokenize("great") == ["[CLS]", "great", "[SEP]"]


def test_text_pairs_get_segment_ids(tiny_checkpoint_dir):
    tokenizer = Tokenizer.from_dir(tiny_checkpoint_dir)
    encoded = tokenizer.encode(["the film"], ["was great"], max_length=32)
    assert encoded.segment_ids[0].tolist() == [0, 0, 0, 0, 1, 1, 1]


def test_pad_batch_pads_to_the_batch_longest_not_a_fixed_length(tiny_checkpoint_dir):
    tokenizer = Tokenizer.from_dir(tiny_checkpoint_dir)
    encoded = tokenizer.encode(["great", "the film was fun"], max_length=64)
    batch = pad_batch(encoded, [0, 1], pad_token_id=0)
    assert batch["token_ids"].shape == (2, 6)
    assert batch["padding_mask"].tolist() == [[1, 1, 1, 0, 0, 0], [1] * 6]
    assert pad_batch(encoded, [0, 1], pad_token_id=0, pad_to_multiple_of=16)["token_ids"].shape == (2, 16)


def test_fixed_padding_in_tokenizer_json_is_ignored(tiny_checkpoint_copy):
    """all-MiniLM-L6-v2's tokenizer.json pads everything to 128; textfit pads per batch."""
    path = tiny_checkpoint_copy / "tokenizer.json"
    spec = json.loads(path.read_text())
    spec["padding"] = {"strategy": {"Fixed": 128}, "direction": "Right", "pad_to_multiple_of": None,
                       "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"}
    spec["truncation"] = {"max_length": 128, "strategy": "LongestFirst", "stride": 0, "direction": "Right"}
    path.write_text(json.dumps(spec))
    encoded = Tokenizer.from_dir(tiny_checkpoint_copy).encode(["great fun"], max_length=32)
    assert encoded.lengths.tolist() == [4]


def test_save_sets_model_max_length_for_transformers(tiny_checkpoint_dir, tmp_path):
    Tokenizer.from_dir(tiny_checkpoint_dir).save(tmp_path, max_length=48)
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["model_max_length"] == 48
    assert (tmp_path / "tokenizer.json").read_bytes() == (tiny_checkpoint_dir / "tokenizer.json").read_bytes()
    assert np.array_equal(
        Tokenizer.from_dir(tmp_path).encode(["great"], max_length=8).token_ids[0],
        Tokenizer.from_dir(tiny_checkpoint_dir).encode(["great"], max_length=8).token_ids[0],
    )


def test_cased_vocabulary_matches_auto_tokenizer(tmp_path):
    """do_lower_case=False keeps case and accents, as BertTokenizer does."""
    import transformers

    from conftest import write_tiny_checkpoint

    folder = write_tiny_checkpoint(tmp_path / "cased", with_tokenizer_json=False)
    vocabulary = (folder / "vocab.txt").read_text().splitlines() + ["Great", "Film", "Café", "##é"]
    (folder / "vocab.txt").write_text("\n".join(vocabulary) + "\n")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "do_lower_case": False}))
    texts = ["Great Film", "great film", "Café naïve", "THE Film was GREAT"]
    ours = Tokenizer.from_dir(folder).encode(texts, max_length=32)
    theirs = transformers.AutoTokenizer.from_pretrained(folder)(texts)["input_ids"]
    assert [ids.tolist() for ids in ours.token_ids] == theirs
    assert ours.token_ids[0].tolist() != ours.token_ids[1].tolist()  # case is kept


def _words(tokenizer, ids):
    return tokenizer._tokenizer.decode(list(ids), skip_special_tokens=False).split()


LONG = " ".join(["the film was great fun"] * 6 + ["and the plot was dull"] * 6)  # 60 words, one token each


def test_head_tail_and_head_plus_tail_keep_the_hand_computed_tokens(tiny_checkpoint_dir):
    tokenizer = Tokenizer.from_dir(tiny_checkpoint_dir)
    words = LONG.split()
    head = tokenizer.encode([LONG], max_length=22, truncation="head").token_ids[0]
    tail = tokenizer.encode([LONG], max_length=22, truncation="tail").token_ids[0]
    both = tokenizer.encode([LONG], max_length=22, truncation="head+tail").token_ids[0]
    assert _words(tokenizer, head) == ["[CLS]", *words[:20], "[SEP]"]
    assert _words(tokenizer, tail) == ["[CLS]", *words[-20:], "[SEP]"]
    assert _words(tokenizer, both) == ["[CLS]", *words[:5], *words[-15:], "[SEP]"]  # a quarter of the 20 from the start
    short = tokenizer.encode(["great fun"], max_length=22, truncation="head+tail").token_ids[0]
    assert _words(tokenizer, short) == ["[CLS]", "great", "fun", "[SEP]"]


def test_chunks_are_overlapping_windows_of_the_text(tiny_checkpoint_dir):
    tokenizer = Tokenizer.from_dir(tiny_checkpoint_dir)
    words = LONG.split()
    encoded = tokenizer.encode([LONG, "great fun"], max_length=22, truncation="chunks", chunk_overlap=5, max_chunks=3)
    assert encoded.example_index.tolist() == [0, 0, 0, 1]
    assert _words(tokenizer, encoded.token_ids[0]) == ["[CLS]", *words[0:20], "[SEP]"]
    assert _words(tokenizer, encoded.token_ids[1]) == ["[CLS]", *words[15:35], "[SEP]"]  # 5 tokens shared
    assert _words(tokenizer, encoded.token_ids[2]) == ["[CLS]", *words[30:50], "[SEP]"]  # at most 3 windows
    assert encoded.num_examples == 2


def test_very_long_texts_are_cut_before_tokenizing(tiny_checkpoint_dir):
    from textfit.data.tokenizer import char_bound

    tokenizer = Tokenizer.from_dir(tiny_checkpoint_dir)
    huge = "great " * 200_000  # 1.2 MB
    for truncation in ("head", "tail", "head+tail"):
        ids = tokenizer.encode([huge], max_length=16, truncation=truncation).token_ids[0]
        assert len(ids) == 16
    assert char_bound(16) == 4096 and char_bound(512) == 16_384
