"""Training checkpoints and exact resume.

A checkpoint folder ``step-00000120/`` holds ``state.safetensors`` (every model, optimizer and
metric variable: weights, Adam moments, the step counter, dropout seed states) and
``state.json`` (epoch, batches done in it, the learning-rate plan, the history so far, and a
fingerprint of model, data and settings). The data order of epoch ``e`` is a function of
(seed, e), so a resumed run replays the rest of the interrupted epoch exactly. Each checkpoint is
written to a temporary folder and renamed; the newest ``keep`` are kept.
"""

import hashlib
import json
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from safetensors.numpy import load_file

from textfit import atomic
from textfit.hf import folder as hf_folder

logger = logging.getLogger("textfit")

STATE_WEIGHTS, STATE_JSON = "state.safetensors", "state.json"
_STEP_DIR = re.compile(r"^step-(\d{8})$")
_VARIABLE_GROUPS = ("model", "optimizer", "metrics")


def fingerprint(model, encoded, targets, *, batch_size: int, seed: int, epochs: int) -> dict:
    """What must be equal for a checkpoint to continue this run: model, data and settings."""
    model_hash = hashlib.sha256(json.dumps([model.hf_config, list(model.labels), model.model_config.max_length], sort_keys=True).encode())
    # The weights the run starts from (checkpoint + seeded head), so another model with the same config differs.
    for variable in model.trainable_variables:
        model_hash.update(np.ascontiguousarray(keras.ops.convert_to_numpy(variable)).tobytes())
    data_hash = hashlib.sha256()
    for ids in encoded.token_ids:
        data_hash.update(ids.tobytes())
        data_hash.update(b"|")
    data_hash.update(np.ascontiguousarray(targets).tobytes())
    return {
        "model": model_hash.hexdigest()[:16],
        "data": data_hash.hexdigest()[:16],
        "num_examples": len(encoded),
        "batch_size": batch_size,
        "seed": seed,
        "epochs": epochs,
    }


def _variables(model) -> dict[str, list]:
    return {"model": list(model.variables), "optimizer": list(model.optimizer.variables), "metrics": list(model.metrics_variables)}


def list_checkpoints(checkpoint_dir) -> list[Path]:
    """Complete checkpoints in ``checkpoint_dir``, oldest first (temporary debris is ignored)."""
    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if _STEP_DIR.match(p.name) and (p / STATE_JSON).is_file() and (p / STATE_WEIGHTS).is_file()]
    return sorted(found, key=lambda p: int(_STEP_DIR.match(p.name).group(1)))


class DropoutGenerator(keras.callbacks.Callback):
    """Give torch's dropout a generator state that depends only on (seed, rank, step).

    On torch, dropout draws from torch's global generator, which other code also draws from at
    moments a resumed run cannot reproduce (each DataLoader iterator takes a seed from it when an
    epoch starts). Around every training step this callback swaps the global state for one seeded
    from (seed, data-parallel rank, optimizer step), and back after: the dropout masks of a step
    are the same in an uninterrupted run and a resumed one, whatever the number of processes before
    the crash, and nothing needs saving. No-op on other backends, where dropout draws from Keras
    seed generators (saved with the model's variables).
    """

    def __init__(self, seed: int):
        super().__init__()
        self.seed = seed
        self.enabled = keras.backend.backend() == "torch"
        self._outside = None

    def on_train_batch_begin(self, batch, logs=None):
        if not self.enabled:
            return
        import torch

        from textfit.training import distributed

        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        self._outside = torch.get_rng_state()
        mixed = np.random.SeedSequence([self.seed, distributed.rank(), step]).generate_state(1, dtype=np.uint64)[0]
        torch.manual_seed(int(mixed) & 0x7FFF_FFFF_FFFF_FFFF)

    def on_train_batch_end(self, batch, logs=None):
        if self._outside is None:
            return
        import torch

        torch.set_rng_state(self._outside)
        self._outside = None


def save_checkpoint(model, checkpoint_dir, state: dict, *, keep: int) -> Path | None:
    """Write one checkpoint atomically and delete all but the newest ``keep``.

    In data-parallel training every rank calls it at the same step: the metric totals are summed
    over ranks (so a resume on any number of processes logs the same running means), and rank 0
    alone writes (the others return None). The weights and optimizer state are the same on every rank.
    """
    from textfit.training import distributed

    groups = _variables(model)
    metric_values = None
    if distributed.active():
        metric_values = distributed.sum_over_ranks([variable.value for variable in groups["metrics"]])
    if not distributed.is_main():
        return None
    tensors = {}
    for group, variables in groups.items():
        for index, variable in enumerate(variables):
            value = variable if metric_values is None or group != "metrics" else metric_values[index]
            tensors[f"{group}.{index:05d}"] = np.asarray(keras.ops.convert_to_numpy(value))
    textfit_state = getattr(model, "_textfit_state", {})
    monitor = textfit_state.get("validation_monitor")
    if monitor is not None:
        state = {**state, "validation": monitor.state()}
        for index, value in enumerate(monitor.best_weights or []):
            tensors[f"best.{index:05d}"] = np.asarray(value)
    state = {**state, "num_variables": {group: len(v) for group, v in _variables(model).items()}}
    target = Path(checkpoint_dir) / f"step-{state['step']:08d}"
    with atomic.atomic_directory(target) as tmp_dir:
        hf_folder.write_weights(tmp_dir / STATE_WEIGHTS, tensors)
        atomic.write_json(tmp_dir / STATE_JSON, state)
    for old in list_checkpoints(checkpoint_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def remove_checkpoints(checkpoint_dir) -> None:
    """Delete every checkpoint (and debris) in ``checkpoint_dir``, and the folder if that leaves it empty."""
    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if _STEP_DIR.match(path.name.lstrip(".").split(".")[0]) or path.name.startswith(".step-"):
            shutil.rmtree(path, ignore_errors=True)
    if not any(folder.iterdir()):
        folder.rmdir()


def load_checkpoint(path) -> tuple[dict, dict]:
    """(state.json contents, tensors) of a checkpoint folder."""
    path = Path(path)
    state = hf_folder.read_json(path / STATE_JSON)
    try:
        tensors = load_file(path / STATE_WEIGHTS)
    except Exception as error:  # safetensors raises its own error type for damaged files
        raise ValueError(f"Checkpoint {path} is damaged ({error}). Delete it to resume from the one before.") from None
    return state, tensors


def check_compatible(state: dict, expected: dict, path) -> None:
    """Raise, naming what differs, when a checkpoint was written by another model, data set or setting."""
    saved = state.get("fingerprint", {})
    differences = [f"{key}: checkpoint {saved.get(key)!r}, this run {value!r}" for key, value in expected.items() if saved.get(key) != value]
    if differences:
        keys = {d.split(":")[0] for d in differences}
        what = "model weights or labels" if "model" in keys else "data" if keys & {"data", "num_examples"} else "settings"
        raise ValueError(
            f"The checkpoint {path} was written by a run with different {what} ({'; '.join(differences)}), so it "
            "cannot be resumed here. Pass --no-resume to start over (its checkpoints are replaced), or a different --checkpoint-dir."
        )


def restore_variables(model, tensors: dict, state: dict) -> None:
    """Assign every saved model, optimizer and metric variable."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    variables = _variables(model)
    for group in ("model", "optimizer"):
        if state["num_variables"][group] != len(variables[group]):
            raise ValueError(
                f"The checkpoint holds {state['num_variables'][group]} {group} variables, this run has "
                f"{len(variables[group])}: it was written with another model or optimizer. Pass --no-resume to start over."
            )
        for index, variable in enumerate(variables[group]):
            # safetensors stores scalars (the step counter) with shape (1,).
            variable.assign(tensors[f"{group}.{index:05d}"].reshape(tuple(variable.shape)))


class CheckpointSaver(keras.callbacks.Callback):
    """Save a checkpoint every ``every_steps`` optimizer steps and at the end of each epoch.

    Args:
        checkpoint_dir: folder of the checkpoints.
        every_steps: steps between mid-epoch checkpoints (None: only at epoch ends).
        keep: how many checkpoints to keep.
        run_fingerprint: from ``fingerprint``.
        batches_per_epoch: batches in a full epoch.
        extra_state: called at each save, returns JSON-ready state to add (schedule plan, history).
    """

    def __init__(self, checkpoint_dir, *, every_steps, keep, run_fingerprint, batches_per_epoch, extra_state):
        super().__init__()
        self.checkpoint_dir = Path(checkpoint_dir)
        self.every_steps = every_steps
        self.keep = keep
        self.run_fingerprint = run_fingerprint
        self.batches_per_epoch = batches_per_epoch
        self.extra_state = extra_state
        self.batch_offset = 0  # batches of the current epoch done before this fit call (resume)
        self.epoch = 0
        self.saved: list[Path] = []

    def _save(self, batches_done: int) -> None:
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        state = {"step": step, "epoch": self.epoch, "batches_done": batches_done, "fingerprint": self.run_fingerprint, **self.extra_state()}
        self.saved.append(save_checkpoint(self.model, self.checkpoint_dir, state, keep=self.keep))

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        batches_done = self.batch_offset + batch + 1
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        if self.every_steps and step % self.every_steps == 0 and batches_done < self.batches_per_epoch:
            self._save(batches_done)

    def on_epoch_end(self, epoch, logs=None):
        self.batch_offset = 0
        self._save(self.batches_per_epoch)


class RemainingBatches(keras.utils.PyDataset):
    """The batches of an interrupted epoch that had not run yet."""

    def __init__(self, batches, start: int):
        super().__init__()
        self.batches = batches
        self.start = start

    def __len__(self) -> int:
        return len(self.batches) - self.start

    def __getitem__(self, index):
        return self.batches[self.start + index]


class RestoreMetrics(keras.callbacks.Callback):
    """Put back the running loss/metric sums of an interrupted epoch, after Keras resets them."""

    def __init__(self, values: list[np.ndarray]):
        super().__init__()
        self.values = values

    def on_epoch_begin(self, epoch, logs=None):
        from textfit.training import distributed

        variables = list(self.model.metrics_variables)
        if len(variables) == len(self.values):
            # Saved as totals over every rank: rank 0 takes them back, the others start from zero.
            keep = distributed.is_main()
            for variable, value in zip(variables, self.values):
                variable.assign(value.reshape(tuple(variable.shape)) * (1 if keep else 0))


@dataclass(frozen=True)
class ResumePoint:
    """Where a restored run continues: epoch, batches already done in it, and saved side state."""

    path: Path
    epoch: int
    batches_done: int
    schedule_plan: dict | None
    history: dict
    metric_values: list
    validation_state: dict | None = None
    best_weights: list | None = None


def run_fingerprint(model, train_data, *, seed: int, epochs: int) -> dict:
    """The fingerprint of a run about to start (call it before restoring anything)."""
    result = fingerprint(model, train_data.encoded, train_data.targets, batch_size=train_data.batch_size, seed=seed, epochs=epochs)
    # The name ("adam_w_1"...) depends on how many optimizers the process made; the rest is the setting.
    settings = {k: v for k, v in model.optimizer.get_config().items() if k != "name"}
    optimizer_config = json.dumps(settings, sort_keys=True, default=str)
    result["optimizer"] = hashlib.sha256(optimizer_config.encode()).hexdigest()[:16]
    return result


def prepare(model, train_data, checkpoint_dir, *, mode, expected: dict) -> ResumePoint | None:
    """Restore the newest compatible checkpoint into ``model`` (per ``mode``) and say where to continue."""
    if mode not in ("auto", True, False):
        raise ValueError(f"resume must be 'auto', True or False. Received: resume={mode!r}")
    found = list_checkpoints(checkpoint_dir)
    if mode is False:
        for path in found:
            shutil.rmtree(path, ignore_errors=True)
        return None
    if not found:
        if mode is True:
            raise FileNotFoundError(
                f"Asked to resume, but {Path(checkpoint_dir).resolve()} holds no complete checkpoint. Drop --resume to start a new run."
            )
        return None
    state, tensors = load_checkpoint(found[-1])
    check_compatible(state, expected, found[-1])
    restore_variables(model, tensors, state)
    logger.info(
        "Resuming from %s: epoch %d, %d of %d batches done.", found[-1], state["epoch"] + 1, state["batches_done"], len(train_data)
    )
    metric_values = [tensors[f"metrics.{i:05d}"] for i in range(state["num_variables"]["metrics"])]
    best_weights = [tensors[f"best.{i:05d}"] for i in range(len(model.weights)) if f"best.{i:05d}" in tensors] or None
    if best_weights is not None:
        best_weights = [value.reshape(tuple(variable.shape)) for value, variable in zip(best_weights, model.weights)]
    return ResumePoint(
        found[-1], state["epoch"], state["batches_done"], state.get("schedule"), state.get("history", {}), metric_values,
        state.get("validation"), best_weights,
    )


def saver_for(model, train_data, checkpoint_dir, *, every_steps, keep: int, fingerprint: dict) -> CheckpointSaver:
    """A ``CheckpointSaver`` that also records the learning-rate plan and the history."""
    if keep < 1:
        raise ValueError(f"keep_checkpoints must be >= 1. Received: keep_checkpoints={keep}")
    if every_steps is not None and every_steps < 1:
        raise ValueError(f"checkpoint_every must be >= 1 step. Received: checkpoint_every={every_steps}")

    def extra_state() -> dict:
        schedule = getattr(model.optimizer, "_learning_rate", None)
        plan = None
        if getattr(schedule, "total_steps", None) is not None:
            plan = {"start_step": schedule.start_step, "total_steps": schedule.total_steps}
        recorder = model._textfit_state.get("training_history")
        return {"schedule": plan, "history": recorder.state() if recorder is not None else {}}

    return CheckpointSaver(
        checkpoint_dir,
        every_steps=every_steps,
        keep=keep,
        run_fingerprint=fingerprint,
        batches_per_epoch=len(train_data),
        extra_state=extra_state,
    )


def run(fit, train_data, resume_point: ResumePoint | None, saver: CheckpointSaver, *, callbacks, epochs: int, **fit_arguments):
    """Run ``fit`` (keras.Model.fit) from the resume point: the rest of an interrupted epoch, then the others."""
    fit_arguments.pop("initial_epoch", None)
    callbacks = [*callbacks, saver]
    histories = []
    start_epoch = 0
    if resume_point is not None:
        start_epoch = resume_point.epoch + 1
        if resume_point.batches_done < len(train_data):
            train_data.set_epoch(resume_point.epoch)
            saver.batch_offset = resume_point.batches_done
            remaining = RemainingBatches(train_data, resume_point.batches_done)
            histories.append(fit(
                remaining, initial_epoch=resume_point.epoch, epochs=resume_point.epoch + 1,
                callbacks=[*callbacks, RestoreMetrics(resume_point.metric_values)], **fit_arguments,
            ))
        train_data.set_epoch(start_epoch)
    stopped = histories and getattr(saver.model, "stop_training", False)  # e.g. the time budget ended the run
    if start_epoch < epochs and not stopped:
        histories.append(fit(train_data, initial_epoch=start_epoch, epochs=epochs, callbacks=callbacks, **fit_arguments))
    if not histories:  # the checkpoint was the end of the run: nothing left to train
        finished = keras.callbacks.History()
        finished.history, finished.epoch = {}, []
        return finished
    merged = histories[-1]
    for earlier in reversed(histories[:-1]):
        merged.epoch = list(earlier.epoch) + list(merged.epoch)
        for name, values in earlier.history.items():
            merged.history[name] = list(values) + list(merged.history.get(name, []))
    return merged
