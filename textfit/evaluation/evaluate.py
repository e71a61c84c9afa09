"""Metrics: accuracy, macro-F1, per-class precision/recall/F1, confusion matrix; multi-label and regression in task_metrics.py.

Written with numpy (a confusion matrix and three divisions) rather than scikit-learn,
which would add scipy and ~40 MB to the base install for the same numbers.
"""

import numpy as np

from textfit.atomic import write_json
from textfit.data.inputs import encode_targets, sigmoid
from textfit.data.labels import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from textfit.evaluation.task_metrics import (
    binary_cross_entropy,
    format_task_metrics,
    mean_squared_error,
    multilabel_metrics,
    regression_metrics,
)


def classification_metrics(label_ids, predicted_label_ids, labels, *, logits=None) -> dict:
    """Metrics of predicted vs true label ids, as a JSON-ready dict.

    Use it when you already have predictions; ``evaluate`` runs the model first.
    Precision or recall of a class with nothing predicted or nothing true is 0 (as scikit-learn's
    ``zero_division=0``).

    Returns:
        ``{"num_examples", "accuracy", "macro_f1", "loss" (if logits), "per_class": {label: {...}},
        "confusion_matrix": {"labels", "matrix"}}`` where ``matrix[true][predicted]`` counts examples.

    Example:
        >>> metrics = classification_metrics([0, 1, 1], [0, 1, 0], ["neg", "pos"])
        >>> metrics["accuracy"], metrics["per_class"]["pos"]["recall"]
        (0.6666666666666666, 0.5)
    """
    label_ids = np.asarray(label_ids, dtype=np.int64)
    matrix = confusion_matrix(label_ids, predicted_label_ids, len(labels))
    loss = cross_entropy(logits, label_ids) if logits is not None else None
    return metrics_from_confusion(matrix, labels, loss=loss)


def confusion_matrix(label_ids, predicted_label_ids, num_classes: int) -> np.ndarray:
    """Counts of (true, predicted) label id pairs, shape (num_classes, num_classes)."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(label_ids, dtype=np.int64), np.asarray(predicted_label_ids, dtype=np.int64)), 1)
    return matrix


def metrics_from_confusion(matrix: np.ndarray, labels, *, loss: float | None = None) -> dict:
    """Accuracy, macro-F1 and per-class scores from a confusion matrix (rows: true, columns: predicted)."""
    num_classes = len(labels)
    true_positives = np.diag(matrix).astype(np.float64)
    predicted_counts = matrix.sum(axis=0)
    true_counts = matrix.sum(axis=1)
    num_examples = int(matrix.sum())
    precision = np.divide(true_positives, predicted_counts, out=np.zeros(num_classes), where=predicted_counts > 0)
    recall = np.divide(true_positives, true_counts, out=np.zeros(num_classes), where=true_counts > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros(num_classes), where=denominator > 0)
    metrics = {
        "num_examples": num_examples,
        "accuracy": float(true_positives.sum() / max(1, num_examples)),
        "macro_f1": float(f1.mean()),
    }
    if loss is not None:
        metrics["loss"] = float(loss)
    metrics["per_class"] = {
        label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(true_counts[i])}
        for i, label in enumerate(labels)
    }
    metrics["confusion_matrix"] = {"labels": list(labels), "matrix": matrix.tolist()}
    return metrics


def cross_entropy(logits, label_ids) -> float:
    """Mean softmax cross-entropy of integer labels under ``logits`` (numerically stable)."""
    return _cross_entropy_sum(logits, label_ids) / max(1, len(label_ids))


def _cross_entropy_sum(logits, label_ids) -> float:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return float(-log_probabilities[np.arange(len(label_ids)), np.asarray(label_ids, dtype=np.int64)].sum())


def evaluate(model, x, y, *, batch_size: int = 64) -> dict:
    """Predict ``x`` with ``model`` and score against ``y``, with the metrics of the model's task.

    Single-label (labels as strings or ids): accuracy, macro-F1, per-class scores, confusion matrix,
    accumulated batch by batch (memory does not grow with the number of examples). Multi-label
    (label sets): micro/macro/sample F1, per-label scores at the model's thresholds, subset
    accuracy, Hamming loss. Regression (numbers): MAE, RMSE, R², Pearson, Spearman.

    Example:
        >>> metrics = textfit.evaluate(model, validation_texts, validation_labels)
        >>> round(metrics["macro_f1"], 3)
        0.874
    """
    if model.task != SINGLE_LABEL:
        return _evaluate_task(model, x, y, batch_size)
    label_ids = model.label_map.encode(list(y))
    matrix = np.zeros((model.num_classes, model.num_classes), dtype=np.int64)
    loss_sum = 0.0
    for indices, logits in model.iter_logits(x, batch_size=batch_size):
        matrix += confusion_matrix(label_ids[indices], logits.argmax(axis=-1), model.num_classes)
        loss_sum += _cross_entropy_sum(logits, label_ids[indices])
    return metrics_from_confusion(matrix, model.labels, loss=loss_sum / max(1, len(label_ids)))


def _evaluate_task(model, x, y, batch_size: int) -> dict:
    targets = encode_targets(y, model.label_map, model.task)
    logits = model.predict_logits(x, batch_size)
    if model.task == MULTI_LABEL:
        thresholds = np.array([model.thresholds[label] for label in model.labels])
        return multilabel_metrics(targets, sigmoid(logits), model.labels, thresholds=thresholds,
                                  loss=binary_cross_entropy(logits, targets))
    predictions = logits[:, 0]
    return regression_metrics(targets, predictions, loss=mean_squared_error(predictions, targets))


def write_metrics(metrics: dict, path) -> None:
    """Write metrics as JSON, atomically."""
    write_json(path, metrics)


def format_metrics(metrics: dict) -> str:
    """A terminal table: accuracy, macro-F1 and per-class precision/recall/F1/support (or the task's own)."""
    if metrics.get("task") in (MULTI_LABEL, REGRESSION):
        return format_task_metrics(metrics)
    width = max(12, *(len(label) for label in metrics["per_class"]))
    lines = [
        f"accuracy {metrics['accuracy']:.4f}   macro-F1 {metrics['macro_f1']:.4f}   examples {metrics['num_examples']}",
        f"{'label':<{width}}  precision  recall     f1  support",
    ]
    for label, scores in metrics["per_class"].items():
        lines.append(
            f"{label:<{width}}  {scores['precision']:9.4f}  {scores['recall']:6.4f}  {scores['f1']:6.4f}  {scores['support']:7d}"
        )
    return "\n".join(lines)
