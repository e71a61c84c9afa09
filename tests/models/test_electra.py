"""ELECTRA specifics: the embedding projection, and the discriminator head left unused."""

import numpy as np

from textfit import TextClassifier
from tiny_checkpoints import SAMPLE_TEXTS, write_checkpoint


def test_narrow_embeddings_are_projected_to_the_hidden_width(tmp_path):
    model = TextClassifier.from_pretrained(write_checkpoint("electra", tmp_path / "electra"), num_labels=2)
    assert model.backbone.embeddings.token_embedding.embeddings.shape == (model.tokenizer.vocabulary_size, 16)
    assert "electra.embeddings_project.weight" in model.load_report.loaded
    assert all(name.startswith("discriminator_predictions.") for name in model.load_report.unused)


def test_equal_widths_need_no_projection(tmp_path):
    folder = write_checkpoint("electra", tmp_path / "electra", embedding_size=32)
    model = TextClassifier.from_pretrained(folder, num_labels=2)
    assert model.backbone.embeddings.projection is None
    assert np.isfinite(model.predict_logits(SAMPLE_TEXTS[:2])).all()
