"""Checks of the tiny random checkpoints in tiny_checkpoints.py: tokenizers agree across libraries, folders load in
transformers, every tensor is randomised and names carry the documented prefixes."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from safetensors.numpy import load_file
from tiny_checkpoints import (
    BASE_CLASSES,
    FAMILIES,
    PRETRAINING_HEAD_PREFIXES,
    SAMPLE_PAIRS,
    SAMPLE_TEXTS,
    TASK_HEAD_PREFIXES,
    WEIGHT_PREFIXES,
    to_v4_modernbert_config,
    write_checkpoint,
)
from tokenizers import Tokenizer

KINDS = ("task", "pretraining", "model")

# Special token ids and whether AutoTokenizer returns token_type_ids (transformers 5.24).
EXPECTED_SPECIALS = {
    "bert": ("[CLS]", "[SEP]", "[PAD]", 2, 3, 0, True),
    "electra": ("[CLS]", "[SEP]", "[PAD]", 2, 3, 0, True),
    "distilbert": ("[CLS]", "[SEP]", "[PAD]", 2, 3, 0, False),
    "roberta": ("<s>", "</s>", "<pad>", 0, 2, 1, False),
    "xlm-roberta": ("<s>", "</s>", "<pad>", 0, 2, 1, False),
    "deberta-v2": ("[CLS]", "[SEP]", "[PAD]", 1, 2, 0, True),
    "modernbert": ("[CLS]", "[SEP]", "[PAD]", None, None, None, False),  # appended after the BPE vocabulary
    "mpnet": ("<s>", "</s>", "<pad>", 0, 2, 1, False),
    "albert": ("[CLS]", "[SEP]", "<pad>", 2, 3, 0, False),
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """family -> kind -> folder, written once for the module."""
    root = tmp_path_factory.mktemp("tiny-families")
    return {
        family: {
            "task": write_checkpoint(family, root / f"{family}-task", task=True),
            "pretraining": write_checkpoint(family, root / f"{family}-pretraining"),
            "model": write_checkpoint(family, root / f"{family}-model", base="model"),
        }
        for family in FAMILIES
    }


@pytest.mark.parametrize("family", FAMILIES)
def test_autotokenizer_matches_tokenizer_json(folders, family, tmp_path):
    folder = folders[family]["task"]
    raw = Tokenizer.from_file(str(folder / "tokenizer.json"))
    hf = transformers.AutoTokenizer.from_pretrained(folder)
    cls, sep, pad, cls_id, sep_id, pad_id, has_types = EXPECTED_SPECIALS[family]
    assert (hf.cls_token, hf.sep_token, hf.pad_token) == (cls, sep, pad)
    config = json.loads((folder / "config.json").read_text())
    assert hf.pad_token_id == raw.token_to_id(pad) == config["pad_token_id"]
    if cls_id is not None:
        assert (hf.cls_token_id, hf.sep_token_id, hf.pad_token_id) == (cls_id, sep_id, pad_id)
    for text in SAMPLE_TEXTS:
        encoded, expected = hf(text), raw.encode(text)
        assert encoded["input_ids"] == expected.ids, (text, expected.tokens)
        assert ("token_type_ids" in encoded) == has_types
    for first, second in SAMPLE_PAIRS:
        encoded, expected = hf(first, second), raw.encode(first, second)
        assert encoded["input_ids"] == expected.ids, (first, second, expected.tokens)
        if has_types:
            assert encoded["token_type_ids"] == expected.type_ids
        if config.get("type_vocab_size") == 1:  # RoBERTa family: every type id must index the single row
            assert set(expected.type_ids) == {0}
    ids = raw.encode(*SAMPLE_PAIRS[0]).ids
    assert ids[0] == hf.cls_token_id and ids[-1] == hf.sep_token_id
    if (folder / "vocab.txt").exists() or (folder / "vocab.json").exists():
        # Without tokenizer.json, transformers builds from vocab.txt / vocab.json + merges.txt: same ids.
        bare = Path(shutil.copytree(folder, tmp_path / "no-tokenizer-json"))
        (bare / "tokenizer.json").unlink()
        from_vocab = transformers.AutoTokenizer.from_pretrained(bare)
        for first, second in SAMPLE_PAIRS:
            assert from_vocab(first, second)["input_ids"] == raw.encode(first, second).ids
        assert [from_vocab(text)["input_ids"] for text in SAMPLE_TEXTS] == [raw.encode(text).ids for text in SAMPLE_TEXTS]
    # Every id fits the embedding table, and vocab.txt (where shipped) lists tokens in id order.
    vocab = raw.get_vocab(with_added_tokens=True)
    assert max(vocab.values()) < config["vocab_size"]
    if (folder / "vocab.txt").exists():
        lines = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
        assert lines == sorted(vocab, key=vocab.get)
    longest = max(len(raw.encode(text).ids) for text in SAMPLE_TEXTS)
    assert 40 < longest <= 64  # long enough for the relative-position paths, short enough for 64 positions


@pytest.mark.parametrize("family", FAMILIES)
def test_tensor_names_and_randomisation(folders, family):
    prefix = WEIGHT_PREFIXES[family]
    for kind in KINDS:
        tensors = load_file(str(folders[family][kind] / "model.safetensors"))
        names = set(tensors)
        if kind == "model":
            assert not any(name.startswith(prefix) for name in names), kind
        else:
            heads = TASK_HEAD_PREFIXES[family] if kind == "task" else PRETRAINING_HEAD_PREFIXES[family]
            for head in heads:
                assert any(name.startswith(head) for name in names), (kind, head)
            assert all(name.startswith((prefix, *heads)) for name in names), sorted(names)
        for name, value in tensors.items():
            assert value.dtype == np.float32, name
            assert not np.all(value == 0) and not np.all(value == 1), f"{kind}: {name} left at its init value"


def _padded_batch(tokenizer):
    texts = SAMPLE_TEXTS[:4] + [SAMPLE_TEXTS[-1]]
    return texts, tokenizer(texts, padding=True, return_tensors="pt")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", KINDS)
def test_loads_in_transformers_and_runs_padded(folders, family, kind):
    folder = folders[family][kind]
    model, info = transformers.AutoModelForSequenceClassification.from_pretrained(
        folder, attn_implementation="eager", output_loading_info=True
    )
    model.eval()
    # Only the classification head may be missing: every encoder tensor has to be found under its prefix.
    assert all(name.startswith(TASK_HEAD_PREFIXES[family]) for name in info["missing_keys"]), info["missing_keys"]
    if kind == "task":
        assert not info["missing_keys"] and not info["unexpected_keys"]
        assert model.config.id2label == {0: "neg", 1: "pos", 2: "meh"}
    config = json.loads((folder / "config.json").read_text())
    saved_from = {"task": type(model).__name__, "pretraining": BASE_CLASSES[family]}.get(kind)
    assert config["architectures"] == [saved_from] if saved_from else config["architectures"][0].endswith("Model")
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    texts, batch = _padded_batch(tokenizer)
    assert (batch["attention_mask"] == 0).any()
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (len(texts), model.config.num_labels)
    assert torch.isfinite(logits).all() and logits.abs().max() < 100
    if kind == "task":  # padding must not change a text's logits (HF masks correctly with these settings)
        with torch.no_grad():
            alone = torch.cat([model(**tokenizer([text], return_tensors="pt")).logits for text in texts])
        torch.testing.assert_close(logits, alone, atol=1e-4, rtol=1e-4)


def test_hard_path_settings(folders):
    config = {family: json.loads((folders[family]["task"] / "config.json").read_text()) for family in FAMILIES}
    assert config["electra"]["embedding_size"] == 16 != config["electra"]["hidden_size"]
    assert config["roberta"]["max_position_embeddings"] == 66 and config["roberta"]["type_vocab_size"] == 1
    assert config["xlm-roberta"]["model_type"] == "xlm-roberta" and config["xlm-roberta"]["layer_norm_eps"] == 1e-5
    deberta = config["deberta-v2"]
    assert (deberta["position_buckets"], deberta["relative_attention"], deberta["position_biased_input"], deberta["type_vocab_size"]) == (8, True, False, 0)
    assert deberta["vocab_size"] % 16 == 0
    modern = config["modernbert"]
    assert modern["layer_types"] == ["full_attention", "sliding_attention", "sliding_attention", "full_attention"]
    assert modern["local_attention"] == 8 and modern["rope_parameters"]["full_attention"]["rope_theta"] == 160000.0
    assert (config["albert"]["num_hidden_layers"], config["albert"]["num_hidden_groups"], config["albert"]["embedding_size"]) == (4, 2, 16)
    for family in FAMILIES:
        dropouts = [value for key, value in config[family].items() if "dropout" in key and isinstance(value, float)]
        assert dropouts and all(value > 0 for value in dropouts), family


def test_overrides_seed_and_v4_modernbert_config(tmp_path, folders):
    cls_folder = write_checkpoint("modernbert", tmp_path / "cls", task=True, classifier_pooling="cls")
    assert json.loads((cls_folder / "config.json").read_text())["classifier_pooling"] == "cls"
    other_seed = write_checkpoint("bert", tmp_path / "seed1", task=True, seed=1)
    weight = "classifier.weight"
    assert not np.allclose(load_file(str(other_seed / "model.safetensors"))[weight],
                           load_file(str(folders["bert"]["task"] / "model.safetensors"))[weight])

    # The transformers 4 config layout loads to the same model.
    tokenizer = transformers.AutoTokenizer.from_pretrained(cls_folder)
    batch = tokenizer(SAMPLE_TEXTS[:3], padding=True, return_tensors="pt")
    with torch.no_grad():
        before = transformers.AutoModelForSequenceClassification.from_pretrained(cls_folder, attn_implementation="eager").eval()(**batch).logits
        to_v4_modernbert_config(cls_folder)
        v4 = json.loads((cls_folder / "config.json").read_text())
        assert "rope_parameters" not in v4 and v4["global_attn_every_n_layers"] == 3 and v4["local_rope_theta"] == 10000.0
        reloaded = transformers.AutoModelForSequenceClassification.from_pretrained(cls_folder, attn_implementation="eager").eval()
        assert reloaded.config.layer_types == ["full_attention", "sliding_attention", "sliding_attention", "full_attention"]
        torch.testing.assert_close(reloaded(**batch).logits, before)
