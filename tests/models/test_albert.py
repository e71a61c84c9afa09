"""ALBERT specifics: weights shared across layers (one variable per checkpoint tensor), other layer/group
layouts against transformers, the segment ids, the config's dropout defaults, and spiece.model-only folders."""

import json

import keras
import numpy as np
import pytest
import transformers

from textfit import TextClassifier
from textfit.data.tokenizer import pad_batch
from textfit.hf.folder import read_weights
from textfit.models import albert
from textfit.models.layers import ACTIVATIONS
from test_families import _compare_with_transformers
from tiny_checkpoints import SAMPLE_PAIRS, SAMPLE_TEXTS, write_checkpoint, write_sentencepiece_checkpoint


def test_shared_weights_are_one_variable_per_checkpoint_tensor(tmp_path):
    folder = write_checkpoint("albert", tmp_path / "albert", task=True)  # 4 layers in 2 groups
    tensors = read_weights(folder)
    model = TextClassifier.from_pretrained(folder)
    assert model.backbone.layer_groups == [0, 0, 1, 1] and len(model.backbone.blocks) == 2
    assert len({id(variable) for variable in model.weights}) == len(model.weights) == len(tensors)
    report = model.load_report
    assert sorted(report.loaded) == sorted(tensors) and report.newly_initialized == report.unused == ()
    assert "albert.encoder.albert_layer_groups.1.albert_layers.0.ffn.weight" in report.loaded
    assert set(read_weights(model.save_pretrained(tmp_path / "saved"))) == set(tensors)  # each shared tensor saved once


@pytest.mark.parametrize("layout", [
    {"num_hidden_layers": 3, "num_hidden_groups": 2, "inner_group_num": 2},  # int(i / 1.5): groups 0, 0, 1, two blocks each
    {"num_hidden_layers": 5, "num_hidden_groups": 3, "inner_group_num": 1},  # int(i / (5 / 3)): 0, 0, 1, 1, 2
    {"num_hidden_layers": 2, "num_hidden_groups": 1, "embedding_size": 32},  # embedding width = hidden: the mapping stays
])
def test_other_layouts_match_transformers(layout, tmp_path):
    folder = write_checkpoint("albert", tmp_path / "albert", task=True, **layout)
    model = TextClassifier.from_pretrained(folder)
    assert model.load_report.unused == ()
    firsts, seconds = map(list, zip(*SAMPLE_PAIRS))
    _compare_with_transformers(model, folder, "albert", firsts, seconds)


def test_segment_ids_are_the_ones_transformers_gives_when_asked(tmp_path):
    # transformers 5's AlbertTokenizer drops token_type_ids unless asked (huggingface/transformers#48128);
    # AlbertModel and the pre-trained weights use them, so we keep segment ids 0/1 on pairs.
    folder = write_checkpoint("albert", tmp_path / "albert")
    ours = TextClassifier.from_pretrained(folder, num_labels=2).tokenizer
    theirs = transformers.AutoTokenizer.from_pretrained(folder)
    firsts, seconds = map(list, zip(*SAMPLE_PAIRS))
    expected = theirs(firsts, seconds, return_token_type_ids=True)
    encoded = ours.encode(firsts, seconds, max_length=64)
    assert [ids.tolist() for ids in encoded.token_ids] == expected["input_ids"]
    assert [ids.tolist() for ids in encoded.segment_ids] == expected["token_type_ids"]


def test_config_defaults_are_albert_s():
    # AlbertConfig: no dropout, gelu_new; classifier_dropout_prob 0.1; no dropout after the feed-forward ever.
    config = {"model_type": "albert", "vocab_size": 50, "hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 37,
              "num_hidden_layers": 2, "embedding_size": 16}
    backbone = albert.build_backbone(config)
    assert backbone.embeddings.dropout.rate == 0.0
    for block in backbone.blocks:
        assert block.attention_dropout.rate == block.output_dropout.rate == block.attention_probabilities_dropout == 0.0
        assert block.intermediate.activation is ACTIVATIONS["gelu_new"]
    dropped = albert.build_backbone({**config, "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.2})
    for block in dropped.blocks:
        assert (block.attention_dropout.rate, block.output_dropout.rate, block.attention_probabilities_dropout) == (0.1, 0.0, 0.2)
    spec = albert.head({"hidden_dropout_prob": 0.3}, None)
    assert (spec.dense_name, spec.dense_dropout, spec.dropout) == ("albert.pooler", 0.0, 0.1)
    assert albert.head({"classifier_dropout_prob": 0.2}, None).dropout == 0.2


def test_without_dropout_keys_training_equals_inference(tmp_path):
    # A config.json without the dropout keys means AlbertConfig's 0.0, not BERT's 0.1.
    folder = write_checkpoint("albert", tmp_path / "albert", task=True, classifier_dropout_prob=0.0)
    config = json.loads((folder / "config.json").read_text())
    for key in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
        del config[key]
    (folder / "config.json").write_text(json.dumps(config))
    model = TextClassifier.from_pretrained(folder)
    batch = pad_batch(model.tokenizer.encode(SAMPLE_TEXTS[:4], max_length=32), range(4), pad_token_id=0)
    training = keras.ops.convert_to_numpy(model(batch, training=True))
    np.testing.assert_allclose(training, keras.ops.convert_to_numpy(model(batch, training=False)), atol=1e-5)


def test_spiece_model_only_folder(tmp_path):
    folder = write_sentencepiece_checkpoint("albert", tmp_path / "albert")
    assert sorted(path.name for path in folder.iterdir()) == ["config.json", "model.safetensors", "spiece.model", "tokenizer_config.json"]
    model = TextClassifier.from_pretrained(folder, labels=["neg", "pos"])
    theirs = transformers.AutoTokenizer.from_pretrained(folder)
    assert model.tokenizer.pad_token_id == theirs.pad_token_id == 0
    assert [ids.tolist() for ids in model.tokenizer.encode(SAMPLE_TEXTS, max_length=64).token_ids] == theirs(SAMPLE_TEXTS)["input_ids"]
    firsts, seconds = map(list, zip(*SAMPLE_PAIRS))
    encoded = model.tokenizer.encode(firsts, seconds, max_length=64)
    expected = theirs(firsts, seconds, return_token_type_ids=True)
    assert [ids.tolist() for ids in encoded.token_ids] == expected["input_ids"]
    assert [ids.tolist() for ids in encoded.segment_ids] == expected["token_type_ids"]
