"""Multi-label and regression metrics, losses and threshold tuning, checked against scikit-learn and scipy."""

import itertools
import json
import math
import time
import warnings

import numpy as np
import pytest
import scipy.stats as scipy_stats
import sklearn.metrics as sklearn_metrics

import textfit  # noqa: F401  (selects the Keras backend before keras is imported below)
from textfit.evaluation.task_metrics import (
    binary_cross_entropy,
    format_task_metrics,
    mean_squared_error,
    multilabel_metrics,
    regression_metrics,
    tune_thresholds,
)

SEEDS = range(5)


def random_multilabel(seed, num_examples=40, num_labels=5):
    """0/1 targets and probabilities loosely correlated with them, plus random per-label thresholds."""
    rng = np.random.default_rng(seed)
    targets = (rng.random((num_examples, num_labels)) < rng.uniform(0.1, 0.6, num_labels)).astype(np.int64)
    probabilities = np.clip(0.35 * targets + 0.65 * rng.random((num_examples, num_labels)), 0, 1)
    thresholds = rng.uniform(0.2, 0.8, num_labels)
    labels = [f"label_{i}" for i in range(num_labels)]
    return targets, probabilities, thresholds, labels


def predicted(probabilities, thresholds):
    return (np.asarray(probabilities) >= np.asarray(thresholds)).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# multilabel_metrics


@pytest.mark.parametrize("seed", SEEDS)
def test_micro_macro_and_samples_f1_match_scikit_learn(seed):
    targets, probabilities, thresholds, labels = random_multilabel(seed)
    metrics = multilabel_metrics(targets, probabilities, labels, thresholds=thresholds)
    y_pred = predicted(probabilities, thresholds)
    assert metrics["micro_f1"] == pytest.approx(sklearn_metrics.f1_score(targets, y_pred, average="micro", zero_division=0), abs=1e-12)
    assert metrics["macro_f1"] == pytest.approx(sklearn_metrics.f1_score(targets, y_pred, average="macro", zero_division=0), abs=1e-12)
    assert metrics["samples_f1"] == pytest.approx(sklearn_metrics.f1_score(targets, y_pred, average="samples", zero_division=1.0), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_per_label_precision_recall_f1_and_support_match_scikit_learn(seed):
    targets, probabilities, thresholds, labels = random_multilabel(seed)
    metrics = multilabel_metrics(targets, probabilities, labels, thresholds=thresholds)
    precision, recall, f1, support = sklearn_metrics.precision_recall_fscore_support(
        targets, predicted(probabilities, thresholds), average=None, zero_division=0
    )
    for i, label in enumerate(labels):
        assert metrics["per_label"][label] == pytest.approx(
            {"precision": precision[i], "recall": recall[i], "f1": f1[i], "support": support[i]}, abs=1e-12
        )


@pytest.mark.parametrize("seed", SEEDS)
def test_subset_accuracy_and_hamming_loss_match_scikit_learn(seed):
    targets, probabilities, thresholds, labels = random_multilabel(seed, num_examples=30, num_labels=2)
    metrics = multilabel_metrics(targets, probabilities, labels, thresholds=thresholds)
    y_pred = predicted(probabilities, thresholds)
    assert metrics["subset_accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(targets, y_pred), abs=1e-12)
    assert metrics["hamming_loss"] == pytest.approx(sklearn_metrics.hamming_loss(targets, y_pred), abs=1e-12)


def test_accuracy_is_the_subset_accuracy():
    targets, probabilities, _, labels = random_multilabel(0, num_labels=2)
    metrics = multilabel_metrics(targets, probabilities, labels)
    assert metrics["accuracy"] == metrics["subset_accuracy"]


def test_multilabel_metrics_match_hand_computed_values():
    # Predictions at 0.5: [1, 0, 0], [1, 1, 0], [0, 0, 0]; targets: [1, 0, 1], [0, 1, 0], [0, 0, 0].
    targets = [[1, 0, 1], [0, 1, 0], [0, 0, 0]]
    probabilities = [[0.9, 0.1, 0.4], [0.6, 0.7, 0.2], [0.3, 0.2, 0.1]]
    metrics = multilabel_metrics(targets, probabilities, ["a", "b", "c"], loss=0.25)
    # Label a: TP 1, FP 1. Label b: TP 1. Label c: FN 1.
    assert metrics["per_label"] == {
        "a": {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1},
        "b": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
        "c": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
    }
    assert metrics["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    # Example F1: 2/3 (TP 1, FN 1), 2/3 (TP 1, FP 1), 1 (nothing true, nothing predicted).
    assert metrics["samples_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert metrics["subset_accuracy"] == pytest.approx(1 / 3)
    assert metrics["hamming_loss"] == pytest.approx(2 / 9)
    assert metrics["num_examples"] == 3 and metrics["task"] == "multi_label" and metrics["loss"] == 0.25


def test_an_example_with_no_true_and_no_predicted_labels_scores_samples_f1_of_one():
    targets = np.array([[0, 0], [1, 0], [0, 0]])
    probabilities = np.array([[0.1, 0.2], [0.2, 0.1], [0.3, 0.9]])
    metrics = multilabel_metrics(targets, probabilities, ["a", "b"])
    # Examples score 1 (empty and empty), 0 (a missed), 0 (b predicted, nothing true).
    assert metrics["samples_f1"] == pytest.approx(1 / 3)
    expected = sklearn_metrics.f1_score(targets, predicted(probabilities, 0.5), average="samples", zero_division=1.0)
    assert metrics["samples_f1"] == pytest.approx(expected)


def test_a_label_never_true_nor_predicted_scores_zero_and_lowers_macro_f1_as_scikit_learn():
    targets = np.array([[1, 0], [0, 0], [1, 0]])
    probabilities = np.array([[0.9, 0.1], [0.2, 0.3], [0.8, 0.0]])
    metrics = multilabel_metrics(targets, probabilities, ["present", "absent"])
    assert metrics["per_label"]["absent"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert metrics["macro_f1"] == 0.5
    assert metrics["macro_f1"] == sklearn_metrics.f1_score(targets, predicted(probabilities, 0.5), average="macro", zero_division=0)


def test_a_label_never_true_but_predicted_has_zero_precision():
    metrics = multilabel_metrics([[1, 0], [0, 0]], [[0.9, 0.7], [0.1, 0.2]], ["present", "absent"])
    assert metrics["per_label"]["absent"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_micro_f1_is_zero_when_nothing_is_true_or_predicted_as_scikit_learn():
    targets = np.zeros((3, 2), dtype=np.int64)
    metrics = multilabel_metrics(targets, np.full((3, 2), 0.1), ["a", "b"])
    assert metrics["micro_f1"] == 0.0 == sklearn_metrics.f1_score(targets, targets, average="micro", zero_division=0)
    assert metrics["samples_f1"] == 1.0 and metrics["subset_accuracy"] == 1.0 and metrics["hamming_loss"] == 0.0


def test_a_label_is_predicted_when_its_probability_equals_its_threshold():
    metrics = multilabel_metrics([[1, 1]], [[0.3, 0.5]], ["a", "b"], thresholds=[0.3, 0.5000001])
    assert metrics["per_label"]["a"]["recall"] == 1.0
    assert metrics["per_label"]["b"]["recall"] == 0.0


def test_thresholds_default_to_one_half_and_are_reported_per_label():
    assert multilabel_metrics([[1, 0]], [[0.5, 0.4]], ["a", "b"])["thresholds"] == {"a": 0.5, "b": 0.5}
    assert multilabel_metrics([[1, 0]], [[0.5, 0.4]], ["a", "b"], thresholds=[0.2, 0.7])["thresholds"] == {"a": 0.2, "b": 0.7}


def test_loss_appears_only_when_given():
    assert "loss" not in multilabel_metrics([[1]], [[0.9]], ["a"])
    assert "loss" not in regression_metrics([1.0, 2.0], [1.0, 2.0])
    assert regression_metrics([1.0, 2.0], [1.0, 2.0], loss=np.float32(0.5))["loss"] == 0.5


def test_multilabel_metrics_are_strict_json():
    targets, probabilities, _, labels = random_multilabel(1)
    metrics = multilabel_metrics(targets, probabilities, labels, loss=np.float64(0.3))
    assert json.loads(json.dumps(metrics, allow_nan=False)) == metrics


@pytest.mark.parametrize(
    ("targets", "probabilities", "labels", "thresholds", "message"),
    [
        ([[1, 0]], [[2.5, -1.0]], ["a", "b"], None, "sigmoid outputs, not logits"),
        ([[1, 0]], [[float("nan"), 0.2]], ["a", "b"], None, "no NaN"),
        ([[1, 2]], [[0.5, 0.2]], ["a", "b"], None, "0 or 1"),
        ([[1, 0]], [[0.5, 0.2, 0.1]], ["a", "b"], None, "shape"),
        ([[1, 0]], [[0.5, 0.2]], ["a"], None, "2 columns"),
        ([[1, 0]], [[0.5, 0.2]], ["a", "b"], [0.5], "one value per label"),
        ([1, 0], [0.5, 0.2], ["a", "b"], None, "(examples, labels)"),
    ],
)
def test_malformed_multilabel_inputs_are_refused_with_a_reason(targets, probabilities, labels, thresholds, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        multilabel_metrics(targets, probabilities, labels, thresholds=thresholds)


# ---------------------------------------------------------------------------------------------
# regression_metrics


@pytest.mark.parametrize("seed", SEEDS)
def test_mae_rmse_and_r2_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    targets = rng.normal(3.0, 2.0, 50)
    predictions = targets + rng.normal(0.5, 1.0, 50)
    metrics = regression_metrics(targets, predictions)
    assert metrics["mae"] == pytest.approx(sklearn_metrics.mean_absolute_error(targets, predictions), rel=1e-12)
    assert metrics["rmse"] == pytest.approx(math.sqrt(sklearn_metrics.mean_squared_error(targets, predictions)), rel=1e-12)
    assert metrics["r2"] == pytest.approx(sklearn_metrics.r2_score(targets, predictions), rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_pearson_and_spearman_match_scipy_with_ties(seed):
    rng = np.random.default_rng(seed)
    # Whole numbers from a small range: many ties on both sides.
    targets = rng.integers(0, 6, 60).astype(np.float64)
    predictions = targets + rng.integers(-2, 3, 60)
    metrics = regression_metrics(targets, predictions)
    assert metrics["pearson"] == pytest.approx(scipy_stats.pearsonr(targets, predictions)[0], rel=1e-12)
    assert metrics["spearman"] == pytest.approx(scipy_stats.spearmanr(targets, predictions)[0], rel=1e-12)


def test_regression_metrics_match_hand_computed_values():
    metrics = regression_metrics([1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 3.0, 3.0])
    # Errors 1, 0, 0, -1: MAE 0.5, MSE 0.5; total sum of squares 5, residual 2.
    assert metrics["mae"] == 0.5 and metrics["rmse"] == pytest.approx(math.sqrt(0.5))
    assert metrics["r2"] == pytest.approx(1 - 2 / 5)
    # Pearson: centred (-1.5, -0.5, 0.5, 1.5) and (-0.5, -0.5, 0.5, 0.5): 2 / sqrt(5 * 1).
    assert metrics["pearson"] == pytest.approx(2 / math.sqrt(5))
    # Prediction ranks with ties: 1.5, 1.5, 3.5, 3.5 against 1, 2, 3, 4: the same as Pearson above.
    assert metrics["spearman"] == pytest.approx(2 / math.sqrt(5))
    assert metrics["task"] == "regression" and metrics["num_examples"] == 4


@pytest.mark.parametrize(
    ("targets", "predictions"), [([1.0, 2.0, 3.0], [0.1, 0.1, 0.1]), ([0.1, 0.1, 0.1], [1.0, 2.0, 3.0])]
)
def test_correlations_are_none_where_scipy_gives_nan_for_a_constant_side(targets, predictions):
    metrics = regression_metrics(targets, predictions)
    assert metrics["pearson"] is None and metrics["spearman"] is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about the constant input
        assert math.isnan(scipy_stats.pearsonr(targets, predictions)[0])
        assert math.isnan(scipy_stats.spearmanr(targets, predictions)[0])
    assert json.loads(json.dumps(metrics, allow_nan=False)) == metrics


@pytest.mark.parametrize("predictions", [[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]])
def test_r2_of_constant_targets_follows_scikit_learn(predictions):
    targets = [2.0, 2.0, 2.0]
    assert regression_metrics(targets, predictions)["r2"] == sklearn_metrics.r2_score(targets, predictions)


def test_column_vectors_are_read_as_one_value_per_example():
    flat = regression_metrics([1.0, 2.0, 4.0], [1.5, 2.0, 3.0])
    assert regression_metrics([[1.0], [2.0], [4.0]], [[1.5], [2.0], [3.0]]) == flat


def test_r2_and_correlations_are_none_for_a_single_example():
    metrics = regression_metrics([1.0], [3.0])
    assert (metrics["mae"], metrics["rmse"]) == (2.0, 2.0)
    assert metrics["r2"] is None and metrics["pearson"] is None and metrics["spearman"] is None


def test_no_examples_give_no_scores_rather_than_a_perfect_zero_error():
    metrics = regression_metrics([], [])
    assert metrics["num_examples"] == 0
    assert all(metrics[name] is None for name in ("mae", "rmse", "r2", "pearson", "spearman"))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_predictions_are_refused(bad):
    with pytest.raises(ValueError, match="1 values that are NaN or infinite"):
        regression_metrics([1.0, 2.0], [1.0, bad])


def test_regression_inputs_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="3 values but predictions has 2"):
        regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0])


# ---------------------------------------------------------------------------------------------
# Losses


def test_binary_cross_entropy_matches_the_direct_formula():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (20, 4))
    targets = (rng.random((20, 4)) < 0.4).astype(np.float64)
    probabilities = 1 / (1 + np.exp(-logits))
    expected = -np.mean(targets * np.log(probabilities) + (1 - targets) * np.log(1 - probabilities))
    assert binary_cross_entropy(logits, targets) == pytest.approx(expected, rel=1e-12)


def test_binary_cross_entropy_matches_keras_from_logits():
    import keras

    rng = np.random.default_rng(1)
    logits = rng.normal(0, 4, (16, 3)).astype(np.float32)
    targets = (rng.random((16, 3)) < 0.5).astype(np.float32)
    keras_loss = keras.losses.BinaryCrossentropy(from_logits=True)(targets, logits)
    assert binary_cross_entropy(logits, targets) == pytest.approx(float(keras.ops.convert_to_numpy(keras_loss)), rel=1e-5)


def test_binary_cross_entropy_stays_finite_for_extreme_logits():
    # Right with huge confidence costs 0; wrong costs the logit's size (a sigmoid would round to 0 or 1).
    assert binary_cross_entropy([[1000.0, -1000.0]], [[1, 0]]) == 0.0
    assert binary_cross_entropy([[1000.0, -1000.0]], [[0, 1]]) == 1000.0


def test_binary_cross_entropy_of_zero_logits_is_log_two():
    assert binary_cross_entropy(np.zeros((3, 2)), [[1, 0], [0, 0], [1, 1]]) == pytest.approx(math.log(2))


def test_mean_squared_error_matches_scikit_learn():
    rng = np.random.default_rng(2)
    predictions, targets = rng.normal(size=30), rng.normal(size=30)
    assert mean_squared_error(predictions, targets) == pytest.approx(sklearn_metrics.mean_squared_error(targets, predictions), rel=1e-12)
    assert mean_squared_error([[1.0], [3.0]], [1.0, 1.0]) == 2.0


# ---------------------------------------------------------------------------------------------
# tune_thresholds


def brute_force_threshold(targets, probabilities):
    """Score every candidate with scikit-learn's F1 and pick as documented: best F1, closest to 0.5, lowest."""
    if targets.sum() == 0:
        return 0.5
    values = np.unique(probabilities)
    # Midpoints rounded to the probabilities' dtype (float32 stays float32).
    midpoints = [float(probabilities.dtype.type((float(low) + float(high)) / 2)) for low, high in itertools.pairwise(values)]
    candidates = [*midpoints, 0.5]
    scored = [
        (-sklearn_metrics.f1_score(targets, (probabilities >= t).astype(np.int64), zero_division=0), abs(t - 0.5), t)
        for t in candidates
        if 0 < t < 1
    ]
    return min(scored)[2]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("decimals", [1, 2, None])
@pytest.mark.parametrize("seed", range(3))
def test_tuned_thresholds_equal_a_brute_force_search_over_all_candidates(seed, decimals, dtype):
    targets, probabilities, _, _ = random_multilabel(seed, num_examples=30, num_labels=4)
    if decimals is not None:
        # Rounding makes ties between probabilities and between F1 scores common.
        probabilities = np.round(probabilities, decimals)
    probabilities = probabilities.astype(dtype)
    tuned = tune_thresholds(targets, probabilities)
    expected = [brute_force_threshold(targets[:, i], probabilities[:, i]) for i in range(targets.shape[1])]
    assert tuned.tolist() == expected


def test_tuning_raises_f1_of_a_label_whose_positives_sit_around_point_three():
    rng = np.random.default_rng(0)
    positives = rng.random(40) < 0.5
    # Label 0: positives around 0.3, negatives around 0.1, nothing reaches 0.5. Label 1: already good at 0.5.
    probabilities = np.stack(
        [np.where(positives, rng.uniform(0.25, 0.35, 40), rng.uniform(0.05, 0.15, 40)), np.where(positives, 0.9, 0.1)], axis=1
    )
    targets = np.stack([positives, positives], axis=1).astype(np.int64)
    labels = ["shifted", "calibrated"]
    tuned = tune_thresholds(targets, probabilities)
    before = multilabel_metrics(targets, probabilities, labels)["per_label"]
    after = multilabel_metrics(targets, probabilities, labels, thresholds=tuned)["per_label"]
    assert before["shifted"]["f1"] == 0.0 and after["shifted"]["f1"] == 1.0
    assert 0.15 < tuned[0] < 0.25
    assert after["calibrated"]["f1"] == before["calibrated"]["f1"] == 1.0 and tuned[1] == 0.5


@pytest.mark.parametrize("seed", range(3))
def test_multilabel_metrics_apply_the_thresholds_that_tuning_returns(seed):
    targets, probabilities, _, labels = random_multilabel(seed, num_examples=50)
    tuned = tune_thresholds(targets, probabilities)
    metrics = multilabel_metrics(targets, probabilities, labels, thresholds=tuned)
    assert metrics["thresholds"] == dict(zip(labels, tuned.tolist()))
    _, _, f1, _ = sklearn_metrics.precision_recall_fscore_support(targets, predicted(probabilities, tuned), average=None, zero_division=0)
    assert [metrics["per_label"][label]["f1"] for label in labels] == pytest.approx(f1, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_tuned_thresholds_never_score_below_one_half_on_the_tuning_data(seed):
    targets, probabilities, _, labels = random_multilabel(seed, num_examples=50)
    tuned = multilabel_metrics(targets, probabilities, labels, thresholds=tune_thresholds(targets, probabilities))
    default = multilabel_metrics(targets, probabilities, labels)
    assert all(tuned["per_label"][label]["f1"] >= default["per_label"][label]["f1"] for label in labels)
    assert tuned["macro_f1"] >= default["macro_f1"]


def test_a_label_without_positive_examples_keeps_one_half():
    assert tune_thresholds([[0, 1], [0, 0]], [[0.9, 0.8], [0.7, 0.1]])[0] == 0.5


def test_a_cut_as_good_as_one_half_leaves_one_half():
    # 0.45 (the midpoint) and 0.5 both separate the positive from the negative: F1 1 for both.
    assert tune_thresholds([[1], [0]], [[0.8], [0.1]])[0] == 0.5


def test_ties_in_f1_go_to_the_threshold_closest_to_one_half():
    # Two positives. Cut at 0.75: predicts {0.875}, F1 2/3. Cut at 0.59375: predicts the 0.875 and
    # the three 0.625s, F1 4/6 = 2/3. Cut at 0.5: predicts all five, F1 4/7.
    targets = [[1], [0], [0], [1], [0]]
    probabilities = [[0.875], [0.625], [0.625], [0.625], [0.5625]]
    assert tune_thresholds(targets, probabilities)[0] == 0.59375


def test_ties_equally_far_from_one_half_go_to_the_lower_threshold():
    # Cut at 0.75: predicts {0.875}, F1 2/3. Cut at 0.5 (also a midpoint): 3 predicted, F1 2/5.
    # Cut at 0.25: 4 predicted, both positives, F1 4/6 = 2/3. 0.25 and 0.75 are both 0.25 from 0.5.
    targets = [[1], [0], [0], [1], [0]]
    probabilities = [[0.875], [0.625], [0.625], [0.375], [0.125]]
    assert tune_thresholds(targets, probabilities)[0] == 0.25


def test_tuned_thresholds_lie_strictly_between_zero_and_one():
    rng = np.random.default_rng(3)
    targets = (rng.random((200, 6)) < 0.3).astype(np.int64)
    probabilities = rng.choice([0.0, 0.2, 0.5, 1.0], size=(200, 6))
    tuned = tune_thresholds(targets, probabilities)
    assert ((tuned > 0) & (tuned < 1)).all()


def test_adjacent_float_probabilities_get_a_threshold_that_separates_them():
    # No float lies strictly between 0.0 and the smallest subnormal: the midpoint rounds to 0.0,
    # which would predict both; the threshold must still leave out the negative.
    tiny = np.nextafter(0.0, 1.0)
    targets = np.array([[1], [0], [1], [0]])
    probabilities = np.array([[tiny], [0.0], [tiny], [0.0]])
    tuned = tune_thresholds(targets, probabilities)
    assert multilabel_metrics(targets, probabilities, ["a"], thresholds=tuned)["per_label"]["a"]["f1"] == 1.0


def test_float32_thresholds_predict_what_was_scored_when_compared_in_float32():
    # Adjacent float32 probabilities whose float64 midpoint rounds (to even) down to the lower one:
    # stored as float32, that threshold would predict the negative too.
    below = np.float32(0.3)
    if below.view(np.uint32) % 2:
        below = np.nextafter(below, np.float32(0))
    above = np.nextafter(below, np.float32(1))
    assert np.float32((float(below) + float(above)) / 2) == below
    targets = np.array([[1], [0], [1], [0]])
    probabilities = np.array([[above], [below], [above], [0.0]], dtype=np.float32)
    threshold = np.float32(tune_thresholds(targets, probabilities)[0])
    assert ((probabilities[:, 0] >= threshold) == targets[:, 0].astype(bool)).all()


def test_a_cut_that_only_a_threshold_of_one_could_make_is_not_chosen():
    # Saturated float32 sigmoids: positives at exactly 1, negatives at the float just below it.
    just_below_one = np.nextafter(np.float32(1), np.float32(0))
    probabilities = np.array([[1.0], [1.0], [just_below_one], [just_below_one]], dtype=np.float32)
    tuned = tune_thresholds([[1], [1], [0], [0]], probabilities)
    assert tuned[0] == 0.5


def test_tuning_sorts_instead_of_scanning_all_pairs():
    # 200,000 distinct probabilities per label: a quadratic search would take minutes.
    rng = np.random.default_rng(4)
    targets = (rng.random((200_000, 2)) < 0.3).astype(np.int64)
    probabilities = np.clip(0.3 * targets + 0.7 * rng.random((200_000, 2)), 0, 1)
    start = time.perf_counter()
    tune_thresholds(targets, probabilities)
    assert time.perf_counter() - start < 5.0


# ---------------------------------------------------------------------------------------------
# format_task_metrics


def test_format_shows_a_multilabel_summary_and_one_row_per_label():
    metrics = multilabel_metrics([[1, 0], [1, 1]], [[0.9, 0.2], [0.8, 0.4]], ["sport", "a-long-label-name"], thresholds=[0.5, 0.3])
    lines = format_task_metrics(metrics).splitlines()
    assert lines[0].startswith("subset accuracy 1.0000   micro-F1 1.0000")
    assert "Hamming loss 0.0000" in lines[0] and lines[0].endswith("examples 2")
    assert lines[1].split() == ["label", "precision", "recall", "f1", "support", "threshold"]
    assert lines[2].split() == ["sport", "1.0000", "1.0000", "1.0000", "2", "0.5000"]
    assert lines[3].split() == ["a-long-label-name", "1.0000", "1.0000", "1.0000", "1", "0.3000"]


def test_format_shows_regression_on_one_line_with_n_a_for_undefined_scores():
    text = format_task_metrics(regression_metrics([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]))
    assert text == "MAE 0.6667   RMSE 0.8165   R² 0.0000   Pearson n/a   Spearman n/a   examples 3"


def test_format_refuses_metrics_of_another_task():
    with pytest.raises(ValueError, match="got task=None"):
        format_task_metrics({"accuracy": 1.0, "per_class": {}})
