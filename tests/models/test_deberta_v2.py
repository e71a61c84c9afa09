"""DeBERTa-v3 specifics: the relative-position buckets, Hub-like spm.model + fp16 pickle folders, refused variants."""

import json

import numpy as np
import pytest
import torch
import transformers

from textfit import TextClassifier
from textfit.models.deberta_v2 import log_bucket_position
from tiny_checkpoints import SAMPLE_PAIRS, SAMPLE_TEXTS, write_checkpoint, write_sentencepiece_checkpoint


@pytest.mark.parametrize("bucket_size, max_position", [(256, 512), (8, 64), (8, 20)])
def test_buckets_equal_transformers(bucket_size, max_position):
    from transformers.models.deberta_v2.modeling_deberta_v2 import make_log_bucket_position

    positions = np.arange(max_position)
    relative = positions[:, None] - positions[None, :]
    expected = make_log_bucket_position(torch.from_numpy(relative), bucket_size, max_position).long().numpy()
    np.testing.assert_array_equal(log_bucket_position(relative, bucket_size, max_position), expected)


def test_hub_like_folder_with_only_spm_model_and_fp16_pickle(tmp_path):
    """microsoft/deberta-v3-base ships config.json, pytorch_model.bin (fp16), spm.model, tokenizer_config.json."""
    folder = write_sentencepiece_checkpoint("deberta-v2", tmp_path / "deberta-v3-like", pickled_fp16=True)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "pytorch_model.bin", "spm.model", "tokenizer_config.json"]
    model = TextClassifier.from_pretrained(folder, labels=["neg", "pos"])
    theirs = transformers.AutoTokenizer.from_pretrained(folder)
    firsts, seconds = map(list, zip(*SAMPLE_PAIRS))
    assert [ids.tolist() for ids in model.tokenizer.encode(SAMPLE_TEXTS, max_length=64).token_ids] == theirs(SAMPLE_TEXTS)["input_ids"]
    encoded = model.tokenizer.encode(firsts, seconds, max_length=64)
    expected = theirs(firsts, seconds)
    assert [ids.tolist() for ids in encoded.token_ids] == expected["input_ids"]
    assert [ids.tolist() for ids in encoded.segment_ids] == expected["token_type_ids"]
    # Saved: safetensors, and a tokenizer.json so transformers reads exactly the tokenizer trained with.
    saved = model.save_pretrained(tmp_path / "saved")
    assert (saved / "model.safetensors").is_file() and (saved / "tokenizer.json").is_file()
    hf_model = transformers.AutoModelForSequenceClassification.from_pretrained(saved, attn_implementation="eager").eval()
    with torch.no_grad():
        hf_logits = hf_model(**transformers.AutoTokenizer.from_pretrained(saved)(SAMPLE_TEXTS, padding=True, return_tensors="pt")).logits
    np.testing.assert_allclose(model.predict_logits(SAMPLE_TEXTS), hf_logits.numpy(), atol=1e-4)


def test_convolution_variants_are_refused(tmp_path):
    folder = write_checkpoint("deberta-v2", tmp_path / "deberta", task=True)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "conv_kernel_size": 3}))
    with pytest.raises(ValueError, match=r"conv_kernel_size=3.*not supported"):
        TextClassifier.from_pretrained(folder)


def test_deberta_v1_is_not_taken_for_v2(tmp_path):
    folder = write_checkpoint("deberta-v2", tmp_path / "deberta", task=True)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "deberta"}))
    with pytest.raises(ValueError, match=r"Unsupported model_type='deberta'.*'deberta-v2'"):
        TextClassifier.from_pretrained(folder)


def test_string_pos_att_type_of_older_configs(tmp_path):
    folder = write_checkpoint("deberta-v2", tmp_path / "deberta", task=True)
    expected = TextClassifier.from_pretrained(folder).predict_logits(SAMPLE_TEXTS[:3])
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "pos_att_type": "p2c|c2p"}))
    np.testing.assert_allclose(TextClassifier.from_pretrained(folder).predict_logits(SAMPLE_TEXTS[:3]), expected, atol=1e-6)
