"""Predict labels and probabilities for a file of texts and write them as CSV or JSONL."""

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from textfit.data.examples import DataConfig, read_examples
from textfit.data.inputs import sigmoid, softmax
from textfit.data.labels import MULTI_LABEL, REGRESSION
from textfit.training import distributed

OUTPUT_SUFFIXES = (".csv", ".jsonl")


def prediction_records(model, examples, batch_size: int = 64) -> list[dict]:
    """One dict per example: text (and pair), then the prediction of the model's task.

    Single-label: ``label`` and ``probabilities`` (softmax). Multi-label: ``labels`` (those at or
    above their threshold) and ``probabilities`` (each label's sigmoid). Regression: ``value``.
    """
    logits = _logits(model, examples, batch_size)
    records = []
    for index, row in enumerate(prediction_fields(model, logits)):
        record = {"text": examples.texts[index]}
        if examples.text_pairs is not None:
            record["text_pair"] = examples.text_pairs[index]
        records.append({**record, **row})
    return records


def _logits(model, examples, batch_size: int) -> np.ndarray:
    """The logits of every example; under torchrun each rank predicts rows rank::world and all of them get every row."""
    if not distributed.active():
        return model.predict_logits(examples.inputs, batch_size=batch_size)
    mine = np.arange(distributed.rank(), len(examples), distributed.world_size())
    part = model.predict_logits(examples.subset(mine).inputs, batch_size=batch_size) if len(mine) else None
    logits = None
    for indices, values in distributed.all_gather_objects((mine, part)):
        if values is None:
            continue
        if logits is None:
            logits = np.empty((len(examples), values.shape[1]), dtype=values.dtype)
        logits[indices] = values
    return logits


def prediction_fields(model, logits: np.ndarray) -> list[dict]:
    """What a prediction says for each row of logits, by task (shared by files and the server)."""
    if model.task == REGRESSION:
        return [{"value": float(value)} for value in logits[:, 0]]
    labels = list(model.labels)
    if model.task == MULTI_LABEL:
        thresholds = np.array([model.thresholds[label] for label in labels])
        return [
            {"labels": [label for label, p, t in zip(labels, row, thresholds) if p >= t],
             "probabilities": {label: float(p) for label, p in zip(labels, row)}}
            for row in sigmoid(logits)
        ]
    return [
        {"label": labels[int(row.argmax())], "probabilities": {label: float(p) for label, p in zip(labels, row)}}
        for row in softmax(logits)
    ]


def predict_file(model, input_path, output_path, data_config: DataConfig = DataConfig(), batch_size: int = 64) -> int:
    """Predict every row of ``input_path`` and write ``output_path`` (.csv or .jsonl); return the row count.

    CSV gets columns text, [text_pair], label, probability_<label>...; JSONL one object per line
    with a ``probabilities`` mapping. The file is written to a temp path, then renamed. Under
    torchrun the ranks predict a share of the rows each and rank 0 writes them all, in input order.

    Example:
        >>> predict_file(model, "new_reviews.csv", "predictions.jsonl")
        1200
    """
    output_path = Path(output_path)
    suffix = output_path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise ValueError(f"Cannot write predictions as {suffix!r} ({output_path}). Use one of: {', '.join(OUTPUT_SUFFIXES)}.")
    if output_path.is_dir():
        raise ValueError(f"--output {output_path} is a folder; pass a file path ending in .csv or .jsonl.")
    examples = read_examples(input_path, data_config, require_labels=False)
    distributed.init_from_env()  # under torchrun: the ranks share the rows, rank 0 writes
    records = prediction_records(model, examples, batch_size)
    if not distributed.is_main():
        distributed.barrier()
        return len(records)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=output_path.parent, prefix=f".{output_path.name}.", suffix=".tmp", delete=False, newline=""
    ) as handle:
        if suffix == ".jsonl":
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            separator = data_config.label_separator or "|"
            rows = [
                {**{k: separator.join(v) if k == "labels" else v for k, v in record.items() if k != "probabilities"},
                 **{f"probability_{label}": p for label, p in record.get("probabilities", {}).items()}}
                for record in records
            ]
            pd.DataFrame(rows).to_csv(handle, index=False)
    os.replace(handle.name, output_path)
    distributed.barrier()
    return len(records)
