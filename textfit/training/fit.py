"""What ``TextClassifier.fit`` does around ``keras.Model.fit``.

Raw texts become length-bucketed batches; a stratified validation split replaces Keras' tail
slice; the learning-rate schedule is planned from the data; the logits guard and the
initial-loss check run before the first step; the history recorder, the ETA/time budget and the
not-learning watchdog ride along as callbacks; checkpoints make the run resumable.
"""

import logging

import keras
import numpy as np

from textfit.data.batches import EpochOrder, TextBatches
from textfit.data.examples import split_indices
from textfit.data.inputs import DEFAULT_BATCH_SIZE, as_list, first_batch, is_text_input, num_batches, text_batches
from textfit.evaluation.evaluate import cross_entropy
from textfit.training import resume as resume_training
from textfit.training.guards import check_loss_matches_outputs, initial_loss_finding, loss_from_logits
from textfit.training.history import TrainingHistory
from textfit.training.schedule import WarmupThenDecay
from textfit.training.timing import TimeKeeper, parse_duration
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
    **kwargs,
):
    """Train ``model`` (a ``TextClassifier``) with ``keras_fit`` (``keras.Model.fit`` bound to it).

    The arguments are those of ``TextClassifier.fit``.
    """
    seed = model._textfit_state["seed"] if seed is None else seed
    keras.utils.set_random_seed(seed)
    ensure_compiled(model)
    batch_size = batch_size or DEFAULT_BATCH_SIZE
    if validation_split and validation_data is None and is_text_input(x):
        x, y, sample_weight, validation_data = split_off_validation(model, x, y, sample_weight, validation_split, seed)
        validation_split = 0.0
    train_data = as_dataset(model, x, y, sample_weight, batch_size, shuffle=shuffle, seed=seed)
    if isinstance(train_data, TextBatches):
        # TextBatches shuffles (length-bucketed, by epoch); Keras' own shuffle of a PyDataset
        # would reorder the batches with Python's global random state and break exact resume.
        batch_size, sample_weight, shuffle = None, None, False
    if validation_data is not None:
        validation_data = as_validation_dataset(model, validation_data, batch_size or DEFAULT_BATCH_SIZE)
    sample = first_batch(train_data, y, batch_size)
    resume_point = run_fingerprint = None
    if checkpoint_dir is not None:
        if not isinstance(train_data, TextBatches):
            raise ValueError("checkpoint_dir works with texts (or TextBatches) as training data; pass texts and labels to fit.")
        run_fingerprint = resume_training.run_fingerprint(model, train_data, seed=seed, epochs=epochs)
        resume_point = resume_training.prepare(model, train_data, checkpoint_dir, mode=resume, expected=run_fingerprint)
    if resume_point is None:
        plan_schedule(model, train_data, epochs, kwargs.get("steps_per_epoch"), batch_size, kwargs.get("initial_epoch", 0))
        check_before_training(model, sample)
    elif resume_point.schedule_plan is not None:
        model.optimizer._learning_rate.plan(**resume_point.schedule_plan)
        model.train_function = None
    callbacks = list(callbacks or [])
    dropout_generator = resume_training.DropoutGenerator(
        seed, None if resume_point is None else resume_point.dropout_generator_state
    )
    model._textfit_state["dropout_generator"] = dropout_generator
    callbacks.append(dropout_generator)
    if isinstance(train_data, TextBatches):
        callbacks.append(EpochOrder(train_data))
    recorder = TrainingHistory()
    if resume_point is not None:
        offset = resume_point.batches_done if resume_point.batches_done < len(train_data) else 0
        recorder = TrainingHistory.from_state(resume_point.history, resume_offset=offset)
    model._textfit_state["training_history"] = recorder
    callbacks.append(recorder)
    if isinstance(train_data, TextBatches):
        callbacks.append(time_keeper(model, train_data, validation_data, epochs, resume_point, time_budget))
    if watchdog and resume_point is None:
        callbacks.append(NotLearningWatchdog(num_classes=model.num_classes, sample_inputs=sample and sample[0]))
    fit_arguments = dict(
        batch_size=batch_size, epochs=epochs, verbose=verbose, validation_split=validation_split,
        validation_data=validation_data, shuffle=shuffle, sample_weight=sample_weight, **kwargs,
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
    labels = model.label_map.decode(model.label_map.encode(as_list(y)))  # names: no second reading of ids later
    if len(labels) != len(items):
        raise ValueError(f"Received {len(items)} texts but {len(labels)} labels; pass one label per text.")
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float32)
    if weights is not None and len(weights) != len(items):
        raise ValueError(f"Received {len(items)} texts but {len(weights)} sample weights; pass one weight per text.")
    train_indices, validation_indices = split_indices(labels, fraction, seed=seed)

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
        x, y, sample_weight, tokenizer=model.tokenizer, label_map=model.label_map, max_length=model.model_config.max_length,
        batch_size=batch_size, shuffle=shuffle, seed=seed,
    )


def as_validation_dataset(model, validation_data, batch_size):
    if isinstance(validation_data, tuple) and len(validation_data) in (2, 3) and is_text_input(validation_data[0]):
        weights = validation_data[2] if len(validation_data) == 3 else None
        return as_dataset(model, validation_data[0], validation_data[1], weights, batch_size, shuffle=False, seed=0)
    return validation_data


def ensure_compiled(model) -> None:
    if not model.compiled:
        logger.info("Model not compiled: compiling with the defaults (AdamW, warmup then linear decay).")
        model.compile()


def time_keeper(model, train_data, validation_data, epochs, resume_point, time_budget) -> TimeKeeper:
    steps_per_epoch = len(train_data)
    steps_done = 0 if resume_point is None else resume_point.epoch * steps_per_epoch + resume_point.batches_done
    validation_examples = len(validation_data.encoded) if isinstance(validation_data, TextBatches) else 0
    keeper = TimeKeeper(
        total_steps=max(1, steps_per_epoch * epochs - steps_done),
        steps_per_epoch=steps_per_epoch,
        validation_examples_per_epoch=validation_examples,
        batch_size=train_data.batch_size,
        time_budget_seconds=None if time_budget is None else parse_duration(time_budget),
        start_step=int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
        batch_tokens=[len(batch) * length for batch, length in zip(train_data.batch_indices, train_data.padded_lengths())],
    )
    plan = None if resume_point is None else resume_point.schedule_plan
    if plan is not None and plan["start_step"] + plan["total_steps"] < steps_per_epoch * epochs:
        # The interrupted run had shortened its schedule to fit a time budget: end where it planned to.
        keeper.stop_at_step = plan["start_step"] + plan["total_steps"] - steps_done
    return keeper


def check_before_training(model, sample) -> None:
    """The logits guard, and the loss of a fresh head at step 0 (should be near ln(num_classes))."""
    sample_inputs = sample[0] if sample else None
    check_loss_matches_outputs(model, sample_inputs, mode=model._textfit_state["logits_guard"])
    if sample is None or not model.head_is_new or loss_from_logits(model.loss) is not True or sample[1] is None:
        return
    logits = keras.ops.convert_to_numpy(model(sample_inputs, training=False))
    finding = initial_loss_finding(cross_entropy(logits, np.asarray(sample[1]).astype(np.int64)), model.num_classes)
    if finding:
        logger.warning(finding)


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
