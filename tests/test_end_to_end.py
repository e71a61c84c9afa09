"""End to end on the real all-MiniLM-L6-v2 and real BBC News articles, long documents (slow: ~1-2 min on 2 cores)."""

import json

import numpy as np
import pytest
import torch
import transformers

from textfit import TextClassifier, cli
from textfit.data.datasets import load_bbc_news


@pytest.mark.slow
def test_minilm_learns_bbc_topics_and_transformers_loads_the_result(tmp_path, capsys):
    articles = load_bbc_news().sample(frac=1.0, random_state=0)
    train_table, test_table = articles.iloc[:300], articles.iloc[300:500]
    train_csv, test_csv = tmp_path / "train.csv", tmp_path / "test.csv"
    train_table.to_csv(train_csv, index=False)
    test_table.to_csv(test_csv, index=False)
    output = tmp_path / "bbc-model"

    assert cli.main(["train", "--train", str(train_csv), "--output", str(output), "--epochs", "2",
                     "--learning-rate", "2e-4", "--max-length", "96", "--validation-split", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "examples/s" in out and "TF-IDF baseline" in out
    record = json.loads((output / "textfit.json").read_text())
    # The articles run to hundreds of tokens: "auto" reads both ends of each, and the doctor says how much is seen.
    assert record["model_config"]["truncation"] == "head+tail"
    assert record["data_check"]["stats"]["truncated_fraction"] > 0.9
    assert "truncation_options" in record["data_check"]["stats"]
    assert json.loads((output / "metrics.json").read_text())["baseline"]["accuracy"] > 0.8

    assert cli.main(["evaluate", "--model", str(output), "--data", str(test_csv)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["accuracy"] > 0.8, metrics  # chance is ~0.23 (the largest topic)
    assert metrics["macro_f1"] > 0.75, metrics

    assert TextClassifier.from_pretrained(output).model_config.truncation == "head+tail"
    # transformers cuts every text at its start and computes in float32: compare with the same reading.
    model = TextClassifier.from_pretrained(output, truncation="head", precision="float32")
    assert model.labels == ("business", "entertainment", "politics", "sports", "tech")
    texts = test_table["text"].tolist()[:16]
    hf_model = transformers.AutoModelForSequenceClassification.from_pretrained(output).eval()
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(output)
    with torch.no_grad():
        hf_logits = hf_model(**hf_tokenizer(texts, padding=True, truncation=True, return_tensors="pt")).logits.numpy()
    np.testing.assert_allclose(model.predict_logits(texts), hf_logits, atol=1e-4)
    assert model.predict(texts) == [hf_model.config.id2label[i] for i in hf_logits.argmax(-1)]
