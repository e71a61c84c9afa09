"""Hugging Face folder <-> ``TextClassifier``: one import loop and one export loop for every family.

Each family lists its encoder tensors (``Family.weight_table``, names relative to the
family's prefix) and its head's (``ClassificationHead.weight_rows``, full names). Import reads
those rows forwards, export backwards, so the two cannot drift apart. HF keys
(``id2label``, ``architectures``...) appear here and in the family files only.
"""

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from textfit import atomic
from textfit.data.labels import MULTI_LABEL, PROBLEM_TYPES, REGRESSION, SINGLE_LABEL, LabelMap, normalize_task, task_from_problem_type
from textfit.data.tokenizer import Tokenizer
from textfit.hf import folder as hf_folder
from textfit.models import get_family
from textfit.models.family import TRANSPOSE, Family, WeightRow
from textfit.models.layers import ClassificationHead
from textfit.models.precision import choose_precision, dtype_policy

logger = logging.getLogger("textfit")

TEXTFIT_FILE = "textfit.json"
METRICS_FILE = "metrics.json"

# Checkpoints converted from TensorFlow name LayerNorm weights gamma/beta.
_LEGACY_NAMES = (("LayerNorm.gamma", "LayerNorm.weight"), ("LayerNorm.beta", "LayerNorm.bias"))


@dataclass(frozen=True)
class LoadReport:
    """What ``from_pretrained`` did with the checkpoint's tensors (HF names)."""

    loaded: tuple[str, ...]
    newly_initialized: tuple[str, ...]
    unused: tuple[str, ...]


def normalize_hf_name(name: str) -> str:
    """Map legacy TF names (``LayerNorm.gamma``) to current ones."""
    for old, new in _LEGACY_NAMES:
        name = name.replace(old, new)
    return name


def _name_index(tensors: dict, prefix: str) -> dict[str, str]:
    """Full HF name -> the checkpoint's own name, also for bare encoders saved without ``prefix``."""
    index = {}
    for name in tensors:
        canonical = normalize_hf_name(name)
        index.setdefault(canonical, name)
        if not canonical.startswith(prefix):
            index.setdefault(prefix + canonical, name)
    return index


def _to_keras(value: np.ndarray, row: WeightRow) -> np.ndarray:
    return value.T if row.transform == TRANSPOSE else value


def _expected_hf_shape(row: WeightRow) -> tuple:
    shape = tuple(row.variable.shape)
    return shape[::-1] if row.transform == TRANSPOSE else shape


def _assign(row: WeightRow, value: np.ndarray) -> bool:
    value = _to_keras(value, row)
    if tuple(value.shape) != tuple(row.variable.shape):
        return False
    # Checkpoints in float16/bfloat16 (many Hub folders) are widened here; weights train in float32.
    row.variable.assign(np.asarray(value, dtype=np.float32).astype(row.variable.dtype))
    return True


def import_weights(family: Family, backbone, head: ClassificationHead, tensors: dict, path: Path, *, reuse_head: bool) -> LoadReport:
    """Copy checkpoint tensors into the backbone and head; raise naming every missing or mismatched one."""
    prefix = family.weight_prefix
    index = _name_index(tensors, prefix)
    loaded, newly_initialized, missing, mismatched = [], [], [], []
    # Name missing tensors the way this checkpoint names its tensors (with or without the prefix).
    shown_prefix = prefix if any(name.startswith(prefix) for name in tensors) else ""
    for row in family.weight_table(backbone):
        full_name = prefix + row.hf_name
        if full_name not in index:
            missing.append(shown_prefix + row.hf_name)
            continue
        original = index[full_name]
        if not _assign(row, tensors[original]):
            mismatched.append(f"{original}: checkpoint {tuple(tensors[original].shape)}, model expects {_expected_hf_shape(row)}")
            continue
        loaded.append(original)
    if missing or mismatched:
        lines = [f"missing {name}" for name in missing[:10]] + mismatched[:10]
        raise ValueError(
            f"{path / hf_folder.WEIGHTS_FILE} does not match its config.json: " + "; ".join(lines)
            + (" ..." if len(missing) + len(mismatched) > 20 else "")
            + ". The weights are incomplete or belong to another model; copy the checkpoint again."
        )
    pre_rows, logits_rows = head.weight_rows()
    # The pre-classifier layers (BERT's pooler, ModernBERT's head.dense) do not depend on the labels.
    for row in pre_rows:
        original = index.get(row.hf_name)
        if original is not None and _assign(row, tensors[original]):
            loaded.append(original)
        else:
            newly_initialized.append(row.hf_name)
    originals = [index.get(row.hf_name) for row in logits_rows]
    head_fits = reuse_head and all(
        name is not None and tuple(_to_keras(tensors[name], row).shape) == tuple(row.variable.shape)
        for name, row in zip(originals, logits_rows)
    )
    if head_fits:
        for name, row in zip(originals, logits_rows):
            _assign(row, tensors[name])
            loaded.append(name)
    else:
        newly_initialized += [row.hf_name for row in logits_rows]
    used = set(loaded)
    ignored = {name for name in tensors if name.endswith(family.ignored_tensors)}
    unused = sorted(set(tensors) - used - ignored)
    return LoadReport(tuple(loaded), tuple(newly_initialized), tuple(unused))


def export_weights(model) -> dict[str, np.ndarray]:
    """Every weight of ``model`` under its HF name, as transformers' ``*ForSequenceClassification`` has it.

    A regression head's target scale is folded into its last Dense, so transformers outputs the
    targets' units without knowing about the scale.
    """
    family = model.family
    rows = [dataclasses.replace(row, hf_name=family.weight_prefix + row.hf_name) for row in family.weight_table(model.backbone)]
    pre_rows, logits_rows = model.head.weight_rows()
    tensors = {}
    for row in [*rows, *pre_rows]:
        value = keras.ops.convert_to_numpy(row.variable).astype(np.float32)
        tensors[row.hf_name] = value.T if row.transform == TRANSPOSE else value
    kernel, bias = model.head.folded_logits()
    kernel_row, bias_row = logits_rows
    tensors[kernel_row.hf_name] = kernel.T  # HF Linear stores (out, in)
    tensors[bias_row.hf_name] = bias
    return tensors


# === Loading a classifier ===
def _saved_labels(hf_config: dict) -> tuple[str, ...] | None:
    """Labels of a saved classification head, or None for a bare encoder."""
    architectures = hf_config.get("architectures") or []
    id2label = hf_config.get("id2label")
    if not id2label or not any(name.endswith("ForSequenceClassification") for name in architectures):
        return None
    return tuple(id2label[key] for key in sorted(id2label, key=int))


def _choose_labels(path, labels, num_labels, saved_labels) -> LabelMap:
    if labels is not None:
        if isinstance(labels, str):
            raise TypeError(f"labels must be a list of label names, not a string. Received: labels={labels!r}")
        label_map = LabelMap(tuple(str(label) for label in labels))
        if num_labels is not None and num_labels != label_map.num_classes:
            raise ValueError(f"num_labels={num_labels} disagrees with the {label_map.num_classes} labels given: {list(label_map.labels)}.")
        return label_map
    if num_labels is not None:
        if not isinstance(num_labels, int) or num_labels < 1:
            raise ValueError(f"num_labels must be a positive integer. Received: num_labels={num_labels!r}")
        if saved_labels is not None and len(saved_labels) == num_labels:
            return LabelMap(saved_labels)
        return LabelMap(tuple(f"LABEL_{i}" for i in range(num_labels)))
    if saved_labels is not None:
        return LabelMap(saved_labels)
    raise ValueError(
        f"{path} holds an encoder without a classification head, so the labels are unknown. "
        "Pass labels=['neg', 'pos', ...] (or num_labels=N)."
    )


def read_textfit_file(path: Path) -> dict:
    textfit_path = Path(path) / TEXTFIT_FILE
    return hf_folder.read_json(textfit_path) if textfit_path.is_file() else {}


def _choose_task(task, hf_config: dict, saved_labels, labels, num_labels) -> str:
    """The asked task; else the saved head's ``problem_type`` when that head is kept; else single-label."""
    if task is not None:
        return normalize_task(task, allow_auto=False)
    keeps_saved_head = saved_labels is not None and (labels is None or tuple(map(str, labels)) == saved_labels)
    if keeps_saved_head and num_labels in (None, len(saved_labels)):
        saved_task = task_from_problem_type(hf_config.get("problem_type"))
        if saved_task is not None:
            return saved_task
        if len(saved_labels) == 1:  # transformers reads num_labels=1 without a problem_type as regression
            return REGRESSION
    return SINGLE_LABEL


def _hidden_dim(hf_config: dict) -> int:
    """The encoder width, whatever the family calls it (DistilBERT: dim)."""
    value = hf_config.get("hidden_size", hf_config.get("dim", 0))
    return value if isinstance(value, int) else 0


def load_classifier(model_class, checkpoint_dir, *, labels=None, num_labels=None, max_length=None, dropout=None, seed=0, task=None,
                    **reading):
    """Build ``model_class`` (``TextClassifier``) from a local HF folder; see ``TextClassifier.from_pretrained``."""
    from textfit.models.classifier import ModelConfig

    path = hf_folder.check_checkpoint_dir(checkpoint_dir)
    hf_config = hf_folder.read_config(path)
    family = get_family(hf_config.get("model_type"))
    saved_labels = _saved_labels(hf_config)
    task = _choose_task(task, hf_config, saved_labels, labels, num_labels)
    if task == REGRESSION and labels is None and num_labels is None and saved_labels is None:
        labels = ("target",)
    label_map = _choose_labels(path, labels, num_labels, saved_labels)
    if task == REGRESSION and label_map.num_classes != 1:
        raise ValueError(
            f"A regression model predicts one number; received {label_map.num_classes} labels {list(label_map.labels)}. "
            "Pass one name (labels=['score']) or none."
        )
    if task != REGRESSION and label_map.num_classes < 2:
        raise ValueError(f"A classifier needs at least two labels; received {list(label_map.labels)}.")
    saved = read_textfit_file(path)
    limit = family.max_length(hf_config)
    saved_config = saved.get("model_config", {})
    default_length = saved_config.get("max_length", min(128, limit))
    # How the saved model read text (truncation, chunks) holds unless the caller says otherwise.
    reading_fields = ("truncation", "chunk_overlap", "max_chunks", "chunk_pooling", "precision")
    unknown = sorted(set(reading) - set(reading_fields))
    if unknown:
        raise TypeError(f"Unknown argument(s) {unknown}; from_pretrained also takes {list(reading_fields)}.")
    reading = {**{k: saved_config[k] for k in reading_fields if k in saved_config}, **{k: v for k, v in reading.items() if v is not None}}
    model_config = ModelConfig(max_length=max_length if max_length is not None else default_length, dropout=dropout, **reading)
    if model_config.max_length > limit:
        raise ValueError(
            f"max_length={model_config.max_length} exceeds the model's {limit} position embeddings "
            f"(max_position_embeddings in {path / 'config.json'}). Pass max_length <= {limit}."
        )
    tokenizer = Tokenizer.from_dir(path)
    precision = choose_precision(model_config.precision, hidden_dim=_hidden_dim(hf_config))
    # Layers take the global dtype policy when built: mixed_bfloat16 for the model, then back as it was.
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype_policy(precision[0]))
    try:
        backbone = family.build_backbone(hf_config, seed)
        head = ClassificationHead(
            family.head(hf_config, model_config.dropout),
            num_classes=label_map.num_classes,
            hidden_dim=backbone.hidden_dim,
            initializer_range=hf_config.get("initializer_range", 0.02),
            seed=seed,
            scaled_output=task == REGRESSION,
            name="head",
        )
    finally:
        keras.config.set_dtype_policy(previous_policy)
    if precision[0] != "float32" or model_config.precision != "auto":
        logger.info("Computing in %s (%s); weights, optimizer state and loss stay float32.", precision[0], precision[1])
    model = model_class(
        backbone=backbone, head=head, tokenizer=tokenizer, label_map=label_map, hf_config=hf_config, model_config=model_config,
        seed=seed, task=task,
    )
    model._textfit_state["precision"] = precision
    model.build_variables()
    saved_task = task_from_problem_type(hf_config.get("problem_type")) or (REGRESSION if saved_labels and len(saved_labels) == 1 else SINGLE_LABEL)
    reuse_head = saved_labels is not None and saved_labels == label_map.labels and saved_task == task
    if reuse_head and task == MULTI_LABEL and isinstance(saved.get("thresholds"), dict):
        model.set_thresholds(saved["thresholds"])
    report = import_weights(family, backbone, head, hf_folder.read_weights(path), path, reuse_head=reuse_head)
    model._textfit_state["load_report"] = report
    if report.newly_initialized:
        logger.warning(
            "Newly initialised weights (not in %s): %s. Train this model before using it for predictions.",
            path, list(report.newly_initialized),
        )
    if report.unused:
        logger.info("Checkpoint tensors not used by the classifier: %s", list(report.unused))
    return model


# === Saving a classifier ===
def classifier_config(model) -> dict:
    """config.json of the saved classifier: the checkpoint's, with the family's class and the labels."""
    hf_config = model.hf_config
    model_type = hf_config.get("model_type")
    hf_config.update(
        architectures=[model.family.architecture(model_type)],
        id2label={str(i): label for i, label in enumerate(model.labels)},
        label2id={label: i for i, label in enumerate(model.labels)},
        problem_type=PROBLEM_TYPES[model.task],
    )
    hf_config.pop("num_labels", None)
    return hf_config


def save_classifier(model, output_dir, *, metrics=None, configs=None, extra_files=None, carry_over=()) -> Path:
    """Write ``model`` as an HF folder; see ``TextClassifier.save_pretrained``."""
    tensors = export_weights(model)
    with atomic.atomic_directory(output_dir, carry_over=carry_over) as tmp_dir:
        hf_folder.write_weights(tmp_dir / hf_folder.WEIGHTS_FILE, tensors)
        atomic.write_json(tmp_dir / hf_folder.CONFIG_FILE, classifier_config(model))
        model.tokenizer.save(tmp_dir, max_length=model.model_config.max_length)
        atomic.write_json(tmp_dir / TEXTFIT_FILE, model.describe(metrics=metrics, configs=configs))
        if metrics is not None:
            atomic.write_json(tmp_dir / METRICS_FILE, metrics)
        for name, data in (extra_files or {}).items():
            (tmp_dir / name).write_bytes(data)
    return Path(output_dir).expanduser().resolve()
