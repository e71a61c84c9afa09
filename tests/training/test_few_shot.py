"""Few-shot training (SetFit's recipe in the model's own head), and training with several seeds."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import transformers
from sklearn.linear_model import LogisticRegression

from textfit import TextClassifier, train
from textfit.data.inputs import softmax
from textfit.training.few_shot import _logits_layer, make_pairs
from textfit.training.train import TrainConfig
from tiny_checkpoints import SAMPLE_TEXTS


def test_pairs_are_setfits_one_positive_and_one_negative_per_example_and_iteration():
    labels = np.array([0, 0, 1, 1, 1, 2, 2])
    first, second, targets = make_pairs(labels, num_iterations=3, seed=0)
    assert len(targets) == 3 * 2 * len(labels) and targets.sum() == len(targets) / 2
    assert np.all(first != second)
    assert np.array_equal(labels[first] == labels[second], targets == 1.0)
    for index in range(len(labels)):  # each example leads one positive and one negative pair per iteration
        assert np.sum(first == index) == 6 and np.sum(targets[first == index]) == 3
    again = make_pairs(labels, num_iterations=3, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip((first, second, targets), again))


def test_a_label_with_one_example_gets_no_positive_pair():
    first, _, targets = make_pairs(np.array([0, 0, 1]), num_iterations=2, seed=0)
    assert np.sum((first == 2) & (targets == 1.0)) == 0 and np.sum((first == 2) & (targets == 0.0)) == 2


@pytest.mark.parametrize("num_classes,present", [(2, [0, 1]), (3, [0, 1, 2]), (4, [0, 2, 3])])
def test_the_logistic_regression_becomes_a_softmax_layer_with_its_probabilities(num_classes, present):
    rng = np.random.default_rng(0)
    features = rng.standard_normal((60, 5))
    labels = np.array(present)[rng.integers(0, len(present), 60)]
    head = LogisticRegression(max_iter=1000).fit(features, labels)
    kernel, bias = _logits_layer(head, num_classes)
    probabilities = softmax(features @ kernel + bias)
    np.testing.assert_allclose(probabilities[:, present], head.predict_proba(features), atol=1e-5)
    missing = sorted(set(range(num_classes)) - set(present))
    assert np.all(probabilities[:, missing] < 1e-6)


TEXTS = ["i love this film", "great acting and fun plot", "a very good movie", "i like it",
         "awful boring plot", "i hate this movie", "bad acting", "dull and boring",
         "the match ended in a draw", "the team won the final", "a goal in extra time", "the coach was sacked"]
LABELS = ["pos"] * 4 + ["neg"] * 4 + ["sport"] * 4


def test_few_shot_trains_a_normal_folder_that_transformers_reads_the_same(tiny_checkpoint_dir, tmp_path, caplog):
    data = tmp_path / "train.csv"
    pd.DataFrame({"text": TEXTS, "label": LABELS}).to_csv(data, index=False)
    with caplog.at_level("INFO", logger="textfit"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(tiny_checkpoint_dir, data, tmp_path / "model", verbose=0, train_config=TrainConfig(seed=3))
    log = caplog.text
    assert "few_shot True: at most 32 examples per label" in log and "Few-shot: 480 pairs (30 steps)" in log
    # No false alarms: the fine-tuning stage starts from the fitted head (not a new head's ln(3) loss), and the
    # contrastive stage freezes the head it does not train.
    assert "The loss before training" not in log
    assert not [w for w in caught if "Gradients do not exist" in str(w.message)]
    assert "validation_split 0.0: few-shot training uses every example" in log
    record = json.loads((tmp_path / "model" / "textfit.json").read_text())
    assert record["settings"]["few_shot"] is True and record["few_shot"]["pairs"] == 2 * 20 * 12
    assert result.metrics is None and (tmp_path / "model" / "report.html").is_file()
    assert "few-shot training" in (tmp_path / "model" / "report.html").read_text()
    # The contrastive stage moved the encoder, and the head is the logistic regression, trained on these texts.
    reloaded = TextClassifier.from_pretrained(tmp_path / "model")
    assert reloaded.load_report.newly_initialized == ()
    assert record["few_shot"]["training_accuracy"] >= 0.75
    ours = np.array([[row[label] for label in reloaded.labels] for row in reloaded.predict_proba(SAMPLE_TEXTS)])
    hf_model = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path / "model").eval()
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "model")
    with torch.no_grad():
        theirs = torch.softmax(hf_model(**hf_tokenizer(SAMPLE_TEXTS, padding=True, truncation=True, max_length=128,
                                                        return_tensors="pt")).logits, -1).numpy()
    assert [hf_model.config.id2label[i] for i in range(3)] == list(reloaded.labels)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)
    base = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=list(reloaded.labels))
    before = base.predict_features(TEXTS)
    assert not np.allclose(before, reloaded.predict_features(TEXTS), atol=1e-3)


def test_few_shot_off_fine_tunes_and_multi_label_refuses_few_shot_on(tiny_checkpoint_dir, tmp_path, caplog):
    data = tmp_path / "train.csv"
    pd.DataFrame({"text": TEXTS, "label": LABELS}).to_csv(data, index=False)
    with caplog.at_level("INFO", logger="textfit"):
        train(tiny_checkpoint_dir, data, tmp_path / "model", verbose=0, train_config=TrainConfig(few_shot="off", epochs=1))
    assert "Few-shot" not in caplog.text
    assert "few_shot" not in json.loads((tmp_path / "model" / "textfit.json").read_text())
    multi = tmp_path / "multi.csv"
    pd.DataFrame({"text": TEXTS, "label": ["a|b", "a"] * 6}).to_csv(multi, index=False)
    with pytest.raises(ValueError, match="--few-shot on trains single-label classifiers; this data is multi_label"):
        train(tiny_checkpoint_dir, multi, tmp_path / "multi-model", verbose=0, train_config=TrainConfig(few_shot="on"))


def test_several_seeds_report_the_spread_and_keep_the_best(tiny_checkpoint_dir, tmp_path, caplog):
    data = tmp_path / "train.csv"
    pd.DataFrame({"text": TEXTS * 5, "label": LABELS * 5}).to_csv(data, index=False)
    with caplog.at_level("INFO", logger="textfit"):
        result = train(tiny_checkpoint_dir, data, tmp_path / "model", verbose=0,
                       train_config=TrainConfig(seeds=3, seed=4, few_shot="off", epochs=1, validation_split=0.4))
    seeds = result.metrics["seeds"]
    assert seeds["seeds"] == [4, 5, 6] and "macro_f1" in seeds["metrics"]
    values = seeds["macro_f1"]["values"]
    assert seeds["macro_f1"]["mean"] == pytest.approx(np.mean(values)) and seeds["macro_f1"]["std"] == pytest.approx(np.std(values, ddof=1))
    assert result.metrics["macro_f1"] == pytest.approx(max(values))
    assert seeds["chosen_seed"] == [4, 5, 6][int(np.argmax(values))]
    assert "Over 3 seeds: " in caplog.text
    assert "over 3 seeds (mean ± std)" in (tmp_path / "model" / "report.html").read_text()
    assert json.loads((tmp_path / "model" / "metrics.json").read_text())["seeds"]["seeds"] == [4, 5, 6]
