"""TextClassifier: a pretrained encoder plus a classification head, as one Keras model.

Workflow: ``from_pretrained`` -> ``compile`` -> ``fit`` -> ``evaluate`` -> ``save_pretrained``
-> ``from_pretrained`` -> ``predict``. Raw strings go straight into fit/evaluate/predict;
tokenization and per-batch padding happen inside. The model knows nothing of Hugging Face names
(``hf/convert.py``) or of how training is orchestrated (``training/fit.py``).
"""

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from textfit.data.batches import TextBatches
from textfit.data.labels import LabelMap
from textfit.data.inputs import encode_targets, is_single, is_text_input, sigmoid, softmax, split_texts
from textfit.data.labels import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from textfit.data.tokenizer import TRUNCATIONS, Tokenizer
from textfit.models.precision import PRECISIONS
from textfit.training import distributed
from textfit.hf import convert
from textfit.hf.convert import LoadReport
from textfit.models import get_family
from textfit.training import fit as fitting
from textfit.training.guards import GUARD_MODES
from textfit.training.schedule import default_optimizer

_PREDICT_BATCH_SIZE = 64


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """How the classifier reads text and builds its head.

    Args:
        max_length: tokens per example (special tokens included); longer texts are truncated.
            None: the saved model's, else 128 (or the model's positions, if fewer).
        dropout: dropout before the head; None uses the checkpoint's ``classifier_dropout``
            or ``hidden_dropout_prob``, as transformers does.
        num_labels: the number of labels the data must have (a check; None: any).
        truncation: what a text longer than ``max_length`` keeps: "head", "tail", "head+tail"
            (a quarter from the start, the rest from the end), "chunks" (windows, pooled) or "auto"
            (decided on the training data: head+tail when more than 10 % of the texts are cut, else
            head). Training, evaluation and prediction use the same; it is saved with the model.
        chunk_overlap: tokens shared by consecutive windows ("chunks"; default a quarter of a window).
        max_chunks: windows read per text at most ("chunks").
        chunk_pooling: how window logits make a text's ("chunks"): "mean", or "max" (any window
            decides: "this mail is spam if any part is").
        precision: "float32", "bfloat16" (mixed: float32 weights, optimizer and loss, bfloat16
            matmuls) or "auto" (see ``models/precision.py``). Saved as asked: "auto" decides again
            on each machine that loads the model.

    Example:
        >>> ModelConfig(max_length=64, truncation="head+tail")
    """

    max_length: int | None = field(
        default=None, metadata={"help": "Tokens per example; longer texts are truncated. Default: the saved model's, else 128."}
    )
    dropout: float | None = field(default=None, metadata={"help": "Dropout before the head (default: the checkpoint's)."})
    num_labels: int | None = field(
        default=None, metadata={"help": "Expected number of labels; training stops if the data has another count."}
    )
    truncation: str = field(
        default="auto",
        metadata={"help": "What a long text keeps: head, tail, head+tail, chunks (windows, pooled), or auto (head+tail "
                          "when over 10% of training texts are cut, else head).", "choices": ("auto", *TRUNCATIONS)},
    )
    chunk_overlap: int | None = field(default=None, metadata={"help": "Tokens shared by consecutive windows (chunks)."})
    max_chunks: int = field(default=8, metadata={"help": "Windows read per text at most (chunks)."})
    chunk_pooling: str = field(
        default="mean", metadata={"help": "How window logits make a text's (chunks): mean, or max.", "choices": ("mean", "max")}
    )
    precision: str = field(
        default="auto",
        metadata={"help": "float32, bfloat16 (mixed: float32 weights and loss), or auto: bfloat16 where the CPU has fast "
                          "bfloat16 units (AMX, AVX512-BF16) and the model is wide enough, else float32.",
                  "choices": PRECISIONS},
    )

    def __post_init__(self):
        if self.truncation not in ("auto", *TRUNCATIONS):
            raise ValueError(f"truncation must be one of {('auto', *TRUNCATIONS)}. Received: truncation={self.truncation!r}")
        if self.chunk_pooling not in ("mean", "max"):
            raise ValueError(f"chunk_pooling must be mean or max. Received: chunk_pooling={self.chunk_pooling!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}. Received: precision={self.precision!r}")
        if not isinstance(self.max_chunks, int) or self.max_chunks < 1:
            raise ValueError(f"max_chunks must be an integer >= 1. Received: max_chunks={self.max_chunks!r}")
        if self.max_length is not None and (not isinstance(self.max_length, int) or self.max_length < 3):
            raise ValueError(f"max_length must be an integer >= 3. Received: max_length={self.max_length}")
        if self.num_labels is not None and (not isinstance(self.num_labels, int) or self.num_labels < 2):
            raise ValueError(f"num_labels must be an integer >= 2. Received: num_labels={self.num_labels!r}")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1). Received: dropout={self.dropout}")


class TextClassifier(keras.Model):
    """A transformer encoder with a classification head that outputs logits.

    Build it with ``TextClassifier.from_pretrained``; any family in ``textfit.models.FAMILIES``
    loads. The head ends in a Dense with no activation (``logits``), so the default loss is
    ``from_logits=True``; softmax is applied only in ``predict_proba``.

    Args:
        backbone: the encoder, from the family's ``build_backbone`` (token ids -> hidden states).
        head: the ``ClassificationHead`` (hidden states -> logits).
        tokenizer: the checkpoint's ``Tokenizer``.
        label_map: label strings in id order.
        hf_config: the checkpoint's config.json, kept to write it back on save.
        model_config: ``ModelConfig``.
        seed: seed of the head's initial weights, the dropout layers and ``fit``'s default seed.

    Example:
        >>> model = TextClassifier.from_pretrained("models/minilm", labels=["neg", "pos"])
        >>> model.compile()
        >>> model.fit(["great", "awful"], ["pos", "neg"], epochs=1, batch_size=32)
        >>> model.predict(["a great film"])
        ['pos']
    """

    # What one more eager model call costs in prediction, counted in tokens: batches are cut where padding plus
    # this is least (sorted_batches). MiniLM on 2 cores: ~15 ms of layer calls a batch, ~0.08 ms a token (bfloat16).
    batch_overhead_tokens = 128

    def __init__(self, *, backbone, head, tokenizer: Tokenizer, label_map: LabelMap, hf_config: dict, model_config: ModelConfig,
                 seed: int = 0, task: str = SINGLE_LABEL, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.head = head
        # Plain-Python state, kept out of Keras' variable tracking.
        self._textfit_state = {
            "tokenizer": tokenizer,
            "label_map": label_map,
            "hf_config": dict(hf_config),
            "model_config": model_config,
            "seed": seed,
            "load_report": None,
            "logits_guard": "raise",
            "task": task,
            "thresholds": np.full(label_map.num_classes, 0.5, dtype=np.float32),
        }

    # === Properties ===
    @property
    def tokenizer(self) -> Tokenizer:
        return self._textfit_state["tokenizer"]

    @property
    def label_map(self) -> LabelMap:
        return self._textfit_state["label_map"]

    @property
    def labels(self) -> tuple[str, ...]:
        return self.label_map.labels

    @property
    def num_classes(self) -> int:
        return self.label_map.num_classes

    @property
    def model_config(self) -> ModelConfig:
        return self._textfit_state["model_config"]

    @property
    def hf_config(self) -> dict:
        return dict(self._textfit_state["hf_config"])

    @property
    def load_report(self) -> LoadReport | None:
        return self._textfit_state["load_report"]

    @property
    def training_history(self) -> dict | None:
        """Per-step loss, accuracy and learning rate, and per-epoch logs, of the last ``fit``."""
        recorder = self._textfit_state.get("training_history")
        return recorder.to_dict() if recorder is not None else None

    @property
    def family(self):
        return get_family(self._textfit_state["hf_config"].get("model_type"))

    @property
    def task(self) -> str:
        """"single_label", "multi_label" or "regression"."""
        return self._textfit_state["task"]

    @property
    def precision(self) -> tuple[str, str]:
        """(precision computed in, why): ("bfloat16", "auto: this CPU's avx512_bf16 units ...")."""
        return self._textfit_state.get("precision", ("float32", "default"))

    @property
    def thresholds(self) -> dict[str, float]:
        """Multi-label: the probability at or above which each label is predicted (0.5 unless tuned)."""
        return {label: float(t) for label, t in zip(self.labels, self._textfit_state["thresholds"])}

    def set_thresholds(self, thresholds) -> None:
        """Set per-label thresholds: a dict label -> threshold, or one value per label in label order."""
        if isinstance(thresholds, dict):
            unknown = sorted(set(thresholds) - set(self.labels))
            if unknown:
                raise ValueError(f"Thresholds for labels the model does not know: {unknown}. Labels: {list(self.labels)}.")
            thresholds = [thresholds.get(label, 0.5) for label in self.labels]
        values = np.asarray(thresholds, dtype=np.float32)
        if values.shape != (self.num_classes,) or not np.all((values > 0) & (values < 1)):
            raise ValueError(f"Expected {self.num_classes} thresholds in (0, 1), one per label. Received: {thresholds!r}")
        self._textfit_state["thresholds"] = values

    def tune_thresholds(self, x, y, batch_size: int = _PREDICT_BATCH_SIZE) -> dict[str, float]:
        """Multi-label: set each label's threshold to the one maximising its F1 on ``(x, y)`` (validation data).

        Example:
            >>> model.tune_thresholds(validation_texts, validation_label_sets)
            {'politics': 0.41, 'sports': 0.63}
        """
        from textfit.evaluation.task_metrics import tune_thresholds

        if self.task != MULTI_LABEL:
            raise ValueError(f"Thresholds are for multi-label models; this one is {self.task}.")
        targets = encode_targets(y, self.label_map, self.task)
        probabilities = sigmoid(self.predict_logits(x, batch_size))
        self.set_thresholds(tune_thresholds(targets, probabilities))
        return self.thresholds

    @property
    def logits_layer(self) -> keras.layers.Dense:
        """The final Dense of the head (no activation): what the logits guard inspects."""
        return self.head.logits

    @property
    def head_is_new(self) -> bool:
        """True when the logits layer was not loaded from the checkpoint and has not been trained since."""
        if self._textfit_state.get("head_trained"):
            return False
        report = self.load_report
        return report is None or any(row.hf_name in report.newly_initialized for row in self.head.weight_rows()[1])

    def call(self, inputs, training=False):
        sequence = self.backbone(inputs["token_ids"], inputs["segment_ids"], inputs["padding_mask"], training=training)
        return self.head(sequence, inputs["padding_mask"], training=training)  # (batch, num_classes) logits

    def train_step(self, *args):
        # torch: train_step(data); JAX: train_step(state, data).
        if distributed.active():  # this rank's examples weigh its gradients in the all-reduce
            self._textfit_state["local_examples"] = float(keras.tree.flatten(args[-1][0])[0].shape[0])
        return super().train_step(*args)

    def get_metrics_result(self):
        """The metrics for the logs; summed over ranks in data-parallel training, so every rank logs the global values."""
        if not distributed.active():
            return super().get_metrics_result()
        summed = distributed.sum_over_ranks([variable.value for variable in self.metrics_variables])
        from keras.src.backend.common.stateless_scope import StatelessScope

        with StatelessScope(state_mapping=list(zip(self.metrics_variables, summed))):
            return super().get_metrics_result()

    def features(self, inputs, training=False):
        """The vector the head's ``logits`` Dense reads, for a batch of token arrays: (batch, features)."""
        sequence = self.backbone(inputs["token_ids"], inputs["segment_ids"], inputs["padding_mask"], training=training)
        return self.head.features(sequence, inputs["padding_mask"], training=training)

    def predict_features(self, x, batch_size: int = _PREDICT_BATCH_SIZE) -> np.ndarray:
        """``features`` of texts (or pairs), float32, in input order; chunked texts get their windows' mean."""
        texts, text_pairs, _ = split_texts(x)
        encoded = self.encode_texts(texts, text_pairs)
        batches = TextBatches(encoded, batch_size=batch_size, shuffle=False, pad_token_id=self.tokenizer.pad_token_id)
        rows = None
        with _no_gradients():
            for index in range(len(batches)):
                (inputs,) = batches[index]
                values = np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(self.features(inputs), "float32")))
                if rows is None:
                    rows = np.empty((len(encoded), values.shape[1]), dtype=np.float32)
                rows[batches.batch_indices[index]] = values
        if encoded.example_index is None:
            return rows
        return pool_windows(rows, encoded.example_index, len(texts), "mean")

    # === Loading ===
    @classmethod
    def from_pretrained(
        cls,
        checkpoint_dir,
        *,
        labels=None,
        num_labels: int | None = None,
        max_length: int | None = None,
        dropout: float | None = None,
        seed: int = 0,
        task: str | None = None,
        truncation: str | None = None,
        chunk_overlap: int | None = None,
        max_chunks: int | None = None,
        chunk_pooling: str | None = None,
        precision: str | None = None,
    ) -> "TextClassifier":
        """Load an encoder from a local Hugging Face folder and attach a classification head.

        Use it both to start fine-tuning (a new head for ``labels``) and to reload a
        classifier saved by ``save_pretrained`` or transformers (head and labels restored).
        Logs which weights are newly initialised and which checkpoint tensors went unused;
        ``model.load_report`` holds the same lists.

        Args:
            checkpoint_dir: a Hugging Face folder: config.json, the weights (model.safetensors, or
                pytorch_model.bin read with torch's weights-only loader) and the tokenizer files
                (tokenizer.json, vocab.txt, vocab.json + merges.txt, or a SentencePiece model).
            labels: label names in id order; a new head is made unless they equal the saved ones.
            num_labels: number of classes when label names don't matter (``LABEL_0``...).
            max_length: tokens per example; default: the saved model's, else 128 (capped by the positions).
            dropout: dropout before the head; default: the checkpoint's.
            seed: seed of the new head and of dropout.
            task: "single_label", "multi_label" (one sigmoid per label) or "regression" (one number);
                default: the saved head's ``problem_type`` when it is kept, else single-label.
            truncation, chunk_overlap, max_chunks, chunk_pooling: how long texts are read (see
                ``ModelConfig``); default: the saved model's, else "auto" (settled by ``fit``).
            precision: "auto" (default), "float32" or "bfloat16"; see ``ModelConfig``.

        Returns:
            A built ``TextClassifier``.

        Example:
            >>> model = TextClassifier.from_pretrained(textfit.default_model_dir(), labels=["neg", "pos"])
            >>> model.load_report.newly_initialized
            ('classifier.weight', 'classifier.bias')
        """
        return convert.load_classifier(
            cls, checkpoint_dir, labels=labels, num_labels=num_labels, max_length=max_length, dropout=dropout, seed=seed,
            task=task, truncation=truncation, chunk_overlap=chunk_overlap, max_chunks=max_chunks, chunk_pooling=chunk_pooling,
            precision=precision,
        )

    def build_variables(self) -> None:
        """Create every weight by calling the model once on a dummy batch."""
        dummy = np.zeros((1, 2), dtype=np.int32)
        self({"token_ids": dummy, "segment_ids": dummy, "padding_mask": np.ones_like(dummy)})

    # === Training ===
    def compile(
        self,
        optimizer="auto",
        loss="auto",
        metrics="auto",
        *,
        learning_rate: float = 5e-5,
        weight_decay: float = 0.01,
        warmup_fraction: float = 0.1,
        logits_guard: str = "raise",
        **kwargs,
    ):
        """Configure training; with no arguments, the right defaults for fine-tuning.

        ``"auto"`` gives AdamW (weight decay 0.01, none on biases and LayerNorm) with linear
        warmup over ``warmup_fraction`` of the steps then linear decay to zero, and the loss and
        metric of the task: ``SparseCategoricalCrossentropy(from_logits=True)`` and accuracy
        (single-label), ``BinaryCrossentropy(from_logits=True)`` and per-label accuracy
        (multi-label), mean squared error and MAE (regression; ``loss="huber"`` for Huber). Anything
        else is passed to ``keras.Model.compile`` unchanged, so Keras optimizers, losses and metrics work.

        ``fit`` checks that the loss matches the logits head before its first step: a loss that
        assumes probabilities (``from_logits=False``, or a string such as
        ``"sparse_categorical_crossentropy"``) raises a ``ValueError`` with the fix.
        ``logits_guard="warn"`` turns that into a warning, ``"off"`` skips it.

        Example:
            >>> model.compile()                                   # defaults
            >>> model.compile(learning_rate=1e-4)                 # default optimizer, other peak rate
            >>> model.compile(optimizer=keras.optimizers.Adam(2e-5), metrics=["accuracy"])
        """
        if logits_guard not in GUARD_MODES:
            raise ValueError(f"logits_guard must be one of {GUARD_MODES}. Received: logits_guard={logits_guard!r}")
        self._textfit_state["logits_guard"] = logits_guard
        if optimizer == "auto":
            optimizer = default_optimizer(learning_rate=learning_rate, weight_decay=weight_decay, warmup_fraction=warmup_fraction)
        if loss in ("auto", "huber") or metrics == "auto":
            default_loss, default_metrics = _task_loss_and_metrics(self.task, huber=loss == "huber")
            loss = default_loss if loss in ("auto", "huber") else loss
            metrics = default_metrics if metrics == "auto" else metrics
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        sample_weight=None,
        seed: int | None = None,
        watchdog: bool = True,
        checkpoint_dir=None,
        checkpoint_every: int | None = None,
        keep_checkpoints: int = 2,
        resume="auto",
        time_budget=None,
        early_stopping: int | None = None,
        monitor: str = "auto",
        eval_every: int | None = None,
        keep_best: bool | None = None,
        class_weight=None,
        **kwargs,
    ):
        """Train on raw texts (or pre-tokenized inputs, or a Keras dataset) with ``keras.Model.fit``.

        ``x`` is a list of strings or of (text, pair) tuples; ``y`` holds label strings or
        label ids. Texts are tokenized once, then batched by similar length and padded per
        batch. ``validation_split`` is stratified and seeded (not Keras' tail slice).
        Calls ``compile()`` with the defaults if the model is not compiled yet.

        Args:
            seed: seeds dropout and the data order (default: the seed given to ``from_pretrained``).
            watchdog: watch the first 50 steps for a model that is not learning (``NotLearningWatchdog``).
            checkpoint_dir: save checkpoints here (every ``checkpoint_every`` steps and at each epoch
                end, keeping ``keep_checkpoints``), so an interrupted run can resume exactly.
            resume: "auto" continues from the newest compatible checkpoint in ``checkpoint_dir`` if
                there is one; True requires one; False deletes them and starts over.
            time_budget: seconds (or "10m", "1h30m") the run may take: after timing its first steps,
                a run that would overrun stops early at the last step that fits, its learning-rate
                schedule shortened to end there. An ETA is logged either way.
            early_stopping: stop after this many validation evaluations without improvement of
                ``monitor``, and keep the best weights. Needs validation data.
            monitor: the validation metric judged: "macro_f1" (default for classification),
                "accuracy", "loss" (default for regression), "micro_f1", "mae", "pearson"...
            eval_every: also validate every this many steps (long epochs); default: epoch ends.
            keep_best: restore the weights of the best evaluation when training ends (default: with
                ``early_stopping``). Validation given as texts is evaluated by textfit, so the logs
                hold ``val_macro_f1`` and the task's other metrics too.
            class_weight: {label name or id: weight}, or "balanced" (rare labels weigh more).
            Other arguments: as in ``keras.Model.fit``.

        Returns:
            The Keras ``History``.

        Example:
            >>> history = model.fit(texts, labels, validation_data=(val_texts, val_labels), epochs=2, batch_size=32)
            >>> history.history["val_accuracy"]
            [0.81, 0.86]
        """
        return fitting.fit_classifier(
            self, lambda data, *args, **arguments: super(TextClassifier, self).fit(data, *args, **arguments),
            x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks,
            validation_split=validation_split, validation_data=validation_data, shuffle=shuffle,
            sample_weight=sample_weight, seed=seed, watchdog=watchdog, checkpoint_dir=checkpoint_dir,
            checkpoint_every=checkpoint_every, keep_checkpoints=keep_checkpoints, resume=resume,
            time_budget=time_budget, early_stopping=early_stopping, monitor=monitor, eval_every=eval_every,
            keep_best=keep_best, class_weight=class_weight, **kwargs,
        )

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, **kwargs):
        """``keras.Model.evaluate`` that also takes raw texts and label strings (loss and compiled metrics).

        For accuracy, macro-F1, per-class scores and the confusion matrix, use ``textfit.evaluate``.
        """
        fitting.ensure_compiled(self)
        data = fitting.as_dataset(self, x, y, sample_weight, batch_size or _PREDICT_BATCH_SIZE, shuffle=False, seed=0)
        if isinstance(data, TextBatches):
            return super().evaluate(data, verbose=verbose, **kwargs)
        return super().evaluate(data, y, batch_size=batch_size, verbose=verbose, sample_weight=sample_weight, **kwargs)

    # === Prediction ===
    def encode_texts(self, texts, text_pairs=None):
        """Tokenize as this model reads: its ``max_length`` and truncation strategy."""
        config = self.model_config
        truncation = "head" if config.truncation == "auto" else config.truncation  # auto is settled by fit
        return self.tokenizer.encode(
            texts, text_pairs, max_length=config.max_length, truncation=truncation, chunk_overlap=config.chunk_overlap,
            max_chunks=config.max_chunks,
        )

    def set_truncation(self, truncation: str) -> None:
        """Fix the truncation strategy (``fit`` settles "auto" on the training data)."""
        self._textfit_state["model_config"] = dataclasses.replace(self.model_config, truncation=truncation)

    def iter_logits(self, x, batch_size: int = _PREDICT_BATCH_SIZE):
        """Yield (example indices, logits) batch by batch, texts sorted by length so padding is minimal.

        Use it to stream over many texts without holding every logit; ``predict_logits`` collects them.
        With "chunks" truncation, the windows of every text are predicted first and pooled, and
        one batch of all examples comes out.
        """
        yield from stream_logits(self, x, lambda inputs: np.asarray(self.predict_on_batch(inputs)), batch_size)

    def predict_logits(self, x, batch_size: int = _PREDICT_BATCH_SIZE, verbose=0) -> np.ndarray:
        """Raw logits, shape (num_examples, num_classes), in input order.

        Texts are sorted by length and batched, so padding is minimal. Pre-tokenized inputs
        (a dict of arrays) or a Keras dataset go to ``keras.Model.predict``.
        """
        if not is_text_input(x):
            return np.asarray(super().predict(x, batch_size=batch_size, verbose=verbose))
        num_examples = 1 if isinstance(x, str) else len(x)
        logits = np.empty((num_examples, self.num_classes), dtype=np.float32)
        for indices, batch_logits in self.iter_logits(x, batch_size):
            logits[indices] = batch_logits
        return logits

    def predict_proba(self, x, batch_size: int = _PREDICT_BATCH_SIZE):
        """Label -> probability: a dict for one text, a list of dicts for many.

        Single-label: softmax over the labels (they sum to 1). Multi-label: each label's own sigmoid.
        Regression has no probabilities; use ``predict``.

        Example:
            >>> model.predict_proba("a great film")
            {'neg': 0.03, 'pos': 0.97}
        """
        if self.task == REGRESSION:
            raise ValueError("A regression model predicts numbers, not probabilities: use model.predict(texts).")
        return probability_rows(self, x, self.predict_logits(x, batch_size))

    def predict(self, x, batch_size: int = _PREDICT_BATCH_SIZE, verbose=0):
        """Predictions: one for one text, a list for many.

        Single-label: the label. Multi-label: the list of labels whose probability reaches their
        threshold (see ``thresholds``). Regression: the number, in the training targets' units.

        Example:
            >>> model.predict(["a great film", "dull"])
            ['pos', 'neg']
        """
        return predictions_from_logits(self, x, self.predict_logits(x, batch_size, verbose=verbose), self._textfit_state["thresholds"])

    # === Saving ===
    def describe(self, *, metrics: dict | None = None, configs: dict | None = None) -> dict:
        """What ``save_pretrained`` writes to textfit.json: configs, labels, metrics, backend, versions."""
        from textfit.versions import library_versions

        return {
            "model_config": dataclasses.asdict(self.model_config),
            **(configs or {}),
            "task": self.task,
            "precision": {"used": self.precision[0], "why": self.precision[1]},
            "labels": list(self.labels),
            **({"thresholds": self.thresholds} if self.task == MULTI_LABEL else {}),
            "metrics": metrics,
            "backend": keras.backend.backend(),
            "versions": library_versions(),
        }

    def save_pretrained(
        self,
        output_dir,
        *,
        metrics: dict | None = None,
        configs: dict | None = None,
        extra_files: dict[str, bytes] | None = None,
        carry_over: tuple[str, ...] = (),
    ) -> Path:
        """Write a Hugging Face folder that transformers' ``AutoModelForSequenceClassification`` loads.

        Writes config.json (architectures, id2label, label2id), model.safetensors with HF
        names, the tokenizer files, textfit.json (configs, metrics, library versions),
        metrics.json when ``metrics`` are given, and ``extra_files`` (name -> bytes, e.g. a report).
        Subfolders of a previous ``output_dir`` named in ``carry_over`` are kept (training checkpoints).
        The folder is written to a temporary path and renamed: a failure never leaves a
        half-written model, and a previous model at ``output_dir`` stays until the new one is complete.

        Example:
            >>> model.save_pretrained("out/sentiment", metrics=textfit.evaluate(model, texts, labels))
            PosixPath('/abs/out/sentiment')
        """
        return convert.save_classifier(
            self, output_dir, metrics=metrics, configs=configs, extra_files=extra_files, carry_over=carry_over
        )


def _task_loss_and_metrics(task: str, *, huber: bool = False):
    """The default loss (on logits) and progress-bar metrics of a task."""
    if task == MULTI_LABEL:
        # Each label is its own yes/no: sigmoid cross-entropy; accuracy counts label decisions (logit >= 0).
        return keras.losses.BinaryCrossentropy(from_logits=True), [keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)]
    if task == REGRESSION:
        loss = keras.losses.Huber() if huber else keras.losses.MeanSquaredError()
        return loss, [keras.metrics.MeanAbsoluteError(name="mae")]
    if huber:
        raise ValueError("loss='huber' is for regression; this model is a classifier.")
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True), [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


def stream_logits(model, x, run_batch, batch_size: int):
    """(example indices, logits) batch by batch for ``model`` (a ``TextClassifier`` or an ``OnnxClassifier``).

    Texts are tokenized as the model reads them and sorted by length; ``run_batch`` maps a padded
    batch to its logits. Chunked texts: every window first, then one batch of pooled logits.
    """
    texts, text_pairs, _ = split_texts(x)
    encoded = model.encode_texts(texts, text_pairs)
    batches = TextBatches(encoded, batch_size=batch_size, shuffle=False, pad_token_id=model.tokenizer.pad_token_id,
                          batch_overhead_tokens=model.batch_overhead_tokens)
    if encoded.example_index is None:
        for index in range(len(batches)):
            (inputs,) = batches[index]
            yield batches.batch_indices[index], run_batch(inputs)
        return
    window_logits = np.empty((len(encoded), model.num_classes), dtype=np.float32)
    for index in range(len(batches)):
        (inputs,) = batches[index]
        window_logits[batches.batch_indices[index]] = run_batch(inputs)
    yield np.arange(len(texts)), pool_windows(window_logits, encoded.example_index, len(texts), model.model_config.chunk_pooling)


def probability_rows(model, x, logits: np.ndarray):
    """Label -> probability per example (softmax, or sigmoids for multi-label); one dict when ``x`` is one text."""
    probabilities = sigmoid(logits) if model.task == MULTI_LABEL else softmax(logits)
    rows = [dict(zip(model.labels, map(float, row))) for row in probabilities]
    return rows[0] if is_single(x) else rows


def predictions_from_logits(model, x, logits: np.ndarray, thresholds: np.ndarray):
    """Labels, label sets (at ``thresholds``) or numbers, by the model's task; one value when ``x`` is one text."""
    if model.task == REGRESSION:
        predictions = [float(value) for value in logits[:, 0]]
    elif model.task == MULTI_LABEL:
        chosen = sigmoid(logits) >= thresholds
        predictions = [[label for label, on in zip(model.labels, row) if on] for row in chosen]
    else:
        predictions = model.label_map.decode(logits.argmax(axis=-1))
    return predictions[0] if is_single(x) else predictions


def pool_windows(window_logits: np.ndarray, example_index: np.ndarray, num_examples: int, pooling: str) -> np.ndarray:
    """One row of logits per example from its windows' rows: their mean, or their maximum."""
    pooled = np.full((num_examples, window_logits.shape[1]), -np.inf if pooling == "max" else 0.0, dtype=np.float64)
    if pooling == "max":
        np.maximum.at(pooled, example_index, window_logits)
        return pooled.astype(np.float32)
    np.add.at(pooled, example_index, window_logits)
    counts = np.bincount(example_index, minlength=num_examples)[:, None]
    return (pooled / np.maximum(counts, 1)).astype(np.float32)


def _no_gradients():
    """torch.no_grad() on torch (eager calls would record a graph), nothing elsewhere."""
    if keras.backend.backend() == "torch":
        import torch

        return torch.no_grad()
    import contextlib

    return contextlib.nullcontext()
