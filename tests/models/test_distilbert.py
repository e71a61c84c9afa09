"""DistilBERT specifics: its own config keys, and no segment ids."""

import json

import numpy as np
import pytest

from textfit import TextClassifier
from textfit.data.tokenizer import pad_batch
from tiny_checkpoints import SAMPLE_PAIRS, write_checkpoint


def test_segment_ids_do_not_change_the_output(tmp_path):
    model = TextClassifier.from_pretrained(write_checkpoint("distilbert", tmp_path / "distilbert", task=True))
    firsts, seconds = map(list, zip(*SAMPLE_PAIRS))
    batch = pad_batch(model.tokenizer.encode(firsts, seconds, max_length=64), range(len(firsts)), pad_token_id=0)
    assert batch["segment_ids"].max() == 1
    zeroed = {**batch, "segment_ids": np.zeros_like(batch["segment_ids"])}
    np.testing.assert_allclose(model.predict_logits(batch), model.predict_logits(zeroed), atol=1e-6)


def test_a_damaged_config_names_distilberts_key(tmp_path):
    folder = write_checkpoint("distilbert", tmp_path / "distilbert")
    config = json.loads((folder / "config.json").read_text())
    del config["n_layers"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"lacks 'n_layers'"):
        TextClassifier.from_pretrained(folder, num_labels=2)
