"""What ``TextClassifier`` accepts as inputs: raw strings, (text, pair) tuples, arrays or Keras datasets."""

import keras
import numpy as np

from textfit.data.batches import TextBatches
from textfit.data.labels import MULTI_LABEL, REGRESSION, SINGLE_LABEL, multi_hot, regression_targets

DEFAULT_BATCH_SIZE = 32


def is_single(x) -> bool:
    return isinstance(x, str)


def as_list(values) -> list:
    if hasattr(values, "tolist"):
        return values.tolist()
    return list(values)


def is_text_input(x) -> bool:
    """True for a string, or a sequence of strings or of (text, pair) tuples."""
    if isinstance(x, str):
        return True
    if isinstance(x, (dict, keras.utils.PyDataset)) or x is None:
        return False
    if isinstance(x, np.ndarray) and x.dtype.kind not in "OUS":
        return False
    if not hasattr(x, "__len__") or not hasattr(x, "__getitem__"):
        return False
    if len(x) == 0:
        raise ValueError("Received an empty list of texts.")
    first = x[0] if not hasattr(x, "iloc") else x.iloc[0]
    return isinstance(first, (str, tuple, list))


def split_texts(x) -> tuple[list[str], list[str] | None, bool]:
    """(texts, text_pairs or None, single) from a string or a sequence of strings or pairs."""
    if isinstance(x, str):
        return [x], None, True
    items = as_list(x)
    if all(isinstance(item, str) for item in items):
        return items, None, False
    if all(isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(t, str) for t in item) for item in items):
        return [item[0] for item in items], [item[1] for item in items], False
    bad = next(i for i, item in enumerate(items) if not isinstance(item, str))
    raise TypeError(
        f"Expected texts as strings or (text, text_pair) tuples of strings; item {bad} is {items[bad]!r} "
        f"({type(items[bad]).__name__}). Remove or fill in missing texts."
    )


def encode_targets(y, label_map, task: str) -> np.ndarray:
    """What the model trains against: label ids, 0/1 rows (multi-label) or float32 numbers (regression)."""
    if task == MULTI_LABEL:
        return multi_hot(y if isinstance(y, np.ndarray) and y.ndim == 2 else as_list(y), label_map)
    if task == REGRESSION:
        return regression_targets(as_list(y))
    values = as_list(y)
    if values and isinstance(values[0], (list, tuple, set)):
        raise ValueError(
            "Received several labels per text, but the model is single-label. Load it with task='multi_label' "
            "(--task multi-label) to train one sigmoid per label."
        )
    return label_map.encode(values)


def text_batches(x, y, sample_weight, *, encode, label_map, batch_size: int, shuffle: bool, seed: int,
                 task: str = SINGLE_LABEL, pad_token_id: int = 0) -> TextBatches:
    """Texts (or pairs) and labels -> length-bucketed ``TextBatches`` (see ``encode_targets`` for the labels).

    ``encode(texts, text_pairs)`` tokenizes as the model reads; each window of a text cut into
    chunks becomes a training row carrying the text's label and weight.
    """
    if y is None:
        raise ValueError("Received texts without labels. Pass y=labels (label strings or ids).")
    texts, text_pairs, _ = split_texts(x)
    label_ids = encode_targets(y, label_map, task)
    if len(label_ids) != len(texts):
        raise ValueError(f"Received {len(texts)} texts but {len(label_ids)} labels; pass one label per text.")
    if sample_weight is not None and len(sample_weight) != len(texts):
        raise ValueError(f"Received {len(texts)} texts but {len(sample_weight)} sample weights; pass one weight per text.")
    encoded = encode(texts, text_pairs)
    if encoded.example_index is not None:
        label_ids = label_ids[encoded.example_index]
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)[encoded.example_index]
    return TextBatches(
        encoded, label_ids, batch_size=batch_size, shuffle=shuffle, seed=seed,
        pad_token_id=pad_token_id, sample_weights=sample_weight,
    )


def num_batches(data, batch_size) -> int:
    """Batches per epoch of what ``keras.Model.fit`` will iterate over."""
    if isinstance(data, dict):
        return -(-len(next(iter(data.values()))) // (batch_size or DEFAULT_BATCH_SIZE))
    if isinstance(data, np.ndarray):
        return -(-len(data) // (batch_size or DEFAULT_BATCH_SIZE))
    try:
        return len(data)
    except TypeError:
        raise ValueError(
            "The default learning-rate schedule needs the number of steps, and this dataset has no length. "
            "Pass steps_per_epoch=N to fit, or compile with your own optimizer."
        ) from None


def first_batch(data, y, batch_size):
    """(inputs, label_ids) of the first training batch, or None for datasets that can't be peeked at."""
    if isinstance(data, TextBatches):
        first = data[0]
        return first[0], first[1] if len(first) > 1 else None
    if isinstance(data, dict) and y is not None:
        size = batch_size or DEFAULT_BATCH_SIZE
        return {name: np.asarray(values)[:size] for name, values in data.items()}, np.asarray(y)[:size]
    return None


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Elementwise logistic function, stable for large negative logits."""
    logits = np.asarray(logits, dtype=np.float64)
    return (0.5 * (1.0 + np.tanh(0.5 * logits))).astype(np.float32)
