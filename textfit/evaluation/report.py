"""The training report: ``report.html`` (self-contained) and PNG plots, from the saved run.

Built from three files of the model folder: ``history.json`` (per-step and per-epoch logs),
``metrics.json`` (validation metrics) and ``textfit.json`` (settings, timing, data check).
``textfit report DIR`` rebuilds it from them.
"""

import base64
import html
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from textfit.training.history import history_csv

PLOTS = ("loss.png", "accuracy.png", "learning_rate.png", "confusion_matrix.png", "token_lengths.png")
HISTORY_FILE, HISTORY_CSV_FILE, REPORT_FILE = "history.json", "history.csv", "report.html"


def _figure(width=7.0, height=4.0):
    # The object-oriented API with the Agg canvas: no pyplot global state, no display needed.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return figure, figure.subplots()


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _smooth(values: np.ndarray) -> np.ndarray:
    window = max(1, len(values) // 50)
    if window == 1:
        return values
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, values[0]), values])
    return np.convolve(padded, kernel, mode="valid")


def _curve_plot(history: dict, name: str, title: str) -> bytes | None:
    steps = [row for row in history.get("steps", []) if row.get(name) is not None]
    epochs = history.get("epochs", [])
    if not steps:
        return None
    figure, axes = _figure()
    x = np.array([row["step"] for row in steps])
    y = np.array([row[name] for row in steps], dtype=float)
    axes.plot(x, y, color="#9ecae1", linewidth=0.8, label=f"training {name} per step")
    axes.plot(x, _smooth(y), color="#08519c", linewidth=1.8, label=f"training {name} (moving average)")
    evaluations = history.get("evaluations") or epochs  # every validation (mid-epoch ones too), else epoch ends
    validation = [(row["step"], row[f"val_{name}"]) for row in evaluations if f"val_{name}" in row]
    if validation:
        axes.plot(*zip(*validation), "o-", color="#d94801", linewidth=1.5, label=f"validation {name}")
    best = history.get("best")
    if best:
        axes.axvline(best["step"], color="#238b45", linewidth=1.5, linestyle="--",
                     label=f"best validation {best['monitor']} (step {best['step']})")
    for row in epochs[:-1]:
        axes.axvline(row["step"], color="#bbbbbb", linewidth=0.6, linestyle=":")
    axes.set(title=title, xlabel="step", ylabel=name)
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize=8)
    return _png(figure)


def _learning_rate_plot(history: dict) -> bytes | None:
    steps = [row for row in history.get("steps", []) if row.get("learning_rate") is not None]
    if not steps:
        return None
    figure, axes = _figure(7.0, 3.0)
    axes.plot([row["step"] for row in steps], [row["learning_rate"] for row in steps], color="#54278f")
    axes.set(title="Learning rate used at each step", xlabel="step", ylabel="learning rate")
    axes.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    axes.grid(alpha=0.3)
    return _png(figure)


def _confusion_plot(metrics: dict | None) -> bytes | None:
    if not metrics or "confusion_matrix" not in metrics:
        return None
    labels = metrics["confusion_matrix"]["labels"]
    matrix = np.array(metrics["confusion_matrix"]["matrix"])
    size = max(4.0, 0.9 * len(labels) + 2.5)
    figure, axes = _figure(size, size * 0.85)
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, shrink=0.8, label="examples")
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, column), count in np.ndenumerate(matrix):
        axes.text(column, row, str(count), ha="center", va="center", color="white" if count > threshold else "black", fontsize=9)
    axes.set(title="Confusion matrix (validation)", xlabel="predicted label", ylabel="true label")
    return _png(figure)


def _token_length_plot(stats: dict) -> bytes | None:
    counts = stats.get("token_length_counts")
    if not counts:
        return None
    max_length = stats["max_length"]
    figure, axes = _figure(7.0, 3.5)
    lengths = np.arange(len(counts))
    # Lengths were measured up to the model's positions, so the last bin holds every longer text too.
    axes.hist(lengths, bins=min(40, len(counts)), weights=counts, color="#74c476", edgecolor="white", linewidth=0.5)
    axes.axvline(max_length, color="#cb181d", linewidth=1.5,
                 label=f"max_length = {max_length} ({100 * stats['truncated_fraction']:.1f}% of examples cut)")
    axes.set(title="Tokens per training example", ylabel="examples",
             xlabel=f"tokens (special tokens included; texts over {len(counts) - 1} are counted at {len(counts) - 1})")
    axes.legend(loc="upper right", fontsize=8)
    axes.grid(alpha=0.3, axis="y")
    return _png(figure)


def build_plots(history: dict, metrics: dict | None, record: dict) -> dict[str, bytes]:
    """PNG bytes of each plot there is data for, keyed by file name."""
    stats = (record.get("data_check") or {}).get("stats", {})
    plots = {
        "loss.png": _curve_plot(history, "loss", "Loss"),
        "accuracy.png": _curve_plot(history, "accuracy", "Accuracy (multi-label: share of label decisions right)"),
        "mae.png": _curve_plot(history, "mae", "Mean absolute error"),
        "learning_rate.png": _learning_rate_plot(history),
        "confusion_matrix.png": _confusion_plot(metrics),
        "token_lengths.png": _token_length_plot(stats),
    }
    return {name: data for name, data in plots.items() if data is not None}


def _table(rows: list[tuple], header: tuple | None = None) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(cell if str(cell).startswith("<td") else f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _metric_cell(name: str, value: float) -> str:
    return f'<td data-metric="{html.escape(name)}">{value:.4f}</td>'


def build_html(history: dict, metrics: dict | None, record: dict, plots: dict[str, bytes]) -> str:
    """The self-contained report page: numbers, tables and the plots inlined as data URIs."""
    sections = []
    timing = record.get("timing", {})
    summary = [("training examples", record.get("num_train_examples", "")), ("validation examples", record.get("num_validation_examples", ""))]
    if timing:
        summary += [("training time (s)", timing.get("train_seconds")), ("training examples/s", timing.get("train_examples_per_second"))]
    if metrics:
        headline = [(name, _metric_cell(key, metrics[key])) for key, name in _HEADLINE_METRICS if metrics.get(key) is not None]
        summary = headline + [("task", record.get("task", "single_label"))] + summary
    baseline = (metrics or {}).get("baseline")
    if baseline:
        key, name = ("pearson", "Pearson") if baseline.get("task") == "regression" else ("macro_f1", "macro-F1")
        verdict = {"baseline_wins": "it beats the fine-tuned model", "model_wins": "the fine-tuned model beats it"}.get(
            baseline.get("verdict"), "")
        if baseline.get(key) is not None:
            summary.append((f"TF-IDF baseline {name}", f"{baseline[key]:.4f} ({baseline['description']}; {verdict})"))
    seeds = (metrics or {}).get("seeds")
    if seeds:
        spread = ", ".join(f"{name} {seeds[name]['mean']:.4f} ± {seeds[name]['std']:.4f}" for name in seeds["metrics"])
        summary.append((f"over {len(seeds['seeds'])} seeds (mean ± std)",
                        f"{spread}; the saved model is seed {seeds['chosen_seed']}'s ({seeds['chosen_because']})"))
    few_shot = record.get("few_shot")
    if few_shot:
        summary.append(("few-shot training", f"{few_shot['pairs']} contrastive pairs in {few_shot['pair_steps']} steps, then a "
                                             f"logistic-regression head (training accuracy {few_shot['training_accuracy']:.3f}), "
                                             f"then {few_shot.get('fine_tune_epochs', 0)} epochs of fine-tuning"))
    best = history.get("best")
    if best:
        summary.append(("best validation", f"{best['monitor']} {best['value']:.4f} at step {best['step']} (epoch {best['epoch']})"
                        + (", stopped early" if best.get("stopped_early") else "")
                        + ("; the saved weights are this step's" if best.get("restored") else "; the last step's weights are saved")))
    sections.append("<h2>Summary</h2>" + _table(summary))
    for name, title in (("loss.png", "Loss"), ("accuracy.png", "Accuracy"), ("mae.png", "Mean absolute error"),
                        ("learning_rate.png", "Learning rate")):
        if name in plots:
            sections.append(f"<h2>{title}</h2>" + _image(plots[name], title))
    scores = (metrics or {}).get("per_class") or (metrics or {}).get("per_label")
    if scores:
        per_class = [
            (label, _metric_cell(f"{label}/precision", s["precision"]), _metric_cell(f"{label}/recall", s["recall"]),
             _metric_cell(f"{label}/f1", s["f1"]), s["support"])
            for label, s in scores.items()
        ]
        kind = "label" if "per_label" in metrics else "class"
        sections.append(f"<h2>Per-{kind} scores (validation)</h2>" + _table(per_class, ("label", "precision", "recall", "F1", "support")))
        if "confusion_matrix.png" in plots:
            sections.append("<h2>Confusion matrix</h2>" + _image(plots["confusion_matrix.png"], "Confusion matrix"))
    if "token_lengths.png" in plots:
        sections.append("<h2>Token lengths</h2>" + _image(plots["token_lengths.png"], "Token length histogram"))
    findings = (record.get("data_check") or {})
    notes = [(f["code"], f["message"]) for f in findings.get("warnings", [])]
    if notes:
        sections.append("<h2>Data check warnings</h2>" + _table(notes, ("check", "message")))
    settings = []
    for group in ("train_config", "model_config", "data_config"):
        settings += [(f"{group}.{key}", value) for key, value in (record.get(group) or {}).items()]
    settings += [("backend", record.get("backend", "")), ("labels", ", ".join(record.get("labels", [])))]
    settings += [(f"version of {name}", version) for name, version in (record.get("versions") or {}).items()]
    sections.append("<h2>Settings</h2>" + _table(settings, ("setting", "value")))
    epochs = history.get("epochs", [])
    if epochs:
        keys = [k for k in epochs[0] if k not in ("epoch", "step")]
        rows = [(row["epoch"], row["step"], *(f"{row.get(k, float('nan')):.4f}" for k in keys)) for row in epochs]
        sections.append("<h2>Epochs</h2>" + _table(rows, ("epoch", "step", *keys)))
    return _PAGE.format(body="\n".join(sections))


# (metrics.json key, name shown) for the summary, in order; a task shows the ones it has.
_HEADLINE_METRICS = (
    ("accuracy", "accuracy"), ("macro_f1", "macro-F1"), ("micro_f1", "micro-F1"), ("samples_f1", "sample F1"),
    ("hamming_loss", "Hamming loss"), ("mae", "MAE"), ("rmse", "RMSE"), ("r2", "R²"), ("pearson", "Pearson"),
    ("spearman", "Spearman"), ("loss", "loss"),
)


def _image(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>textfit training report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 960px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; font-variant-numeric: tabular-nums; }}
th {{ background: #f3f3f3; }} img {{ max-width: 100%; }}
</style></head>
<body><h1>textfit training report</h1>
{body}
</body></html>
"""


def report_files(history: dict, metrics: dict | None, record: dict) -> dict[str, bytes]:
    """Every report file (plots, report.html, history.json, history.csv) as bytes, keyed by name."""
    plots = build_plots(history, metrics, record)
    return {
        **plots,
        REPORT_FILE: build_html(history, metrics, record, plots).encode("utf-8"),
        HISTORY_FILE: (json.dumps(history, indent=2) + "\n").encode("utf-8"),
        HISTORY_CSV_FILE: history_csv(history).encode("utf-8"),
    }


def rebuild_report(model_dir) -> list[str]:
    """Write the report of a saved run again, from its history.json, metrics.json and textfit.json.

    Example:
        >>> rebuild_report("sentiment-model")
        ['loss.png', 'accuracy.png', ..., 'report.html', 'history.json', 'history.csv']
    """
    model_dir = Path(model_dir)
    history_path = model_dir / HISTORY_FILE
    if not history_path.is_file():
        raise FileNotFoundError(f"{history_path} not found: `textfit report` needs a folder written by `textfit train`.")
    history = json.loads(history_path.read_text(encoding="utf-8"))
    metrics_path = model_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else None
    record_path = model_dir / "textfit.json"
    record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else {}
    files = report_files(history, metrics, record)
    for name, data in files.items():
        # Each file is replaced atomically: a reader never sees half a report.
        with tempfile.NamedTemporaryFile(dir=model_dir, prefix=f".{name}.", suffix=".tmp", delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, model_dir / name)
    return list(files)
