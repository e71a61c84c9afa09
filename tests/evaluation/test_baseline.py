"""The TF-IDF baseline: the same numbers as the documented scikit-learn pipeline, every task, degenerate data."""

import re

import numpy as np
import pytest
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multiclass import OneVsRestClassifier

import textfit  # noqa: F401  (selects the Keras backend before anything imports keras)
from textfit.data.examples import Examples
from textfit.data.labels import LabelMap, multi_hot
from textfit.evaluation import baseline
from textfit.evaluation.baseline import (
    BaselineResult,
    cut_text,
    documents,
    fit_baseline,
)
from textfit.evaluation.evaluate import classification_metrics
from textfit.evaluation.task_metrics import multilabel_metrics, regression_metrics

TOPICS = {
    "sport": "goal match team coach league striker referee stadium",
    "politics": "vote party election minister parliament senate policy campaign",
    "tech": "phone app software chip laptop startup cloud robot",
}
FILLER = ["the", "a", "of", "and", "to", "in", "is", "was", "for", "on", "that", "with", "it", "as", "at", "by", "this", "from"]


def topic_texts(num_examples, seed, *, noise_words=12, topic_words=3, flipped=0.0, num_topics=3):
    """Texts of filler words plus a few words of their topic; a ``flipped`` fraction gets a random label."""
    rng = np.random.default_rng(seed)
    names = sorted(TOPICS)[:num_topics]
    texts, labels = [], []
    for _ in range(num_examples):
        label = names[rng.integers(len(names))]
        words = list(rng.choice(FILLER, noise_words)) + list(rng.choice(TOPICS[label].split(), topic_words))
        rng.shuffle(words)
        texts.append(" ".join(words).capitalize() + ".")
        labels.append(names[rng.integers(len(names))] if rng.random() < flipped else label)
    return texts, labels


def single_label(num_train, num_validation, seed=0, **kwargs):
    texts, labels = topic_texts(num_train + num_validation, seed, **kwargs)
    return (
        Examples(texts[:num_train], None, labels[:num_train], "train"),
        Examples(texts[num_train:], None, labels[num_train:], "validation"),
    )


def multi_label(num_train, num_validation, seed=0):
    rng = np.random.default_rng(seed)
    names = sorted(TOPICS)
    texts, label_sets = [], []
    for _ in range(num_train + num_validation):
        chosen = tuple(name for name in names if rng.random() < 0.4) or (names[rng.integers(3)],)
        words = list(rng.choice(FILLER, 10))
        for name in chosen:
            words += list(rng.choice(TOPICS[name].split(), 3))
        rng.shuffle(words)
        texts.append(" ".join(words))
        label_sets.append(chosen)
    return (
        Examples(texts[:num_train], None, label_sets[:num_train], "train", "multi_label"),
        Examples(texts[num_train:], None, label_sets[num_train:], "validation", "multi_label"),
    )


def regression(num_train, num_validation, seed=0):
    """Targets: number of "good" words minus "bad" words, plus a little noise."""
    rng = np.random.default_rng(seed)
    texts, targets = [], []
    for _ in range(num_train + num_validation):
        good, bad = rng.integers(0, 4, 2)
        words = list(rng.choice(FILLER, 10)) + ["good"] * good + ["bad"] * bad
        rng.shuffle(words)
        texts.append(" ".join(words))
        targets.append(float(good - bad + rng.normal(0, 0.2)))
    return (
        Examples(texts[:num_train], None, targets[:num_train], "train", "regression"),
        Examples(texts[num_train:], None, targets[num_train:], "validation", "regression"),
    )


# ------------------------------------------------------------------------------------------------
# The documented pipeline, built by hand with scikit-learn only.


def sklearn_features(train_docs, validation_docs, *, min_df, word_cap=50_000, char_cap=30_000):
    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=min_df, max_features=word_cap)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=min_df, max_features=char_cap)
    x_train = sparse.hstack([word.fit_transform(train_docs), char.fit_transform(train_docs)], format="csr")
    x_validation = sparse.hstack([word.transform(validation_docs), char.transform(validation_docs)], format="csr")
    return x_train, x_validation


def sklearn_logistic_regression(num_classes):
    return LogisticRegression(C=4, solver="newton-cg" if num_classes > 2 else "lbfgs", max_iter=200)


def assert_same_metrics(actual, expected):
    """Equal counts and label sets; equal floats up to rounding (the features differ in the last bit)."""
    actual, expected = _flat(actual), _flat(expected)
    assert actual.keys() == expected.keys()
    for key, value in actual.items():
        other = expected[key]
        if isinstance(value, float):
            assert value == pytest.approx(other, rel=1e-6, abs=1e-9), key
        else:
            assert value == other, key


def _flat(metrics, prefix=""):
    flat = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@pytest.mark.parametrize("num_topics", [3, 2])
def test_single_label_reproduces_the_documented_scikit_learn_pipeline_with_min_df_2_and_caps(monkeypatch, num_topics):
    # 600 training texts: min_df=2. Small caps, so that pruning (and its ties) decides many columns.
    monkeypatch.setattr(baseline, "WORD_MAX_FEATURES", 150)
    monkeypatch.setattr(baseline, "CHAR_MAX_FEATURES", 400)
    train, validation = single_label(600, 150, noise_words=8, topic_words=1, flipped=0.3, num_topics=num_topics)
    result = fit_baseline(train, validation)

    x_train, x_validation = sklearn_features(train.texts, validation.texts, min_df=2, word_cap=150, char_cap=400)
    label_map = LabelMap.from_values(train.labels)
    assert label_map.num_classes == num_topics
    model = sklearn_logistic_regression(num_topics).fit(x_train, label_map.encode(train.labels))
    probabilities = model.predict_proba(x_validation)
    expected = classification_metrics(
        label_map.encode(validation.labels), probabilities.argmax(axis=1), list(label_map.labels), logits=np.log(probabilities)
    )
    assert_same_metrics(result.metrics, expected)
    assert 0.6 < result.metrics["accuracy"] < 1.0  # a signal, and errors to reproduce
    assert result.description == (
        "TF-IDF word 1-2-grams (min_df=2, top 150) + char_wb 2-5-grams (min_df=2, top 400), logistic regression (C=4)"
    )


def test_default_caps_and_settings_are_the_documented_ones():
    assert (baseline.WORD_MAX_FEATURES, baseline.CHAR_MAX_FEATURES, baseline.MIN_DF_2_FROM) == (50_000, 30_000, 500)
    assert (baseline.C, baseline.MAX_ITER, baseline.RIDGE_ALPHA) == (4.0, 200, 1.0)
    train, validation = single_label(40, 10)
    assert fit_baseline(train, validation).description == (
        "TF-IDF word 1-2-grams (min_df=1, top 50000) + char_wb 2-5-grams (min_df=1, top 30000), logistic regression (C=4)"
    )


@pytest.mark.parametrize("min_df, max_features", [(1, None), (2, None), (2, 60), (3, 500)])
def test_fast_blocks_equal_tfidf_vectorizer(min_df, max_features):
    # Upper case, accents, digits, tabs and newlines, runs of spaces, one-letter words, a dotted
    # capital I (its lower case is two code points), punctuation, and a text with no word at all.
    texts = [
        "The  Cat\tsat on the MAT.\nThe cat!",
        "İstanbul café — naïve résumé, 2024 x y z",
        "a b c d e",
        "!!! ???",
        "cat cat cat dog dog bird; the mat, the hat",
        "Über   straße  ÜBER Straße",
        "dog bird cat the",
    ] * 3 + ["unique words only here"]
    validation = ["the cat and an unseen word", "", "   ", "İ b C", "über dog"]
    for fast, reference in [
        (baseline._WordTfidf(ngram_range=(1, 2), min_df=min_df, max_features=max_features),
         TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=min_df, max_features=max_features)),
        (baseline._CharWbTfidf(ngram_range=(2, 5), min_df=min_df, max_features=max_features),
         TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=min_df, max_features=max_features)),
    ]:
        expected = reference.fit_transform(texts)
        actual = fast.fit_transform(texts)
        assert actual.shape == expected.shape
        np.testing.assert_allclose(actual.toarray(), expected.toarray(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(fast.transform(validation).toarray(), reference.transform(validation).toarray(), rtol=1e-12, atol=1e-15)


def test_fast_word_block_keeps_the_same_terms_as_tfidf_vectorizer_under_ties():
    # Every bigram occurs exactly twice: max_features must break a tie among thousands as scikit-learn does.
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    texts = [" ".join(rng.choice(words, 20)) for _ in range(200)] * 2
    fast = baseline._WordTfidf(ngram_range=(1, 2), min_df=2, max_features=1000)
    reference = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, max_features=1000)
    np.testing.assert_allclose(fast.fit_transform(texts).toarray(), reference.fit_transform(texts).toarray(), rtol=1e-12)


def test_multi_label_reproduces_one_vs_rest_logistic_regression():
    train, validation = multi_label(150, 60)
    result = fit_baseline(train, validation)

    x_train, x_validation = sklearn_features(train.texts, validation.texts, min_df=1)
    label_map = LabelMap.from_label_sets(train.labels)
    model = OneVsRestClassifier(sklearn_logistic_regression(2)).fit(x_train, multi_hot(train.labels, label_map))
    probabilities = model.predict_proba(x_validation)
    targets = multi_hot(validation.labels, label_map)
    clipped = np.clip(probabilities, 1e-15, 1 - 1e-15)
    from textfit.evaluation.task_metrics import binary_cross_entropy

    expected = multilabel_metrics(
        targets, probabilities, list(label_map.labels), loss=binary_cross_entropy(np.log(clipped / (1 - clipped)), targets)
    )
    assert_same_metrics(result.metrics, expected)
    assert result.description.endswith("one logistic regression per label (C=4, threshold 0.5)")


def test_regression_reproduces_ridge():
    train, validation = regression(150, 60)
    result = fit_baseline(train, validation)

    x_train, x_validation = sklearn_features(train.texts, validation.texts, min_df=1)
    predictions = Ridge(alpha=1.0).fit(x_train, np.asarray(train.labels, dtype=np.float32)).predict(x_validation)
    targets = np.asarray(validation.labels, dtype=np.float32)
    expected = regression_metrics(targets, predictions, loss=float(np.mean((predictions - targets.astype(np.float64)) ** 2)))
    assert_same_metrics(result.metrics, expected)
    assert result.description.endswith("ridge regression (alpha=1)")


# ------------------------------------------------------------------------------------------------
# Each task learns, and reports what textfit.evaluate reports.


def test_single_label_learns_and_has_evaluate_keys():
    train, validation = single_label(150, 60)
    result = fit_baseline(train, validation)
    assert isinstance(result, BaselineResult) and result.seconds > 0
    assert result.metrics["accuracy"] >= 0.9
    # textfit.evaluate passes the logits, so its single-label dict has a loss.
    reference = classification_metrics([0, 1, 2], [0, 1, 1], sorted(TOPICS), logits=np.zeros((3, 3)))
    assert result.metrics.keys() == reference.keys()
    assert result.metrics["per_class"].keys() == reference["per_class"].keys()
    assert result.metrics["per_class"]["sport"].keys() == reference["per_class"]["sport"].keys()
    assert result.metrics["confusion_matrix"]["labels"] == sorted(TOPICS)


def test_multi_label_learns_and_has_evaluate_keys():
    train, validation = multi_label(150, 60)
    result = fit_baseline(train, validation)
    assert result.metrics["micro_f1"] >= 0.9
    reference = multilabel_metrics([[1, 0, 0]], [[0.9, 0.1, 0.2]], sorted(TOPICS), loss=0.1)
    assert result.metrics.keys() == reference.keys()
    assert result.metrics["per_label"].keys() == reference["per_label"].keys()
    assert result.metrics["thresholds"] == {name: 0.5 for name in sorted(TOPICS)}


def test_regression_learns_and_has_evaluate_keys():
    train, validation = regression(150, 60)
    result = fit_baseline(train, validation)
    assert result.metrics["pearson"] >= 0.9
    reference = regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 2.0], loss=0.1)
    assert result.metrics.keys() == reference.keys()


def test_text_pairs_are_joined_with_sep_and_the_pair_is_read():
    # The label is in the second text only: the baseline must read it.
    train_first, labels = topic_texts(210, seed=1)
    rng = np.random.default_rng(2)
    neutral = [" ".join(rng.choice(FILLER, 8)) for _ in labels]
    train = Examples(neutral[:150], train_first[:150], labels[:150], "train")
    validation = Examples(neutral[150:], train_first[150:], labels[150:], "validation")
    assert documents(train, 20_000)[0] == neutral[0] + " [SEP] " + train_first[0]
    assert fit_baseline(train, validation).metrics["accuracy"] >= 0.9


def test_long_texts_are_cut_to_head_and_tail():
    text = "H" * 150_000 + "T" * 150_000
    cut = cut_text(text, 20_000)
    assert len(cut) == 20_000 and cut == "H" * 10_000 + " " + "T" * 9_999
    assert cut_text("short", 20_000) == "short"
    assert cut_text("abcdefghij", 5) == "ab ij" and cut_text("abc", 2) == "a "
    # A 300,000-character text reaches the vectorizers as the 20,000 characters a cut one does.
    long_examples = Examples([text, "x"], None, ["a", "b"])
    assert documents(long_examples, 20_000) == [cut, "x"]
    # A pair: each side is cut to half, so the document stays within max_chars (plus the separator).
    pair = Examples([text], [text], ["a"])
    assert documents(pair, 20_000) == [cut_text(text, 10_000) + " [SEP] " + cut_text(text, 10_000)]


# ------------------------------------------------------------------------------------------------
# Degenerate data.


def test_validation_label_unseen_in_training_is_scored_as_an_error():
    train, validation = single_label(60, 20)
    validation = Examples(validation.texts + ["something else entirely"], None, validation.labels + ["weather"], "validation")
    metrics = fit_baseline(train, validation).metrics
    assert metrics["confusion_matrix"]["labels"] == [*sorted(TOPICS), "weather"]
    assert metrics["per_class"]["weather"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert np.isfinite(metrics["loss"])


def test_multi_label_unseen_validation_label_and_a_label_on_every_training_text():
    train = Examples(["goal match", "vote party", "goal vote", "match party"], None,
                     [("news", "sport"), ("news", "politics"), ("news", "sport", "politics"), ("news",)], "train", "multi_label")
    validation = Examples(["goal", "party", "rain"], None, [("news", "sport"), ("news", "politics"), ("weather",)],
                          "validation", "multi_label")
    metrics = fit_baseline(train, validation).metrics
    assert list(metrics["per_label"]) == ["news", "politics", "sport", "weather"]
    assert metrics["per_label"]["news"]["recall"] == 1.0  # present in every training text: always predicted
    assert metrics["per_label"]["weather"]["support"] == 1 and np.isfinite(metrics["loss"])


def test_multi_label_with_a_single_label():
    train = Examples(["goal match", "vote party", "goal team", "party vote"], None, [("sport",), (), ("sport",), ()],
                     "train", "multi_label")
    validation = Examples(["goal", "vote"], None, [("sport",), ()], "validation", "multi_label")
    metrics = fit_baseline(train, validation).metrics
    assert list(metrics["per_label"]) == ["sport"]


def test_tiny_data_uses_min_df_1():
    train = Examples(["good film", "great film", "fine movie", "bad film", "awful movie", "poor film"], None,
                     ["pos", "pos", "pos", "neg", "neg", "neg"])
    validation = Examples(["good movie", "awful film"], None, ["pos", "neg"])
    result = fit_baseline(train, validation)
    assert result.metrics["num_examples"] == 2
    assert "min_df=1" in result.description and "min_df=2" not in result.description


def test_empty_vocabulary_after_min_df_2_falls_back_to_min_df_1():
    # 500 texts (min_df=2 by size) whose every word is unique: min_df=2 leaves no word.
    rng = np.random.default_rng(0)
    texts = ["".join(rng.choice(list("bcdfghjklmnpqrstvwxz"), 12)) for _ in range(520)]
    labels = ["a", "b"] * 260
    train, validation = Examples(texts[:500], None, labels[:500]), Examples(texts[500:], None, labels[500:])
    result = fit_baseline(train, validation)
    assert "word 1-2-grams (min_df=1," in result.description
    assert "char_wb 2-5-grams (min_df=2," in result.description


def test_texts_without_words_use_characters_only():
    train = Examples(["a b", "c d", "a a", "c c"], None, ["x", "y", "x", "y"])
    validation = Examples(["a", "c"], None, ["x", "y"])
    result = fit_baseline(train, validation)
    assert result.description.startswith("TF-IDF char_wb 2-5-grams (min_df=1, top 30000), ")
    assert result.metrics["accuracy"] == 1.0


def test_single_class_in_training_is_a_clear_error():
    train = Examples(["one", "two", "three"], None, ["spam", "spam", "spam"], "train.csv")
    with pytest.raises(ValueError, match=re.escape("train.csv has a single label ['spam']")):
        fit_baseline(train, Examples(["four"], None, ["spam"]))


def test_empty_validation_set():
    train, _ = single_label(30, 0)
    metrics = fit_baseline(train, Examples([], None, [])).metrics
    assert metrics["num_examples"] == 0


def test_whitespace_only_texts_are_a_clear_error():
    with pytest.raises(ValueError, match="no words or characters"):
        fit_baseline(Examples([" ", "\t"], None, ["a", "b"]), Examples(["x"], None, ["a"]))
