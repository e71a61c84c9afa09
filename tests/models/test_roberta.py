"""RoBERTa family specifics: the position offset and its length limit, the pad id, vocab.json + merges.txt and
SentencePiece-only folders, and the aliases' own classes."""

import json

import numpy as np
import pytest
import transformers

from textfit import TextClassifier
from tiny_checkpoints import SAMPLE_PAIRS, SAMPLE_TEXTS, write_checkpoint, write_sentencepiece_checkpoint


def test_positions_offset_by_the_pad_id_leave_two_fewer_tokens(tmp_path):
    folder = write_checkpoint("roberta", tmp_path / "roberta")  # 66 position rows, pad id 1: 64 tokens
    assert TextClassifier.from_pretrained(folder, num_labels=2, max_length=64).model_config.max_length == 64
    with pytest.raises(ValueError, match=r"max_length=65 exceeds the model's 64 position embeddings"):
        TextClassifier.from_pretrained(folder, num_labels=2, max_length=65)


def test_batches_pad_with_pad_not_with_id_zero(tmp_path):
    model = TextClassifier.from_pretrained(write_checkpoint("roberta", tmp_path / "roberta"), num_labels=2)
    assert model.tokenizer.pad_token_id == 1
    assert model.tokenizer.encode(["a"], max_length=8).token_ids[0][0] == 0  # <s>


def test_vocab_json_and_merges_without_tokenizer_json(tmp_path):
    folder = write_checkpoint("roberta", tmp_path / "roberta")
    (folder / "tokenizer.json").unlink()
    ours = TextClassifier.from_pretrained(folder, num_labels=2).tokenizer
    theirs = transformers.AutoTokenizer.from_pretrained(folder)
    assert [ids.tolist() for ids in ours.encode(SAMPLE_TEXTS, max_length=64).token_ids] == theirs(SAMPLE_TEXTS)["input_ids"]
    firsts, seconds = map(list, zip(*SAMPLE_PAIRS))
    assert [ids.tolist() for ids in ours.encode(firsts, seconds, max_length=64).token_ids] == theirs(firsts, seconds)["input_ids"]


def test_xlm_roberta_with_only_a_sentencepiece_model(tmp_path):
    folder = write_sentencepiece_checkpoint("xlm-roberta", tmp_path / "xlmr")
    model = TextClassifier.from_pretrained(folder, labels=["a", "b"])
    theirs = transformers.AutoTokenizer.from_pretrained(folder)
    assert [ids.tolist() for ids in model.tokenizer.encode(SAMPLE_TEXTS, max_length=64).token_ids] == theirs(SAMPLE_TEXTS)["input_ids"]
    assert model.tokenizer.pad_token_id == theirs.pad_token_id == 1


@pytest.mark.parametrize("model_type, architecture", [
    ("roberta", "RobertaForSequenceClassification"), ("xlm-roberta", "XLMRobertaForSequenceClassification"),
])
def test_saved_config_names_the_aliases_own_class(model_type, architecture, tmp_path):
    model = TextClassifier.from_pretrained(write_checkpoint(model_type, tmp_path / model_type), num_labels=2)
    saved = model.save_pretrained(tmp_path / "saved")
    assert json.loads((saved / "config.json").read_text())["architectures"] == [architecture]
    assert np.isfinite(model.predict_logits(SAMPLE_TEXTS[:2])).all()
