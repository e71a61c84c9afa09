"""MPNet specifics: the relative-position buckets (always 32), the pad id that is not the vocabulary's "[PAD]",
the position offset and its length limit, vocab.txt-only folders, and sentence-transformers' bare encoders."""

import json

import numpy as np
import pytest
import torch
import transformers

from textfit import TextClassifier
from textfit.models import mpnet
from test_families import _compare_with_transformers
from tiny_checkpoints import SAMPLE_PAIRS, SAMPLE_TEXTS, write_checkpoint


def test_bucket_function_equals_transformers():
    from transformers.models.mpnet.modeling_mpnet import MPNetEncoder

    relative = np.arange(-3000, 3001)
    expected = MPNetEncoder.relative_position_bucket(torch.from_numpy(relative)).numpy()
    np.testing.assert_array_equal(mpnet.relative_position_bucket(relative), expected)


@pytest.mark.parametrize("sequence_length", [1, 9, 130, 514])
def test_bucket_table_equals_transformers(sequence_length):
    from transformers.models.mpnet.modeling_mpnet import MPNetEncoder

    positions = torch.arange(sequence_length)
    expected = MPNetEncoder.relative_position_bucket(positions[None, :] - positions[:, None]).numpy()  # key - query
    np.testing.assert_array_equal(mpnet.bucket_table(sequence_length), expected)


def test_only_32_buckets_are_read_whatever_the_config_says(tmp_path):
    # transformers' table has 40 rows but compute_position_bias reads the first 32; so must we.
    folder = write_checkpoint("mpnet", tmp_path / "mpnet", task=True, relative_attention_num_buckets=40)
    model = TextClassifier.from_pretrained(folder)
    assert model.load_report.unused == ()
    _compare_with_transformers(model, folder, "mpnet", SAMPLE_TEXTS)


def test_fewer_than_32_buckets_are_refused(tmp_path):
    folder = write_checkpoint("mpnet", tmp_path / "mpnet", task=True)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "relative_attention_num_buckets": 16}))
    with pytest.raises(ValueError, match=r"relative_attention_num_buckets=16.*always reads 32"):
        TextClassifier.from_pretrained(folder)


@pytest.mark.parametrize("tokenizer_file", ["tokenizer.json", "vocab.txt"])
def test_pads_with_pad_not_with_the_vocabularys_pad_entry(tokenizer_file, tmp_path):
    folder = write_checkpoint("mpnet", tmp_path / "mpnet")
    if tokenizer_file == "vocab.txt":
        (folder / "tokenizer.json").unlink()  # the vocab.txt fallback builds <s> A </s></s> B </s>
    model = TextClassifier.from_pretrained(folder, num_labels=2)
    theirs = transformers.AutoTokenizer.from_pretrained(folder)
    assert theirs.convert_tokens_to_ids("[PAD]") == 4  # the decoy, as in microsoft/mpnet-base
    assert model.tokenizer.pad_token_id == theirs.pad_token_id == 1
    assert [ids.tolist() for ids in model.tokenizer.encode(SAMPLE_TEXTS, max_length=64).token_ids] == theirs(SAMPLE_TEXTS)["input_ids"]
    firsts, seconds = map(list, zip(*SAMPLE_PAIRS))
    encoded = model.tokenizer.encode(firsts, seconds, max_length=64)
    assert [ids.tolist() for ids in encoded.token_ids] == theirs(firsts, seconds)["input_ids"]
    assert all(not ids.any() for ids in encoded.segment_ids)  # no token types


def test_positions_offset_by_the_padding_row_leave_two_fewer_tokens(tmp_path):
    folder = write_checkpoint("mpnet", tmp_path / "mpnet")  # 66 position rows: 64 tokens
    assert TextClassifier.from_pretrained(folder, num_labels=2, max_length=64).model_config.max_length == 64
    with pytest.raises(ValueError, match=r"max_length=65 exceeds the model's 64 position embeddings"):
        TextClassifier.from_pretrained(folder, num_labels=2, max_length=65)


def test_sentence_transformers_bare_encoder_leaves_only_its_pooler_unused(tmp_path):
    # all-mpnet-base-v2 is a bare MPNetModel: no prefix, and a pooler the classification head does not use.
    folder = write_checkpoint("mpnet", tmp_path / "mpnet", base="model")
    model = TextClassifier.from_pretrained(folder, labels=["a", "b"])
    assert model.load_report.unused == ("pooler.dense.bias", "pooler.dense.weight")
    assert "encoder.relative_attention_bias.weight" in model.load_report.loaded


def test_head_dropout_is_hidden_dropout_not_classifier_dropout():
    spec = mpnet.head({"hidden_dropout_prob": 0.2, "classifier_dropout": 0.5}, None)
    assert (spec.dense_dropout, spec.dropout) == (0.2, 0.2)
