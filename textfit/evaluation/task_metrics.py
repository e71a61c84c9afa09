"""Metrics for multi-label classification and regression, and per-label threshold tuning.

Multi-label: several labels per text, a sigmoid probability per label, a label predicted when its
probability reaches its threshold. Regression: one number per text.

Numpy only at run time: scikit-learn and scipy are not textfit dependencies (about 190 MB installed
for a few dozen lines of arithmetic). The tests check every number here against them:
F1 scores and Hamming loss as ``sklearn.metrics``, R² as ``sklearn.metrics.r2_score``, Pearson
and Spearman as ``scipy.stats``.

Conventions where a ratio has a zero denominator (the same as scikit-learn's with the
``zero_division`` noted; NaN never appears, so every dict is valid JSON):

* per-label precision, recall and F1, micro-F1 and macro-F1: 0 (``zero_division=0``, as the
  single-label metrics in ``evaluate.py``); a label that is never true and never predicted
  therefore scores F1 0 and pulls macro-F1 down.
* samples-F1: an example with no true and no predicted labels scores 1 (``zero_division=1.0``):
  predicting "none of these" for a text that has none is right.
* R² with constant targets: 1 if every prediction is exact, else 0 (``r2_score``'s default).
* Pearson and Spearman with a constant side, and R² with fewer than two examples: ``None``
  (scikit-learn and scipy return NaN, which is not JSON).
"""

import numpy as np

#: The threshold every label gets unless told otherwise (the sigmoid's midpoint).
DEFAULT_THRESHOLD = 0.5


def multilabel_metrics(targets, probabilities, labels, *, thresholds=None, loss=None) -> dict:
    """Multi-label metrics of sigmoid probabilities vs 0/1 targets, as a JSON-ready dict.

    Use it for models that give each text any number of labels. A label is predicted when its
    probability is ``>=`` its threshold (``thresholds``: one per label or one for all, default 0.5;
    ``tune_thresholds`` picks them on validation data).

    Returns:
        ``{"task": "multi_label", "num_examples", "subset_accuracy", "accuracy" (the same number,
        for code that shows "accuracy" for every task), "micro_f1", "macro_f1", "samples_f1",
        "hamming_loss", "loss" (if given), "per_label": {label: {"precision", "recall", "f1",
        "support"}}, "thresholds": {label: threshold}}``.

    Example:
        >>> metrics = multilabel_metrics([[1, 0], [1, 1]], [[0.9, 0.2], [0.8, 0.4]], ["sport", "politics"])
        >>> metrics["subset_accuracy"], metrics["hamming_loss"], metrics["per_label"]["politics"]["recall"]
        (0.5, 0.25, 0.0)
    """
    targets = _as_binary_targets(targets)
    probabilities = _as_probabilities(probabilities, targets.shape)
    num_examples, num_labels = targets.shape
    if len(labels) != num_labels:
        raise ValueError(f"Got {len(labels)} labels for {num_labels} columns of targets and probabilities.")
    thresholds = _as_thresholds(thresholds, num_labels)
    predicted = probabilities >= thresholds

    # Counts per label (axis 0) and per example (axis 1) from the same three boolean matrices.
    true_positive = targets & predicted
    false_positive = ~targets & predicted
    false_negative = targets & ~predicted
    tp, fp, fn = (matrix.sum(axis=0) for matrix in (true_positive, false_positive, false_negative))
    example_tp, example_fp, example_fn = (matrix.sum(axis=1) for matrix in (true_positive, false_positive, false_negative))

    precision = _divide(tp, tp + fp, zero_division=0.0)
    recall = _divide(tp, tp + fn, zero_division=0.0)
    # F1 straight from counts (2TP / (2TP + FP + FN)), as scikit-learn computes it: the same value
    # as 2PR / (P + R) without the rounding of two divisions.
    f1 = _divide(2 * tp, 2 * tp + fp + fn, zero_division=0.0)
    micro_f1 = _divide(2 * tp.sum(), 2 * tp.sum() + fp.sum() + fn.sum(), zero_division=0.0)
    example_f1 = _divide(2 * example_tp, 2 * example_tp + example_fp + example_fn, zero_division=1.0)
    subset_accuracy = float((targets == predicted).all(axis=1).sum() / max(1, num_examples))

    metrics = {
        "task": "multi_label",
        "num_examples": int(num_examples),
        "subset_accuracy": subset_accuracy,
        "accuracy": subset_accuracy,
        "micro_f1": float(micro_f1),
        "macro_f1": float(f1.mean()) if num_labels else 0.0,
        "samples_f1": float(example_f1.sum() / max(1, num_examples)),
        "hamming_loss": float((fp.sum() + fn.sum()) / max(1, num_examples * num_labels)),
    }
    if loss is not None:
        metrics["loss"] = float(loss)
    metrics["per_label"] = {
        label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(tp[i] + fn[i])}
        for i, label in enumerate(labels)
    }
    metrics["thresholds"] = {label: float(thresholds[i]) for i, label in enumerate(labels)}
    return metrics


def regression_metrics(targets, predictions, *, loss=None) -> dict:
    """Regression metrics of predicted vs true numbers, as a JSON-ready dict.

    Use it for models that give each text one number. ``targets`` and ``predictions`` have shape
    (N,) or (N, 1). Pearson and Spearman are ``None`` when either side is constant (a correlation
    with a constant is undefined), R² is ``None`` below two examples, and every score is ``None``
    with no examples. Spearman ranks ties by their average rank, as ``scipy.stats.spearmanr``.

    Returns:
        ``{"task": "regression", "num_examples", "mae", "rmse", "r2", "pearson", "spearman",
        "loss" (if given)}``.

    Example:
        >>> metrics = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.5, 5.0])
        >>> metrics["mae"], metrics["r2"], metrics["spearman"]
        (0.5, 0.7, 1.0)
    """
    targets = _as_vector("targets", targets)
    predictions = _as_vector("predictions", predictions)
    if targets.shape != predictions.shape:
        raise ValueError(f"targets has {targets.size} values but predictions has {predictions.size}.")
    num_examples = targets.size
    metrics = {"task": "regression", "num_examples": int(num_examples)}
    if num_examples == 0:
        # An error of 0 would read as a perfect model.
        metrics.update(mae=None, rmse=None, r2=None, pearson=None, spearman=None)
    else:
        errors = predictions - targets
        metrics["mae"] = float(np.abs(errors).mean())
        metrics["rmse"] = float(np.sqrt(np.square(errors).mean()))
        metrics["r2"] = _r2(targets, errors)
        metrics["pearson"] = _pearson(targets, predictions)
        metrics["spearman"] = _pearson(_average_ranks(targets), _average_ranks(predictions))
    if loss is not None:
        metrics["loss"] = float(loss)
    return metrics


def binary_cross_entropy(logits, targets) -> float:
    """Mean binary cross-entropy over all elements of sigmoid ``logits`` and 0/1 (or soft) targets.

    Use it as the loss of a multi-label model: it is what Keras'
    ``BinaryCrossentropy(from_logits=True)`` reports. Computed from logits as
    ``max(x, 0) - x * t + log(1 + exp(-|x|))``, which stays finite for any logit (going through
    probabilities would take the log of a sigmoid rounded to 0 or 1).

    Example:
        >>> round(binary_cross_entropy([[0.0, 2.0]], [[1, 1]]), 4)
        0.41
    """
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if logits.shape != targets.shape:
        raise ValueError(f"logits has shape {logits.shape} but targets has shape {targets.shape}.")
    losses = np.maximum(logits, 0.0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    return float(losses.sum() / max(1, losses.size))


def mean_squared_error(predictions, targets) -> float:
    """Mean squared difference of predictions and targets (the usual regression loss).

    Use it as the loss of a regression model; ``regression_metrics`` reports RMSE, its square root.

    Example:
        >>> mean_squared_error([1.0, 3.0], [1.0, 1.0])
        2.0
    """
    predictions = _as_vector("predictions", predictions)
    targets = _as_vector("targets", targets)
    if predictions.shape != targets.shape:
        raise ValueError(f"predictions has {predictions.size} values but targets has {targets.size}.")
    return float(np.square(predictions - targets).sum() / max(1, targets.size))


def tune_thresholds(targets, probabilities) -> np.ndarray:
    """Per label, the threshold that maximises that label's F1 on ``targets`` (shape (C,)).

    Use it on validation data (never on the test data you report), then pass the result to
    ``multilabel_metrics`` and to prediction. Candidates are 0.5 and the midpoints between
    consecutive distinct probabilities of the label. Among thresholds with the same F1 the one
    closest to 0.5 wins (then the lower one): it moves the default no further than the data asks.
    A label with no positive examples keeps 0.5. Each label costs one sort and one sweep:
    O(N log N).

    Midpoints are rounded to the dtype of ``probabilities`` (float32 sigmoid outputs give float32
    thresholds) and always fall strictly above the lower probability, so a threshold stored and
    compared in that dtype predicts exactly what was scored. Every threshold lies in (0, 1): the one
    cut that only a threshold of exactly 1 could make (between 1 and the float just below it, as
    saturated float32 sigmoids give) is not a candidate.

    Example:
        >>> tune_thresholds([[1], [1], [0]], [[0.3], [0.35], [0.1]])
        array([0.2])
    """
    original = np.asarray(probabilities)
    dtype = original.dtype if np.issubdtype(original.dtype, np.floating) else np.dtype(np.float64)
    targets = _as_binary_targets(targets)
    probabilities = _as_probabilities(original, targets.shape)
    return np.array([_best_threshold(targets[:, i], probabilities[:, i], dtype) for i in range(targets.shape[1])], dtype=np.float64)


def format_task_metrics(metrics: dict) -> str:
    """A terminal table of ``multilabel_metrics`` or ``regression_metrics`` output.

    Use it to print results: multi-label gets a summary line and per-label
    precision/recall/F1/support/threshold; regression gets one line. ``None`` prints as ``n/a``.

    Example:
        >>> print(format_task_metrics(regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])))
        MAE 0.3333   RMSE 0.5774   R² 0.5000   Pearson 0.9820   Spearman 1.0000   examples 3
    """
    task = metrics.get("task")
    if task == "regression":
        return (
            f"MAE {_number(metrics['mae'])}   RMSE {_number(metrics['rmse'])}   R² {_number(metrics['r2'])}   "
            f"Pearson {_number(metrics['pearson'])}   Spearman {_number(metrics['spearman'])}   "
            f"examples {metrics['num_examples']}"
        )
    if task != "multi_label":
        raise ValueError(f"format_task_metrics formats 'multi_label' and 'regression' metrics; got task={task!r}.")
    width = max(12, *(len(str(label)) for label in metrics["per_label"])) if metrics["per_label"] else 12
    lines = [
        (
            f"subset accuracy {metrics['subset_accuracy']:.4f}   micro-F1 {metrics['micro_f1']:.4f}   "
            f"macro-F1 {metrics['macro_f1']:.4f}   samples-F1 {metrics['samples_f1']:.4f}   "
            f"Hamming loss {metrics['hamming_loss']:.4f}   examples {metrics['num_examples']}"
        ),
        f"{'label':<{width}}  precision  recall     f1  support  threshold",
    ]
    for label, scores in metrics["per_label"].items():
        threshold = metrics.get("thresholds", {}).get(label)
        lines.append(
            f"{label!s:<{width}}  {scores['precision']:9.4f}  {scores['recall']:6.4f}  {scores['f1']:6.4f}  "
            f"{scores['support']:7d}  {_number(threshold):>9}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def _best_threshold(targets: np.ndarray, probabilities: np.ndarray, dtype: np.dtype) -> float:
    num_positive = int(targets.sum())
    if num_positive == 0:
        return DEFAULT_THRESHOLD
    # Descending order: after the first k examples, "predicted" = the k most probable.
    order = np.argsort(-probabilities, kind="stable")
    sorted_probabilities = probabilities[order]
    cumulative_tp = np.cumsum(targets[order])
    # Last position of each run of equal probabilities that has a lower value after it: cutting
    # there predicts exactly the examples with probability > the next value.
    ends = np.flatnonzero(sorted_probabilities[:-1] != sorted_probabilities[1:])
    above, below = sorted_probabilities[ends], sorted_probabilities[ends + 1]
    # Exact in float64 for float32 inputs; rounded to the inputs' dtype so that it survives a cast.
    midpoints = ((above + below) / 2).astype(dtype).astype(np.float64)
    # Two adjacent floats have no float strictly between them: the midpoint rounds to one of them.
    # Rounded down it would predict `below` too, so cut at `above` (the same predictions).
    midpoints = np.where(midpoints > below, midpoints, above)
    # A cut at exactly 1 is not a threshold in (0, 1), which is what models accept.
    inside = midpoints < 1.0
    midpoints = midpoints[inside]
    tp = cumulative_tp[ends[inside]]
    predicted = ends[inside] + 1

    at_default = probabilities >= DEFAULT_THRESHOLD
    candidates = np.append(midpoints, DEFAULT_THRESHOLD)
    tp = np.append(tp, np.count_nonzero(targets & at_default))
    predicted = np.append(predicted, np.count_nonzero(at_default))
    # F1 = 2TP / (positives + predicted); positives > 0, so no zero division. Equal fractions give
    # equal floats (IEEE division is correctly rounded), so ties compare exactly.
    f1 = 2 * tp / (num_positive + predicted)
    # lexsort: the last key sorts first. Highest F1, then closest to 0.5, then lowest threshold.
    best = np.lexsort((candidates, np.abs(candidates - DEFAULT_THRESHOLD), -f1))[0]
    return float(candidates[best])


def _r2(targets: np.ndarray, errors: np.ndarray):
    if targets.size < 2:
        return None
    residual = float(np.square(errors).sum())
    total = float(np.square(targets - targets.mean()).sum())
    if total == 0.0:
        # Constant targets: no variance to explain. r2_score's force_finite convention.
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total


def _pearson(x: np.ndarray, y: np.ndarray):
    # Constant by exact equality, not by a zero standard deviation: the mean of equal floats can
    # differ from them in the last bit, which leaves a tiny nonzero spread (scipy checks the same).
    if x.size < 2 or (x == x[0]).all() or (y == y[0]).all():
        return None
    x = x - x.mean()
    y = y - y.mean()
    # Scale before squaring so that values near the float limits do not overflow.
    x /= np.abs(x).max()
    y /= np.abs(y).max()
    r = np.dot(x / np.linalg.norm(x), y / np.linalg.norm(y))
    return float(np.clip(r, -1.0, 1.0))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing the average of the ranks they span (scipy's rankdata 'average')."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    # Run boundaries of equal values; positions `start` .. `end - 1` share rank (start + end + 1) / 2.
    is_start = np.concatenate(([True], sorted_values[1:] != sorted_values[:-1]))
    starts = np.flatnonzero(is_start)
    ends = np.append(starts[1:], values.size)
    run_ranks = (starts + ends + 1) / 2
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(run_ranks, ends - starts)
    return ranks


def _divide(numerator, denominator, *, zero_division: float) -> np.ndarray:
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.full(numerator.shape, zero_division), where=denominator > 0)


def _as_binary_targets(targets) -> np.ndarray:
    targets = np.asarray(targets)
    if targets.ndim != 2:
        raise ValueError(f"Multi-label targets must have shape (examples, labels); got shape {targets.shape}.")
    if targets.dtype != bool:
        if not np.isin(targets, (0, 1)).all():
            raise ValueError("Multi-label targets must be 0 or 1 (or booleans).")
        targets = targets.astype(bool)
    return targets


def _as_probabilities(probabilities, shape) -> np.ndarray:
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape != shape:
        raise ValueError(f"probabilities has shape {probabilities.shape} but targets has shape {shape}.")
    # NaN compares False with every threshold and would read as "not predicted"; values outside
    # [0, 1] are most likely logits passed where sigmoid probabilities belong.
    outside = ~((probabilities >= 0) & (probabilities <= 1))
    if outside.any():
        raise ValueError(
            "probabilities must lie in [0, 1] (sigmoid outputs, not logits, and no NaN); "
            f"got {int(outside.sum())} values outside, such as {probabilities[outside][0]}."
        )
    return probabilities


def _as_thresholds(thresholds, num_labels: int) -> np.ndarray:
    if thresholds is None:
        return np.full(num_labels, DEFAULT_THRESHOLD)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.ndim == 0:
        thresholds = np.full(num_labels, float(thresholds))
    if thresholds.shape != (num_labels,):
        raise ValueError(f"thresholds must have one value per label ({num_labels}); got shape {thresholds.shape}.")
    if not np.isfinite(thresholds).all():
        raise ValueError("thresholds must be finite numbers.")
    return thresholds


def _as_vector(name: str, values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    # (N, 1) is what a one-output regression head returns.
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"{name} must have shape (examples,) or (examples, 1); got shape {values.shape}.")
    # NaN or infinity would make every score NaN, which is not JSON; a model that diverged should say so.
    if not np.isfinite(values).all():
        raise ValueError(f"{name} has {int((~np.isfinite(values)).sum())} values that are NaN or infinite.")
    return values


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"
