"""What ``TextClassifier.fit`` does around ``keras.Model.fit``.

Raw texts become length-bucketed batches; a stratified validation split replaces Keras' tail
slice; the learning-rate schedule is planned from the data; the logits guard and the
initial-loss check run before the first step; the history recorder, the ETA/time budget and the
not-learning watchdog ride along as callbacks; checkpoints make the run resumable.
"""

import logging
import time

import keras
import numpy as np

from textfit.data.batches import EpochOrder, TextBatches
from textfit.data.examples import split_indices
from textfit.data.labels import MULTI_LABEL, REGRESSION, SINGLE_LABEL, strata
from textfit.data.inputs import DEFAULT_BATCH_SIZE, as_list, encode_targets, first_batch, is_text_input, num_batches, split_texts, text_batches
from textfit.evaluation.evaluate import cross_entropy, evaluate
from textfit.evaluation.task_metrics import binary_cross_entropy
from textfit.training import distributed
from textfit.training import resume as resume_training
from textfit.training.guards import check_loss_matches_outputs, initial_loss_finding, loss_from_logits
from textfit.training.early_stopping import ValidationMonitor, default_monitor
from textfit.training.history import TrainingHistory
from textfit.training.schedule import WarmupThenDecay
from textfit.training.timing import HonestProgbarLogger, TimeKeeper, parse_duration
from textfit.training.watchdog import NotLearningWatchdog

logger = logging.getLogger("textfit")


def fit_classifier(
    model,
    keras_fit,
    x=None,
    y=None,
    *,
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
    """Train ``model`` (a ``TextClassifier``) with ``keras_fit`` (``keras.Model.fit`` bound to it).

    The arguments are those of ``TextClassifier.fit``.
    """
    started = time.perf_counter()  # a time budget counts from here: tokenizing and the checks take time too
    seed = model._textfit_state["seed"] if seed is None else seed
    keras.utils.set_random_seed(seed)
    ensure_compiled(model)
    parallel = distributed.init_from_env()
    if parallel:
        distributed.make_data_parallel(model)
        if not distributed.is_main():
            verbose = 0  # one progress bar: rank 0's
    batch_size = batch_size or DEFAULT_BATCH_SIZE
    if validation_split and validation_data is None and is_text_input(x):
        x, y, sample_weight, validation_data = split_off_validation(model, x, y, sample_weight, validation_split, seed)
        validation_split = 0.0
    if model.model_config.truncation == "auto" and is_text_input(x):
        settle_truncation(model, x)
    train_data = as_dataset(model, x, y, sample_weight, batch_size, shuffle=shuffle, seed=seed)
    if parallel:
        if not isinstance(train_data, TextBatches):
            raise ValueError("Data-parallel training takes texts (or TextBatches) as training data; pass texts and labels to fit.")
        train_data.set_shard(distributed.rank(), distributed.world_size())
    if isinstance(train_data, TextBatches):
        # TextBatches shuffles (length-bucketed, by epoch); Keras' own shuffle of a PyDataset
        # would reorder the batches with Python's global random state and break exact resume.
        batch_size, sample_weight, shuffle = None, None, False
    validation_monitor = None
    keep_best = early_stopping is not None if keep_best is None else keep_best
    if early_stopping is not None and (not isinstance(early_stopping, int) or early_stopping < 1):
        raise ValueError(f"early_stopping is a patience in evaluations, an integer >= 1. Received: early_stopping={early_stopping!r}")
    if eval_every is not None and (not isinstance(eval_every, int) or eval_every < 1):
        raise ValueError(f"eval_every must be an integer >= 1 (steps). Received: eval_every={eval_every!r}")
    if _texts_and_labels(validation_data):
        # textfit validates (all of the task's metrics in one pass) instead of Keras, which knows only loss/accuracy.
        validation_texts, validation_labels = validation_data
        validation_monitor = ValidationMonitor(
            lambda: evaluate(model, validation_texts, validation_labels, batch_size=max(batch_size or DEFAULT_BATCH_SIZE, 64)),
            monitor=default_monitor(model.task) if monitor == "auto" else monitor,
            patience=early_stopping, eval_every=eval_every, restore_best=keep_best,
        )
        validation_examples = len(validation_texts)
        validation_data = None
    elif validation_data is not None:
        validation_data = as_validation_dataset(model, validation_data, batch_size or DEFAULT_BATCH_SIZE)
        validation_examples = len(validation_data.encoded) if isinstance(validation_data, TextBatches) else 0
        if early_stopping is not None or keep_best:
            validation_monitor = ValidationMonitor(
                None, monitor="loss" if monitor == "auto" else monitor, patience=early_stopping, restore_best=keep_best,
            )
    else:
        validation_examples = 0
        if early_stopping is not None:
            raise ValueError("early_stopping needs validation data: pass validation_data=(texts, labels) or validation_split.")
    if class_weight is not None:
        class_weight = class_weights(model, class_weight, train_data)
    sample = first_batch(train_data, y, batch_size)
    resume_point = run_fingerprint = None
    if checkpoint_dir is not None:
        if not isinstance(train_data, TextBatches):
            raise ValueError("checkpoint_dir works with texts (or TextBatches) as training data; pass texts and labels to fit.")
        run_fingerprint = resume_training.run_fingerprint(model, train_data, seed=seed, epochs=epochs)
        resume_point = resume_training.prepare(model, train_data, checkpoint_dir, mode=resume, expected=run_fingerprint)
        if parallel:
            found = distributed.all_gather_objects(None if resume_point is None else resume_point.path.name)
            if len(set(found)) > 1:
                raise RuntimeError(
                    f"The processes found different checkpoints to resume from (by rank: {found}): the checkpoint folder must "
                    "be one that every process sees (a shared file system), or pass --no-resume."
                )
    if parallel:
        distributed.broadcast_variables(model)  # insurance: every rank starts from rank 0's weights
    if resume_point is not None and validation_monitor is not None:
        validation_monitor.restore(resume_point.validation_state, resume_point.best_weights)
    model._textfit_state["validation_monitor"] = validation_monitor
    if resume_point is None:
        plan_schedule(model, train_data, epochs, kwargs.get("steps_per_epoch"), batch_size, kwargs.get("initial_epoch", 0))
        scale_regression_targets(model, train_data)
        check_before_training(model, sample)
    # From here the head is trained: a later fit must not rescale a regression head's targets or call its
    # step-0 loss that of a new head.
    model._textfit_state["head_trained"] = True
    if resume_point is not None and resume_point.schedule_plan is not None:
        model.optimizer._learning_rate.plan(**resume_point.schedule_plan)
        model.train_function = None
    # The monitor goes first: every later callback (the user's EarlyStopping included) sees its val_* logs.
    callbacks = ([validation_monitor] if validation_monitor is not None else []) + list(callbacks or [])
    callbacks.append(resume_training.DropoutGenerator(seed))
    if isinstance(train_data, TextBatches):
        callbacks.append(EpochOrder(train_data))
    recorder = TrainingHistory()
    if resume_point is not None:
        offset = resume_point.batches_done if resume_point.batches_done < len(train_data) else 0
        recorder = TrainingHistory.from_state(resume_point.history, resume_offset=offset)
    model._textfit_state["training_history"] = recorder
    callbacks.append(recorder)
    if isinstance(train_data, TextBatches):
        callbacks.append(time_keeper(model, train_data, validation_examples, epochs, resume_point, time_budget, started))
    if verbose != 0 and not any(isinstance(callback, keras.callbacks.ProgbarLogger) for callback in callbacks):
        callbacks.append(HonestProgbarLogger())
    if watchdog and resume_point is None and model.task == SINGLE_LABEL:
        counts = np.bincount(np.asarray(train_data.targets, dtype=np.int64), minlength=model.num_classes) if isinstance(
            train_data, TextBatches) else None
        callbacks.append(NotLearningWatchdog(num_classes=model.num_classes, sample_inputs=sample and sample[0], class_counts=counts))
    fit_arguments = dict(
        batch_size=batch_size, epochs=epochs, verbose=verbose, validation_split=validation_split,
        validation_data=validation_data, shuffle=shuffle, sample_weight=sample_weight, class_weight=class_weight, **kwargs,
    )
    if checkpoint_dir is None:
        return keras_fit(train_data, None if isinstance(train_data, TextBatches) else y, callbacks=callbacks, **fit_arguments)
    saver = resume_training.saver_for(
        model, train_data, checkpoint_dir, every_steps=checkpoint_every, keep=keep_checkpoints, fingerprint=run_fingerprint,
    )
    return resume_training.run(
        lambda data, **arguments: keras_fit(data, **arguments),
        train_data, resume_point, saver, callbacks=callbacks, **fit_arguments,
    )


def split_off_validation(model, x, y, sample_weight, fraction: float, seed: int):
    """A stratified, seeded split of texts, labels and sample weights alike (Keras' would take the tail)."""
    if y is None:
        raise ValueError("validation_split needs labels. Pass y=labels.")
    items = [x] if isinstance(x, str) else as_list(x)
    if model.task == SINGLE_LABEL:
        labels = model.label_map.decode(model.label_map.encode(as_list(y)))  # names: no second reading of ids later
    elif model.task == MULTI_LABEL:
        targets = encode_targets(y, model.label_map, model.task)
        labels = [tuple(label for label, on in zip(model.labels, row) if on) for row in targets]
    else:
        labels = encode_targets(y, model.label_map, model.task).tolist()
    if len(labels) != len(items):
        raise ValueError(f"Received {len(items)} texts but {len(labels)} labels; pass one label per text.")
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float32)
    if weights is not None and len(weights) != len(items):
        raise ValueError(f"Received {len(items)} texts but {len(weights)} sample weights; pass one weight per text.")
    train_indices, validation_indices = split_indices(strata(labels, model.task), fraction, seed=seed)

    def pick(values, indices):
        return None if values is None else [values[i] for i in indices]

    validation = (pick(items, validation_indices), pick(labels, validation_indices))
    if weights is not None:
        validation += (weights[validation_indices],)
    train_weights = None if weights is None else weights[train_indices]
    return pick(items, train_indices), pick(labels, train_indices), train_weights, validation


def as_dataset(model, x, y, sample_weight, batch_size, *, shuffle, seed):
    """Texts and labels -> ``TextBatches`` with the model's tokenizer; anything else is left to Keras."""
    if not is_text_input(x):
        return x  # pre-tokenized arrays or a Keras-compatible dataset: Keras handles it
    return text_batches(
        x, y, sample_weight, encode=model.encode_texts, label_map=model.label_map, batch_size=batch_size, shuffle=shuffle,
        seed=seed, task=model.task, pad_token_id=model.tokenizer.pad_token_id,
    )


# Above this share of training texts cut at max_length, "auto" keeps both ends of the texts.
AUTO_HEAD_AND_TAIL_FRACTION = 0.1


def settle_truncation(model, x) -> str:
    """Decide "auto" truncation on the training texts: head+tail when many are cut, else head (logged)."""
    texts, text_pairs, _ = split_texts(x)
    if text_pairs is not None:
        model.set_truncation("head")  # pairs are always cut from the longer text's end
        return "head"
    # Tokenizing to one token past max_length tells which texts are cut, at little cost.
    lengths = model.tokenizer.encode(texts, max_length=model.model_config.max_length + 1, truncation="head").lengths
    cut = float(np.mean(lengths > model.model_config.max_length))
    choice = "head+tail" if cut > AUTO_HEAD_AND_TAIL_FRACTION else "head"
    model.set_truncation(choice)
    logger.info(
        "%.0f%% of the training texts are longer than max_length=%d tokens: truncation %s%s.", 100 * cut,
        model.model_config.max_length, choice,
        " (a quarter of each from its start, the rest from its end)" if choice == "head+tail" else "",
    )
    return choice


def _texts_and_labels(validation_data) -> bool:
    return isinstance(validation_data, tuple) and len(validation_data) == 2 and is_text_input(validation_data[0])


def class_weights(model, class_weight, train_data) -> dict[int, float]:
    """Keras' {label id: weight} from label names, label ids, or "balanced" (total / (labels x count))."""
    if model.task != SINGLE_LABEL:
        raise ValueError(
            f"class_weight is for single-label classification; this model is {model.task}. "
            + ("Weight examples with sample_weight instead." if model.task == REGRESSION else
               "For rare labels in multi-label data, pass sample_weight (e.g. higher for rows carrying them).")
        )
    if class_weight == "balanced":
        if not isinstance(train_data, TextBatches):
            raise ValueError("class_weight='balanced' needs texts and labels (it counts the labels of the training data).")
        counts = np.bincount(np.asarray(train_data.targets, dtype=np.int64), minlength=model.num_classes)
        weights = {i: float(len(train_data.targets) / (model.num_classes * count)) for i, count in enumerate(counts) if count}
        logger.info("Balanced class weights: %s", {model.labels[i]: round(w, 3) for i, w in weights.items()})
        return weights
    if isinstance(class_weight, str):
        raise ValueError(f"class_weight must be 'balanced' or a dict of label -> weight. Received: class_weight={class_weight!r}")
    weights = {}
    names = {label: i for i, label in enumerate(model.labels)}
    for key, weight in dict(class_weight).items():
        if isinstance(key, str) and key in names:
            weights[names[key]] = float(weight)
        elif isinstance(key, (int, np.integer)) and not isinstance(key, bool) and 0 <= key < model.num_classes and str(key) not in names:
            weights[int(key)] = float(weight)
        elif isinstance(key, (int, np.integer)) and str(key) in names:
            weights[names[str(key)]] = float(weight)  # numeric label names map by name, as labels do
        else:
            raise ValueError(f"class_weight names a label the model does not have: {key!r}. Labels: {list(model.labels)}.")
    return weights


def as_validation_dataset(model, validation_data, batch_size):
    if isinstance(validation_data, tuple) and len(validation_data) in (2, 3) and is_text_input(validation_data[0]):
        weights = validation_data[2] if len(validation_data) == 3 else None
        return as_dataset(model, validation_data[0], validation_data[1], weights, batch_size, shuffle=False, seed=0)
    return validation_data


def ensure_compiled(model) -> None:
    if not model.compiled:
        logger.info("Model not compiled: compiling with the defaults (AdamW, warmup then linear decay).")
        model.compile()


def time_keeper(model, train_data, validation_examples, epochs, resume_point, time_budget, started=None) -> TimeKeeper:
    steps_per_epoch = len(train_data)
    steps_done = 0 if resume_point is None else resume_point.epoch * steps_per_epoch + resume_point.batches_done
    keeper = TimeKeeper(
        total_steps=max(1, steps_per_epoch * epochs - steps_done),
        steps_per_epoch=steps_per_epoch,
        validation_examples_per_epoch=validation_examples,
        batch_size=train_data.batch_size,
        time_budget_seconds=None if time_budget is None else parse_duration(time_budget),
        start_step=int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
        batch_tokens=[len(batch) * length for batch, length in zip(train_data.batch_indices, train_data.padded_lengths())],
        started=started,
    )
    plan = None if resume_point is None else resume_point.schedule_plan
    if plan is not None and plan["start_step"] + plan["total_steps"] < steps_per_epoch * epochs:
        # The interrupted run had shortened its schedule to fit a time budget: end where it planned to.
        keeper.stop_at_step = plan["start_step"] + plan["total_steps"] - steps_done
    return keeper


def check_before_training(model, sample) -> None:
    """The logits guard, and the loss of a fresh head at step 0 (near ln(num_classes); ln 2 per label when multi-label)."""
    sample_inputs = sample[0] if sample else None
    sample_targets = sample[1] if sample else None
    check_loss_matches_outputs(model, sample_inputs, mode=model._textfit_state["logits_guard"], sample_targets=sample_targets)
    if sample is None or not model.head_is_new or loss_from_logits(model.loss) is not True or sample_targets is None:
        return
    logits = keras.ops.convert_to_numpy(model(sample_inputs, training=False))
    if model.task == MULTI_LABEL:
        finding = initial_loss_finding(binary_cross_entropy(logits, np.asarray(sample_targets)), 2)
    elif model.task == SINGLE_LABEL:
        finding = initial_loss_finding(cross_entropy(logits, np.asarray(sample_targets).astype(np.int64)), model.num_classes)
    else:
        finding = None
    if finding:
        logger.warning(finding)


def scale_regression_targets(model, train_data) -> None:
    """Regression with a new head: make the head output mean + std * (what its Dense learns), from the training targets.

    The Dense then learns standardised targets (its usual small-output regime) while the model
    outputs the targets' own units, and the loss is in those units.
    """
    if model.task != REGRESSION or not model.head_is_new or not isinstance(train_data, TextBatches):
        return
    targets = np.asarray(train_data.targets, dtype=np.float64)
    std = float(targets.std())
    model.head.set_target_scale(std if std > 0 else 1.0, float(targets.mean()))
    logger.info("Regression targets: mean %.4g, standard deviation %.4g; the head learns them standardised.", targets.mean(), std)


def plan_schedule(model, train_data, epochs, steps_per_epoch, batch_size, initial_epoch) -> None:
    """Tell the default schedule how many steps the run has, so warm-up and decay fit the data."""
    schedule = getattr(model.optimizer, "_learning_rate", None)
    if not isinstance(schedule, WarmupThenDecay):
        return
    if steps_per_epoch is None:
        steps_per_epoch = num_batches(train_data, batch_size)
    start_step = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    schedule.plan(start_step=start_step, total_steps=steps_per_epoch * (epochs - initial_epoch))
    # The plan is baked into a compiled (JAX) train step: rebuild it.
    model.train_function = None
