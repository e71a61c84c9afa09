"""ONNX export of a saved model, and prediction with onnxruntime (float32, or int8 weights).

``export_onnx`` writes ``model.onnx`` (and ``model.int8.onnx`` with ``quantize="int8"``) next to the
tokenizer files of a folder saved by textfit. The graph is transformers' own
``*ForSequenceClassification`` for the folder (token ids, attention mask and, for families that
have them, segment ids in; logits out), traced by ``torch.onnx.export`` with dynamic batch and
length — the folder is a Hugging Face folder, and transformers' graphs export cleanly for every
family textfit reads. The export checks that onnxruntime reproduces textfit's float32 logits
(1e-4) and reports what int8 weights change.

``OnnxClassifier`` predicts with onnxruntime alone (no torch, no transformers): textfit's tokenizer,
its truncation (head+tail, chunks and their pooling included), length-sorted batches, and the
task's outputs (labels, label sets at their thresholds, numbers). It has the methods ``predict``,
``evaluate``, ``predict_file`` and the server use, so ``--runtime onnx`` swaps it in.

Needs the ``onnx`` extra: ``pip install 'textfit[onnx]'`` (onnx, onnxruntime; transformers and torch
to export).
"""

import dataclasses
import logging
from pathlib import Path

import numpy as np

from textfit.data.inputs import sigmoid, softmax
from textfit.data.labels import MULTI_LABEL, REGRESSION, LabelMap, task_from_problem_type
from textfit.data.tokenizer import Tokenizer
from textfit.hf import folder as hf_folder

logger = logging.getLogger("textfit")

ONNX_FILE, INT8_FILE = "model.onnx", "model.int8.onnx"
RUNTIMES = {"onnx": ONNX_FILE, "onnx-int8": INT8_FILE}
_OPSET = 17
_INSTALL_HINT = "Install the ONNX extra: pip install 'textfit[onnx]'."
# Sentences to check an export with when no data is given (any language the tokenizer reads).
_PROBE_TEXTS = [
    "I loved this film, the acting was great.", "Terrible service, never again!", "The market fell 3% on Monday.",
    "Team wins the final after extra time", "A short one", "Nothing special, but fine overall for the price I paid.",
    "Le film était long mais beau.", "The new phone's battery lasts two days; the camera is average.",
]


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"ONNX export and the onnx runtime need the {module!r} package. {_INSTALL_HINT}") from None


def export_onnx(model_dir, *, quantize: str | None = None, sample_texts=None) -> dict:
    """Write ``model.onnx`` (and ``model.int8.onnx``) into ``model_dir`` and check them against textfit.

    Returns a report: files written, the largest logit difference of the float32 graph from textfit
    (float32) on ``sample_texts`` (or built-in sentences), and for int8 the share of texts whose label
    stays the same and the largest probability change.

    Example:
        >>> export_onnx("sentiment-model", quantize="int8", sample_texts=validation_texts)
        {'files': ['model.onnx', 'model.int8.onnx'], 'float32_max_logit_difference': 2.4e-06, 'int8_label_agreement': 0.995, ...}
    """
    from textfit.models.classifier import TextClassifier

    if quantize not in (None, "int8"):
        raise ValueError(f"quantize must be None or 'int8'. Received: quantize={quantize!r}")
    torch = _require("torch")
    transformers = _require("transformers")
    _require("onnx")
    path = hf_folder.check_checkpoint_dir(model_dir)
    untrained = f"{path} holds no trained classification head; export the folder a textfit train or save_pretrained wrote."
    try:
        reference = TextClassifier.from_pretrained(path, precision="float32")
    except ValueError as error:
        if "without a classification head" in str(error):
            raise ValueError(untrained) from None
        raise
    if reference.load_report.newly_initialized:
        raise ValueError(untrained)
    hf_model = transformers.AutoModelForSequenceClassification.from_pretrained(path, attn_implementation="eager").eval()
    uses_segments = _uses_segment_ids(hf_model)
    names = ["input_ids", "attention_mask", *(["token_type_ids"] if uses_segments else [])]
    # Trace on real token ids (all-ones would be all padding for RoBERTa, and segment id 1 does not exist
    # where type_vocab_size is 1).
    encoded = reference.tokenizer.encode(_PROBE_TEXTS[:2], max_length=reference.model_config.max_length, truncation="head")
    length = max(len(ids) for ids in encoded.token_ids)
    example = {name: torch.zeros((2, length), dtype=torch.long) for name in names}
    example["input_ids"].fill_(reference.tokenizer.pad_token_id)
    for row, ids in enumerate(encoded.token_ids):
        example["input_ids"][row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
        example["attention_mask"][row, : len(ids)] = 1
    dynamic = {name: {0: "batch", 1: "sequence"} for name in names}

    class _Logits(torch.nn.Module):  # positional inputs in a fixed order, logits out
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return self.inner(**dict(zip(names, inputs))).logits

    target = path / ONNX_FILE
    tmp = path / f".{ONNX_FILE}.tmp"
    with torch.no_grad():
        torch.onnx.export(
            _Logits(hf_model), tuple(example[name] for name in names), str(tmp), input_names=names, output_names=["logits"],
            dynamic_axes={**dynamic, "logits": {0: "batch"}}, opset_version=_OPSET, dynamo=False,
        )
    tmp.replace(target)
    texts = list(sample_texts) if sample_texts is not None else _PROBE_TEXTS
    expected = reference.predict_logits(texts)
    report = {"files": [ONNX_FILE], "num_sample_texts": len(texts)}
    report["float32_max_logit_difference"] = float(np.abs(OnnxClassifier.from_dir(path).predict_logits(texts) - expected).max())
    if report["float32_max_logit_difference"] > 1e-3:
        raise RuntimeError(
            f"The exported graph's logits differ from textfit's by {report['float32_max_logit_difference']:.2g}; the export is "
            "not faithful. Please report it with the model's config.json."
        )
    if quantize == "int8":
        quantization = _require("onnxruntime.quantization")
        tmp = path / f".{INT8_FILE}.tmp"
        reduce_range = not _cpu_has_vnni()
        # Per-channel scales (one per output unit) keep int8 labels with float32: on tweets with MiniLM, 97.7 % of
        # labels agreed with one scale per matrix, 99.3 % per channel. Weight matrices only (MatMul, and the head's
        # Gemm, which onnxruntime rewrites as MatMul): the attention's activation products stay float32. Keeping
        # the head float32 changed no label there, so it is quantized too. Without VNNI instructions
        # onnxruntime's uint8 x int8 kernels can saturate, so weights take 7 bits there (reduce_range).
        quantization.quantize_dynamic(
            str(target), str(tmp), weight_type=quantization.QuantType.QInt8, per_channel=True, reduce_range=reduce_range,
            op_types_to_quantize=["MatMul"],
        )
        tmp.replace(path / INT8_FILE)
        report["files"].append(INT8_FILE)
        report["int8_scheme"] = "per-channel int8 weights" + (", 7-bit (this CPU has no VNNI)" if reduce_range else "")
        quantized = OnnxClassifier.from_dir(path, file=INT8_FILE).predict_logits(texts)
        report.update(_drift(reference, expected, quantized))
    return report


def _cpu_has_vnni() -> bool:
    """Whether this CPU has VNNI (int8 dot products without the 16-bit saturation of older AVX2/AVX512 kernels)."""
    from textfit.models.precision import cpu_flags

    return bool(cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"})


def _uses_segment_ids(hf_model) -> bool:
    import inspect

    forward = inspect.signature(hf_model.forward).parameters
    return "token_type_ids" in forward and getattr(hf_model.config, "type_vocab_size", 0) not in (0, None)


def _drift(reference, expected: np.ndarray, quantized: np.ndarray) -> dict:
    if reference.task == REGRESSION:
        return {"int8_max_value_difference": float(np.abs(quantized - expected).max())}
    activation = sigmoid if reference.task == MULTI_LABEL else softmax
    p, q = activation(expected), activation(quantized)
    if reference.task == MULTI_LABEL:
        agreement = float(np.mean((p >= 0.5) == (q >= 0.5)))
    else:
        agreement = float(np.mean(p.argmax(-1) == q.argmax(-1)))
    return {"int8_label_agreement": agreement, "int8_max_probability_difference": float(np.abs(p - q).max())}


class OnnxClassifier:
    """A saved textfit model predicted with onnxruntime: the same outputs as ``TextClassifier`` on the same texts.

    Args:
        session: the onnxruntime ``InferenceSession``.
        tokenizer, label_map, hf_config, model_config, task, thresholds: as the saved model's.

    Example:
        >>> model = OnnxClassifier.from_dir("sentiment-model", file="model.int8.onnx")
        >>> model.predict(["a great film"])
        ['pos']
    """

    def __init__(self, session, *, tokenizer: Tokenizer, label_map: LabelMap, hf_config: dict, model_config, task: str,
                 thresholds: np.ndarray):
        self.session = session
        self.tokenizer = tokenizer
        self.label_map = label_map
        self.hf_config = hf_config
        self.model_config = model_config
        self.task = task
        self._thresholds = thresholds
        self._inputs = [item.name for item in session.get_inputs()]
        self.precision = ("float32", "onnxruntime")

    # What one more onnxruntime call costs, counted in tokens: prediction batches are cut where padding plus
    # this is least (sorted_batches). MiniLM int8 on 2 cores: ~1.2 ms a call, ~0.05 ms a token.
    batch_overhead_tokens = 24

    @classmethod
    def from_dir(cls, model_dir, *, file: str = ONNX_FILE, spin_wait: bool = True) -> "OnnxClassifier":
        """Load ``file`` (``model.onnx`` or ``model.int8.onnx``) of a folder written by ``export_onnx``.

        ``spin_wait=False`` lets onnxruntime's threads sleep between calls instead of spinning: a server
        needs those cores for HTTP and tokenizing between micro-batches (measured on 2 cores: 7.9 -> 5.6
        CPU ms per request); bulk prediction is ~3 % faster spinning.
        """
        from textfit.hf.convert import _saved_labels, read_textfit_file
        from textfit.models.classifier import ModelConfig

        runtime = _require("onnxruntime")
        path = Path(model_dir).expanduser().resolve()
        if not (path / file).is_file():
            raise FileNotFoundError(f"{path / file} does not exist. Export it first: textfit export --model {path} --format onnx"
                                    + (" --quantize int8" if file == INT8_FILE else "") + ".")
        hf_config = hf_folder.read_config(path)
        labels = _saved_labels(hf_config)
        if labels is None:
            raise ValueError(f"{path} holds no classification head (no id2label).")
        record = read_textfit_file(path)
        saved_config = record.get("model_config", {})
        fields = {f.name for f in dataclasses.fields(ModelConfig)}
        model_config = ModelConfig(**{k: v for k, v in saved_config.items() if k in fields})
        if model_config.truncation == "auto":
            model_config = dataclasses.replace(model_config, truncation="head")
        task = task_from_problem_type(hf_config.get("problem_type")) or ("regression" if len(labels) == 1 else "single_label")
        thresholds = np.array([record.get("thresholds", {}).get(label, 0.5) for label in labels], dtype=np.float32)
        options = runtime.SessionOptions()
        options.graph_optimization_level = runtime.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not spin_wait:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = runtime.InferenceSession(str(path / file), options, providers=["CPUExecutionProvider"])
        return cls(session, tokenizer=Tokenizer.from_dir(path), label_map=LabelMap(labels), hf_config=hf_config,
                   model_config=model_config, task=task, thresholds=thresholds)

    # === What the predict/evaluate/serve code asks of a model ===
    @property
    def labels(self) -> tuple[str, ...]:
        return self.label_map.labels

    @property
    def num_classes(self) -> int:
        return self.label_map.num_classes

    @property
    def thresholds(self) -> dict[str, float]:
        return {label: float(t) for label, t in zip(self.labels, self._thresholds)}

    def encode_texts(self, texts, text_pairs=None):
        config = self.model_config
        return self.tokenizer.encode(texts, text_pairs, max_length=config.max_length, truncation=config.truncation,
                                     chunk_overlap=config.chunk_overlap, max_chunks=config.max_chunks)

    def _run(self, inputs: dict) -> np.ndarray:
        feed = {"input_ids": inputs["token_ids"], "attention_mask": inputs["padding_mask"], "token_type_ids": inputs["segment_ids"]}
        return self.session.run(["logits"], {name: feed[name].astype(np.int64) for name in self._inputs})[0]

    def iter_logits(self, x, batch_size: int = 64):
        """(example indices, logits) batch by batch, like ``TextClassifier.iter_logits``."""
        from textfit.models.classifier import stream_logits

        yield from stream_logits(self, x, self._run, batch_size)

    def predict_logits(self, x, batch_size: int = 64) -> np.ndarray:
        num_examples = 1 if isinstance(x, str) else len(x)
        logits = np.empty((num_examples, self.num_classes), dtype=np.float32)
        for indices, batch_logits in self.iter_logits(x, batch_size):
            logits[indices] = batch_logits
        return logits

    def predict_proba(self, x, batch_size: int = 64):
        from textfit.models.classifier import probability_rows

        if self.task == REGRESSION:
            raise ValueError("A regression model predicts numbers, not probabilities: use predict(texts).")
        return probability_rows(self, x, self.predict_logits(x, batch_size))

    def predict(self, x, batch_size: int = 64):
        from textfit.models.classifier import predictions_from_logits

        return predictions_from_logits(self, x, self.predict_logits(x, batch_size), self._thresholds)
