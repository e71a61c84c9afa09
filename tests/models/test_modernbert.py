"""ModernBERT specifics: both poolings, transformers 4 config files, the local-attention window."""

import numpy as np
import pytest
import torch
import transformers

from textfit import TextClassifier
from tiny_checkpoints import SAMPLE_TEXTS, to_v4_modernbert_config, write_checkpoint


def _transformers_logits(folder):
    hf_model = transformers.AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():
        return hf_model(**tokenizer(SAMPLE_TEXTS, padding=True, return_tensors="pt")).logits.numpy()


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_both_poolings_match_transformers(pooling, tmp_path):
    folder = write_checkpoint("modernbert", tmp_path / pooling, task=True, classifier_pooling=pooling)
    model = TextClassifier.from_pretrained(folder)
    assert model.head.spec.pooling == pooling
    np.testing.assert_allclose(model.predict_logits(SAMPLE_TEXTS), _transformers_logits(folder), atol=1e-4)


def test_transformers_4_config_layout_gives_the_same_model(tmp_path):
    folder = write_checkpoint("modernbert", tmp_path / "modernbert", task=True)
    expected = TextClassifier.from_pretrained(folder).predict_logits(SAMPLE_TEXTS)
    to_v4_modernbert_config(folder)
    assert "layer_types" not in (folder / "config.json").read_text()
    np.testing.assert_allclose(TextClassifier.from_pretrained(folder).predict_logits(SAMPLE_TEXTS), expected, atol=1e-6)


def test_masked_lm_head_dense_and_norm_are_reused(tmp_path):
    model = TextClassifier.from_pretrained(write_checkpoint("modernbert", tmp_path / "mlm"), labels=["a", "b"])
    assert {"head.dense.weight", "head.norm.weight"} <= set(model.load_report.loaded)
    assert set(model.load_report.newly_initialized) == {"classifier.weight", "classifier.bias"}
    assert model.load_report.unused == ("decoder.bias",)
