"""TextClassifier: a pretrained encoder plus a new classification head, as one Keras model.

Workflow: ``from_pretrained`` -> ``compile`` -> ``fit`` -> ``evaluate`` -> ``save_pretrained``
-> ``from_pretrained`` -> ``predict``. Raw strings go straight into fit/evaluate/predict;
tokenization and per-batch padding happen inside.
"""

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from textfit import atomic
from textfit.hf import folder as hf_folder
from textfit.training import resume as resume_training
from textfit.data.batches import EpochOrder, TextBatches
from textfit.data.examples import Examples, LabelMap, split_examples
from textfit.evaluation.evaluate import cross_entropy
from textfit.training.guards import GUARD_MODES, check_loss_matches_outputs, initial_loss_finding, loss_from_logits
from textfit.training.history import TrainingHistory
from textfit.data.inputs import DEFAULT_BATCH_SIZE, as_list, first_batch, is_single, is_text_input, num_batches, softmax, split_texts
from textfit.models import get_family
from textfit.training.schedule import WarmupThenDecay, default_optimizer
from textfit.training.timing import TimeKeeper, parse_duration
from textfit.data.tokenizer import Tokenizer
from textfit.training.watchdog import NotLearningWatchdog

logger = logging.getLogger("textfit")

TEXTFIT_FILE = "textfit.json"
METRICS_FILE = "metrics.json"
HEAD_WEIGHT, HEAD_BIAS = "classifier.weight", "classifier.bias"
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

    Example:
        >>> ModelConfig(max_length=64)
        ModelConfig(max_length=64, dropout=None, num_labels=None)
    """

    max_length: int | None = field(
        default=None, metadata={"help": "Tokens per example; longer texts are truncated. Default: the saved model's, else 128."}
    )
    dropout: float | None = field(default=None, metadata={"help": "Dropout before the head (default: the checkpoint's)."})
    num_labels: int | None = field(
        default=None, metadata={"help": "Expected number of labels; training stops if the data has another count."}
    )

    def __post_init__(self):
        if self.max_length is not None and (not isinstance(self.max_length, int) or self.max_length < 3):
            raise ValueError(f"max_length must be an integer >= 3. Received: max_length={self.max_length}")
        if self.num_labels is not None and (not isinstance(self.num_labels, int) or self.num_labels < 2):
            raise ValueError(f"num_labels must be an integer >= 2. Received: num_labels={self.num_labels!r}")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1). Received: dropout={self.dropout}")


@dataclass(frozen=True)
class LoadReport:
    """What ``from_pretrained`` did with the checkpoint's tensors (HF names)."""

    loaded: tuple[str, ...]
    newly_initialized: tuple[str, ...]
    unused: tuple[str, ...]


class TextClassifier(keras.Model):
    """A transformer encoder with a classification head that outputs logits.

    Build it with ``TextClassifier.from_pretrained``. The head is dropout + Dense with no
    activation (``logits``), so the default loss is ``from_logits=True``; softmax is applied
    only in ``predict_proba``.

    Args:
        backbone: the encoder layer (e.g. ``BertBackbone``).
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

    def __init__(self, *, backbone, tokenizer: Tokenizer, label_map: LabelMap, hf_config: dict, model_config: ModelConfig, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.head_dropout = keras.layers.Dropout(_head_dropout(hf_config, model_config), seed=seed + 1)
        # HF's initializer: normal(0, initializer_range), zero bias.
        self.logits_layer = keras.layers.Dense(
            label_map.num_classes,
            kernel_initializer=keras.initializers.RandomNormal(stddev=hf_config.get("initializer_range", 0.02), seed=seed),
            name="logits",
        )
        # Plain-Python state, kept out of Keras' variable tracking.
        self._textfit_state = {
            "tokenizer": tokenizer,
            "label_map": label_map,
            "hf_config": dict(hf_config),
            "model_config": model_config,
            "seed": seed,
            "load_report": None,
            "logits_guard": "raise",
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

    def call(self, inputs, training=False):
        outputs = self.backbone(inputs["token_ids"], inputs["segment_ids"], inputs["padding_mask"], training=training)
        pooled = self.head_dropout(outputs["pooled_output"], training=training)
        return self.logits_layer(pooled)  # (batch, num_classes) logits

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
    ) -> "TextClassifier":
        """Load an encoder from a local Hugging Face folder and attach a classification head.

        Use it both to start fine-tuning (a new head for ``labels``) and to reload a
        classifier saved by ``save_pretrained`` or transformers (head and labels restored).
        Logs which weights are newly initialised and which checkpoint tensors went unused;
        ``model.load_report`` holds the same lists.

        Args:
            checkpoint_dir: folder with config.json, model.safetensors, tokenizer.json or vocab.txt.
            labels: label names in id order; a new head is made unless they equal the saved ones.
            num_labels: number of classes when label names don't matter (``LABEL_0``...).
            max_length: tokens per example; default: the saved model's, else 128 (capped by the positions).
            dropout: dropout before the head; default: the checkpoint's.
            seed: seed of the new head and of dropout.

        Returns:
            A built ``TextClassifier``.

        Example:
            >>> model = TextClassifier.from_pretrained(textfit.default_model_dir(), labels=["neg", "pos"])
            >>> model.load_report.newly_initialized
            ('classifier.weight', 'classifier.bias')
        """
        path = hf_folder.check_checkpoint_dir(checkpoint_dir)
        hf_config = hf_folder.read_config(path)
        family = get_family(hf_config.get("model_type"))
        saved = _read_textfit_file(path)
        saved_labels = _saved_labels(hf_config)
        label_map = _choose_labels(path, labels, num_labels, saved_labels)
        positions = hf_config.get("max_position_embeddings", 512)
        default_length = saved.get("model_config", {}).get("max_length", min(128, positions))
        model_config = ModelConfig(max_length=max_length if max_length is not None else default_length, dropout=dropout)
        if model_config.max_length > positions:
            raise ValueError(
                f"max_length={model_config.max_length} exceeds the model's {positions} position embeddings "
                f"(max_position_embeddings in {path / 'config.json'}). Pass max_length <= {positions}."
            )
        tokenizer = Tokenizer.from_dir(path)
        backbone = family.BertBackbone(**family.backbone_kwargs_from_hf_config(hf_config), seed=seed, name="backbone")
        model = cls(backbone=backbone, tokenizer=tokenizer, label_map=label_map, hf_config=hf_config, model_config=model_config, seed=seed)
        model._build_variables()
        reuse_head = saved_labels is not None and saved_labels == label_map.labels
        report = _import_weights(model, hf_folder.read_weights(path), path, reuse_head=reuse_head)
        model._textfit_state["load_report"] = report
        if report.newly_initialized:
            logger.warning(
                "Newly initialised weights (not in %s): %s. Train this model before using it for predictions.",
                path, list(report.newly_initialized),
            )
        if report.unused:
            logger.info("Checkpoint tensors not used by the classifier: %s", list(report.unused))
        return model

    def _build_variables(self) -> None:
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
        warmup over ``warmup_fraction`` of the steps then linear decay to zero,
        ``SparseCategoricalCrossentropy(from_logits=True)`` and accuracy. Anything else is
        passed to ``keras.Model.compile`` unchanged, so Keras optimizers, losses and metrics work.

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
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
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
            Other arguments: as in ``keras.Model.fit``.

        Returns:
            The Keras ``History``.

        Example:
            >>> history = model.fit(texts, labels, validation_data=(val_texts, val_labels), epochs=2, batch_size=32)
            >>> history.history["val_accuracy"]
            [0.81, 0.86]
        """
        seed = self._textfit_state["seed"] if seed is None else seed
        keras.utils.set_random_seed(seed)
        self._ensure_compiled()
        batch_size = batch_size or DEFAULT_BATCH_SIZE
        if validation_split and validation_data is None and is_text_input(x):
            train_examples, validation_examples = split_examples(
                Examples(*split_texts(x)[:2], labels=self.label_map.decode(self.label_map.encode(y))), validation_split, seed=seed
            )
            x, y = train_examples.inputs, train_examples.labels
            validation_data = (validation_examples.inputs, validation_examples.labels)
            validation_split = 0.0
        train_data = self._as_dataset(x, y, sample_weight, batch_size, shuffle=shuffle, seed=seed)
        if isinstance(train_data, TextBatches):
            # TextBatches shuffles (length-bucketed, by epoch); Keras' own shuffle of a PyDataset
            # would reorder the batches with Python's global random state and break exact resume.
            batch_size, sample_weight, shuffle = None, None, False
        if validation_data is not None:
            validation_data = self._as_validation_dataset(validation_data, batch_size or DEFAULT_BATCH_SIZE)
        sample = first_batch(train_data, y, batch_size)
        resume_point = run_fingerprint = None
        if checkpoint_dir is not None:
            if not isinstance(train_data, TextBatches):
                raise ValueError("checkpoint_dir works with texts (or TextBatches) as training data; pass texts and labels to fit.")
            run_fingerprint = resume_training.run_fingerprint(self, train_data, seed=seed, epochs=epochs)
            resume_point = resume_training.prepare(self, train_data, checkpoint_dir, mode=resume, expected=run_fingerprint)
        if resume_point is None:
            self._plan_schedule(train_data, epochs, kwargs.get("steps_per_epoch"), batch_size, kwargs.get("initial_epoch", 0))
            self._check_before_training(sample)
        elif resume_point.schedule_plan is not None:
            self.optimizer._learning_rate.plan(**resume_point.schedule_plan)
            self.train_function = None
        callbacks = list(callbacks or [])
        if isinstance(train_data, TextBatches):
            callbacks.append(EpochOrder(train_data))
        recorder = TrainingHistory()
        if resume_point is not None:
            offset = resume_point.batches_done if resume_point.batches_done < len(train_data) else 0
            recorder = TrainingHistory.from_state(resume_point.history, resume_offset=offset)
        self._textfit_state["training_history"] = recorder
        callbacks.append(recorder)
        if isinstance(train_data, TextBatches):
            callbacks.append(self._time_keeper(train_data, validation_data, epochs, resume_point, time_budget))
        if watchdog and resume_point is None:
            callbacks.append(NotLearningWatchdog(num_classes=self.num_classes, sample_inputs=sample and sample[0]))
        fit_arguments = dict(
            batch_size=batch_size, epochs=epochs, verbose=verbose, validation_split=validation_split,
            validation_data=validation_data, shuffle=shuffle, sample_weight=sample_weight, **kwargs,
        )
        if checkpoint_dir is None:
            return super().fit(train_data, None if isinstance(train_data, TextBatches) else y, callbacks=callbacks, **fit_arguments)
        saver = resume_training.saver_for(
            self, train_data, checkpoint_dir, every_steps=checkpoint_every, keep=keep_checkpoints, fingerprint=run_fingerprint,
        )
        return resume_training.run(
            lambda data, **arguments: super(TextClassifier, self).fit(data, **arguments),
            train_data, resume_point, saver, callbacks=callbacks, **fit_arguments,
        )

    def _time_keeper(self, train_data, validation_data, epochs, resume_point, time_budget) -> TimeKeeper:
        steps_per_epoch = len(train_data)
        steps_done = 0 if resume_point is None else resume_point.epoch * steps_per_epoch + resume_point.batches_done
        validation_examples = len(validation_data.encoded) if isinstance(validation_data, TextBatches) else 0
        return TimeKeeper(
            total_steps=max(1, steps_per_epoch * epochs - steps_done),
            steps_per_epoch=steps_per_epoch,
            validation_examples_per_epoch=validation_examples,
            batch_size=train_data.batch_size,
            time_budget_seconds=None if time_budget is None else parse_duration(time_budget),
            start_step=int(keras.ops.convert_to_numpy(self.optimizer.iterations)),
            batch_tokens=[len(batch) * length for batch, length in zip(train_data.batch_indices, train_data.padded_lengths())],
        )

    def _check_before_training(self, sample) -> None:
        """The logits guard, and the loss of a fresh head at step 0 (should be near ln(num_classes))."""
        sample_inputs = sample[0] if sample else None
        check_loss_matches_outputs(self, sample_inputs, mode=self._textfit_state["logits_guard"])
        report = self.load_report
        head_is_new = report is None or HEAD_WEIGHT in report.newly_initialized
        if sample is None or not head_is_new or loss_from_logits(self.loss) is not True or sample[1] is None:
            return
        logits = keras.ops.convert_to_numpy(self(sample_inputs, training=False))
        finding = initial_loss_finding(cross_entropy(logits, np.asarray(sample[1]).astype(np.int64)), self.num_classes)
        if finding:
            logger.warning(finding)

    def _ensure_compiled(self) -> None:
        if not self.compiled:
            logger.info("Model not compiled: compiling with the defaults (AdamW, warmup then linear decay).")
            self.compile()

    def _plan_schedule(self, train_data, epochs, steps_per_epoch, batch_size, initial_epoch) -> None:
        schedule = getattr(self.optimizer, "_learning_rate", None)
        if not isinstance(schedule, WarmupThenDecay):
            return
        if steps_per_epoch is None:
            steps_per_epoch = num_batches(train_data, batch_size)
        start_step = int(keras.ops.convert_to_numpy(self.optimizer.iterations))
        schedule.plan(start_step=start_step, total_steps=steps_per_epoch * (epochs - initial_epoch))
        # The plan is baked into a compiled (JAX) train step: rebuild it.
        self.train_function = None

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, **kwargs):
        """``keras.Model.evaluate`` that also takes raw texts and label strings (loss and compiled metrics).

        For accuracy, macro-F1, per-class scores and the confusion matrix, use ``textfit.evaluate``.
        """
        self._ensure_compiled()
        data = self._as_dataset(x, y, sample_weight, batch_size or _PREDICT_BATCH_SIZE, shuffle=False, seed=0)
        if isinstance(data, TextBatches):
            return super().evaluate(data, verbose=verbose, **kwargs)
        return super().evaluate(data, y, batch_size=batch_size, verbose=verbose, sample_weight=sample_weight, **kwargs)

    # === Prediction ===
    def iter_logits(self, x, batch_size: int = _PREDICT_BATCH_SIZE):
        """Yield (example indices, logits) batch by batch, texts sorted by length so padding is minimal.

        Use it to stream over many texts without holding every logit; ``predict_logits`` collects them.
        """
        texts, text_pairs, _ = split_texts(x)
        encoded = self.tokenizer.encode(texts, text_pairs, max_length=self.model_config.max_length)
        batches = TextBatches(encoded, batch_size=batch_size, shuffle=False, pad_token_id=self.tokenizer.pad_token_id)
        for index in range(len(batches)):
            (inputs,) = batches[index]
            yield batches.batch_indices[index], np.asarray(self.predict_on_batch(inputs))

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
        """Label -> probability (softmax of the logits): a dict for one text, a list of dicts for many.

        Example:
            >>> model.predict_proba("a great film")
            {'neg': 0.03, 'pos': 0.97}
        """
        probabilities = softmax(self.predict_logits(x, batch_size))
        rows = [dict(zip(self.labels, map(float, row))) for row in probabilities]
        return rows[0] if is_single(x) else rows

    def predict(self, x, batch_size: int = _PREDICT_BATCH_SIZE, verbose=0):
        """Predicted label strings: one string for one text, a list for many.

        Example:
            >>> model.predict(["a great film", "dull"])
            ['pos', 'neg']
        """
        label_ids = self.predict_logits(x, batch_size, verbose=verbose).argmax(axis=-1)
        labels = self.label_map.decode(label_ids)
        return labels[0] if is_single(x) else labels

    # === Saving ===
    def describe(self, *, metrics: dict | None = None, configs: dict | None = None) -> dict:
        """What ``save_pretrained`` writes to textfit.json: configs, labels, metrics, backend, versions."""
        from textfit.versions import library_versions

        return {
            "model_config": dataclasses.asdict(self.model_config),
            **(configs or {}),
            "labels": list(self.labels),
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
        family = self.family
        hf_config = self.hf_config
        hf_config.update(
            architectures=[family.ARCHITECTURE],
            id2label={str(i): label for i, label in enumerate(self.labels)},
            label2id={label: i for i, label in enumerate(self.labels)},
            problem_type="single_label_classification",
        )
        hf_config.pop("num_labels", None)
        tensors = {}
        for variable, hf_name, transform in family.weight_table(self.backbone):
            value = keras.ops.convert_to_numpy(variable)
            tensors[family.WEIGHT_PREFIX + hf_name] = value.T if transform == family.TRANSPOSE else value
        tensors[HEAD_WEIGHT] = keras.ops.convert_to_numpy(self.logits_layer.kernel).T
        tensors[HEAD_BIAS] = keras.ops.convert_to_numpy(self.logits_layer.bias)
        with atomic.atomic_directory(output_dir, carry_over=carry_over) as tmp_dir:
            hf_folder.write_weights(tmp_dir / hf_folder.WEIGHTS_FILE, tensors)
            atomic.write_json(tmp_dir / hf_folder.CONFIG_FILE, hf_config)
            self.tokenizer.save(tmp_dir, max_length=self.model_config.max_length)
            atomic.write_json(tmp_dir / TEXTFIT_FILE, self.describe(metrics=metrics, configs=configs))
            if metrics is not None:
                atomic.write_json(tmp_dir / METRICS_FILE, metrics)
            for name, data in (extra_files or {}).items():
                (tmp_dir / name).write_bytes(data)
        return Path(output_dir).expanduser().resolve()

    # === Input handling ===
    def _as_dataset(self, x, y, sample_weight, batch_size, *, shuffle, seed):
        if not is_text_input(x):
            return x  # pre-tokenized arrays or a Keras-compatible dataset: Keras handles it
        if y is None:
            raise ValueError("Received texts without labels. Pass y=labels (label strings or ids).")
        texts, text_pairs, _ = split_texts(x)
        label_ids = self.label_map.encode(as_list(y))
        if len(label_ids) != len(texts):
            raise ValueError(f"Received {len(texts)} texts but {len(label_ids)} labels; pass one label per text.")
        encoded = self.tokenizer.encode(texts, text_pairs, max_length=self.model_config.max_length)
        return TextBatches(
            encoded, label_ids, batch_size=batch_size, shuffle=shuffle, seed=seed,
            pad_token_id=self.tokenizer.pad_token_id, sample_weights=sample_weight,
        )

    def _as_validation_dataset(self, validation_data, batch_size):
        if isinstance(validation_data, tuple) and len(validation_data) in (2, 3) and is_text_input(validation_data[0]):
            weights = validation_data[2] if len(validation_data) == 3 else None
            return self._as_dataset(validation_data[0], validation_data[1], weights, batch_size, shuffle=False, seed=0)
        return validation_data


def _head_dropout(hf_config: dict, model_config: ModelConfig) -> float:
    if model_config.dropout is not None:
        return model_config.dropout
    classifier_dropout = hf_config.get("classifier_dropout")
    return classifier_dropout if classifier_dropout is not None else hf_config.get("hidden_dropout_prob", 0.1)


def _read_textfit_file(path: Path) -> dict:
    textfit_path = path / TEXTFIT_FILE
    return hf_folder.read_json(textfit_path) if textfit_path.is_file() else {}


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


def _import_weights(model: TextClassifier, tensors: dict, path: Path, *, reuse_head: bool) -> LoadReport:
    family = model.family
    by_name = {family.normalize_hf_name(name): name for name in tensors}
    loaded, newly_initialized, missing, mismatched = [], [], [], []
    used = set()
    for variable, hf_name, transform in family.weight_table(model.backbone):
        if hf_name not in by_name:
            if hf_name.startswith(family.OPTIONAL_PREFIXES):
                newly_initialized.append(family.WEIGHT_PREFIX + hf_name)
            else:
                missing.append(hf_name)
            continue
        original = by_name[hf_name]
        value = tensors[original]
        value = value.T if transform == family.TRANSPOSE else value
        if tuple(value.shape) != tuple(variable.shape):
            mismatched.append(f"{original}: checkpoint {tuple(tensors[original].shape)}, model expects "
                              f"{tuple(variable.shape[::-1]) if transform == family.TRANSPOSE else tuple(variable.shape)}")
            continue
        variable.assign(value.astype(variable.dtype))
        loaded.append(original)
        used.add(original)
    if missing or mismatched:
        lines = [f"missing {name}" for name in missing[:10]] + mismatched[:10]
        raise ValueError(
            f"{path / hf_folder.WEIGHTS_FILE} does not match its config.json: " + "; ".join(lines)
            + (" ..." if len(missing) + len(mismatched) > 20 else "")
            + ". The weights are incomplete or belong to another model; copy the checkpoint again."
        )
    head_kernel, head_bias = tensors.get(HEAD_WEIGHT), tensors.get(HEAD_BIAS)
    if reuse_head and head_kernel is not None and head_bias is not None and head_kernel.shape == (model.num_classes, model.logits_layer.kernel.shape[0]):
        model.logits_layer.kernel.assign(head_kernel.T.astype("float32"))
        model.logits_layer.bias.assign(head_bias.astype("float32"))
        loaded += [HEAD_WEIGHT, HEAD_BIAS]
        used |= {HEAD_WEIGHT, HEAD_BIAS}
    else:
        newly_initialized += [HEAD_WEIGHT, HEAD_BIAS]
    ignored = {name for name in tensors if family.normalize_hf_name(name) in family.IGNORED_TENSORS}
    unused = sorted(set(tensors) - used - ignored)
    return LoadReport(tuple(loaded), tuple(newly_initialized), tuple(unused))
