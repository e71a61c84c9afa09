"""BERT family: numerical parity with transformers on a tiny random checkpoint, and weight naming."""

import numpy as np
import pytest
import torch
import transformers

from conftest import write_tiny_checkpoint
from textfit import TextClassifier

PARITY_TEXTS = [
    "I love this film!",
    "Café au lait, naïve résumé",  # accents: stripped by an uncased vocabulary
    "great 😀 fun 🎉 plot",  # emoji: unknown to the vocabulary
    "the",
]


def _textfit_encoder_outputs(model, texts):
    encoded = model.tokenizer.encode(texts, max_length=model.model_config.max_length)
    from textfit.data.tokenizer import pad_batch

    batch = pad_batch(encoded, list(range(len(texts))), pad_token_id=model.tokenizer.pad_token_id)
    sequence = model.backbone(batch["token_ids"], batch["segment_ids"], batch["padding_mask"], training=False)
    pooled = model.head.dense(sequence[:, 0, :])
    return batch, {"sequence_output": _numpy(sequence), "pooled_output": _numpy(pooled)}


def _numpy(value):
    return np.asarray(value.detach() if hasattr(value, "detach") else value)


def _hf_outputs(checkpoint_dir, batch):
    hf_model = transformers.BertModel.from_pretrained(checkpoint_dir, attn_implementation="eager").eval()
    with torch.no_grad():
        outputs = hf_model(
            input_ids=torch.tensor(batch["token_ids"], dtype=torch.long),
            token_type_ids=torch.tensor(batch["segment_ids"], dtype=torch.long),
            attention_mask=torch.tensor(batch["padding_mask"], dtype=torch.long),
        )
    return outputs.last_hidden_state.numpy(), outputs.pooler_output.numpy()


def test_encoder_matches_transformers_bert_model(tiny_checkpoint_dir):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, num_labels=2)
    batch, outputs = _textfit_encoder_outputs(model, PARITY_TEXTS)
    hf_sequence, hf_pooled = _hf_outputs(tiny_checkpoint_dir, batch)
    mask = batch["padding_mask"].astype(bool)
    np.testing.assert_allclose(outputs["sequence_output"][mask], hf_sequence[mask], atol=1e-4)
    np.testing.assert_allclose(outputs["pooled_output"], hf_pooled, atol=1e-4)


def test_encoder_matches_transformers_on_text_pairs(tiny_checkpoint_dir):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, num_labels=2)
    encoded = model.tokenizer.encode(["the film", "a plot"], ["was great", "is dull and boring"], max_length=32)
    from textfit.data.tokenizer import pad_batch

    batch = pad_batch(encoded, [0, 1], pad_token_id=0)
    assert batch["segment_ids"].max() == 1
    sequence = model.backbone(batch["token_ids"], batch["segment_ids"], batch["padding_mask"])
    _, hf_pooled = _hf_outputs(tiny_checkpoint_dir, batch)
    np.testing.assert_allclose(_numpy(model.head.dense(sequence[:, 0, :])), hf_pooled, atol=1e-4)


@pytest.mark.parametrize("with_tokenizer_json", [True, False], ids=["tokenizer.json", "vocab.txt"])
def test_token_ids_match_auto_tokenizer(tmp_path, with_tokenizer_json):
    checkpoint_dir = write_tiny_checkpoint(tmp_path / "tiny", with_tokenizer_json=with_tokenizer_json)
    model = TextClassifier.from_pretrained(checkpoint_dir, num_labels=2)
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(checkpoint_dir)
    ours = model.tokenizer.encode(PARITY_TEXTS, max_length=64)
    theirs = hf_tokenizer(PARITY_TEXTS, truncation=True, max_length=64)["input_ids"]
    assert [ids.tolist() for ids in ours.token_ids] == theirs
    assert model.tokenizer.tokenize("Café")[1] == "cafe"


def test_truncation_matches_auto_tokenizer_for_pairs(tiny_checkpoint_dir):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, num_labels=2)
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_checkpoint_dir)
    first, second = ["the film was great fun " * 5], ["a very dull plot"]
    ours = model.tokenizer.encode(first, second, max_length=16)
    theirs = hf_tokenizer(first, second, truncation=True, max_length=16)
    assert ours.token_ids[0].tolist() == theirs["input_ids"][0]
    assert ours.segment_ids[0].tolist() == theirs["token_type_ids"][0]
