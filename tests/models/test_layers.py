"""Shared layers: dropout (torch's fast path), and attention with dropout on its probabilities while training, and only then."""

import json

import keras
import numpy as np
import pytest
import torch

from textfit import TextClassifier
from textfit.data.tokenizer import pad_batch
from textfit.models.layers import Dropout, _torch_attention_with_dropout, attention, explicit_attention, torch_dropout
from tiny_checkpoints import SAMPLE_TEXTS, write_checkpoint


def _qkv(seed=0):
    rng = np.random.default_rng(seed)
    query, key, value = (rng.standard_normal((2, 5, 4, 8)).astype("float32") for _ in range(3))
    mask = np.ones((2, 1, 1, 5), dtype=bool)
    mask[1, ..., 3:] = False
    return query, key, value, mask


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def test_explicit_path_without_dropout_equals_the_fused_kernel():
    query, key, value, mask = _qkv()
    fused = attention(query, key, value, mask=mask, scale=0.3)
    explicit = explicit_attention(query, key, value, mask=mask, bias=None, scale=0.3, dropout_rate=0.0, seed_generator=None)
    np.testing.assert_allclose(_numpy(explicit), _numpy(fused), atol=1e-5)


def test_explicit_path_drops_probabilities_by_its_seed():
    query, key, value, mask = _qkv()

    def run(seed):
        return _numpy(explicit_attention(query, key, value, mask=mask, bias=None, scale=0.3, dropout_rate=0.5,
                                         seed_generator=keras.random.SeedGenerator(seed)))

    assert not np.allclose(run(1), run(2))
    np.testing.assert_allclose(run(1), run(1))


@pytest.fixture(scope="module")
def attention_dropout_only(tmp_path_factory):
    """A BERT whose only dropout is on attention probabilities."""
    folder = write_checkpoint("bert", tmp_path_factory.mktemp("dropout") / "bert", task=True)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, classifier_dropout=0.0, attention_probs_dropout_prob=0.5)
    (folder / "config.json").write_text(json.dumps(config))
    model = TextClassifier.from_pretrained(folder)
    batch = pad_batch(model.tokenizer.encode(SAMPLE_TEXTS[:4], max_length=32), range(4), pad_token_id=0)
    return model, batch


def test_training_outputs_vary_with_the_dropout_seed_and_inference_does_not(attention_dropout_only):
    model, batch = attention_dropout_only

    def training_logits(seed):
        torch.manual_seed(seed)
        return _numpy(model(batch, training=True))

    assert not np.allclose(training_logits(1), training_logits(2), atol=1e-4)
    np.testing.assert_allclose(training_logits(1), training_logits(1), atol=1e-6)
    inference = _numpy(model(batch, training=False))
    torch.manual_seed(3)
    np.testing.assert_allclose(_numpy(model(batch, training=False)), inference, atol=1e-6)


def test_no_dropout_rate_means_training_equals_inference(tmp_path):
    folder = write_checkpoint("bert", tmp_path / "bert", task=True)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, classifier_dropout=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    model = TextClassifier.from_pretrained(folder)
    batch = pad_batch(model.tokenizer.encode(SAMPLE_TEXTS[:4], max_length=32), range(4), pad_token_id=0)
    np.testing.assert_allclose(_numpy(model(batch, training=True)), _numpy(model(batch, training=False)), atol=1e-5)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_torch_dropout_drops_at_the_rate_and_keeps_the_expectation(rate):
    torch.manual_seed(0)
    ones = torch.ones((400, 1000))
    dropped = torch_dropout(ones, rate)
    assert float((dropped == 0).float().mean()) == pytest.approx(rate, abs=3e-3)
    assert float(dropped.mean()) == pytest.approx(1.0, abs=1e-2)  # kept values scaled by 1 / keep rate
    kept = dropped[dropped != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - round(rate * 32768) / 32768)))
    # Every position is dropped independently: no stripes from the 4-per-word bit layout.
    assert float((dropped.reshape(-1, 4) == 0).float().mean(0).std()) < 5e-3


def test_torch_dropout_follows_the_global_generator_and_passes_gradients_through_kept_values():
    x = torch.randn(64, 33, requires_grad=True)
    torch.manual_seed(7)
    first = torch_dropout(x, 0.3)
    torch.manual_seed(7)
    assert torch.equal(first, torch_dropout(x, 0.3))
    assert not torch.equal(first, torch_dropout(x, 0.3))
    first.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), (first != 0).float().numpy() / (1 - round(0.3 * 32768) / 32768), rtol=1e-6)
    assert torch_dropout(x, 0.0) is x and torch.equal(torch_dropout(x, 1.0), torch.zeros_like(x))


def test_dropout_layer_only_drops_in_training_and_keeps_bfloat16():
    layer = Dropout(0.5, seed=1, dtype="mixed_bfloat16")
    x = torch.ones((8, 16), dtype=torch.bfloat16)
    assert torch.equal(layer(x, training=False), x)
    dropped = layer(x, training=True)
    assert dropped.dtype == torch.bfloat16 and 0 < int((dropped == 0).sum()) < x.numel()


def test_torch_attention_path_without_dropout_equals_the_fused_kernel():
    query, key, value, mask = (torch.as_tensor(a) for a in _qkv())
    fused = attention(query, key, value, mask=mask, scale=0.3)
    explicit = _torch_attention_with_dropout(query, key, value, mask, None, 0.3, dropout_rate=0.0)
    np.testing.assert_allclose(_numpy(explicit), _numpy(fused), atol=1e-5)
