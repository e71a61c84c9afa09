"""Data-parallel training on torch.distributed: the process group torchrun (or Ray Train) sets up.

Launched as ``torchrun --nproc_per_node=N -m textfit train ...`` (or ``textfit train --workers N``),
every process runs the same ``fit``; this module makes them train one model:

- every rank draws its share (rows ``rank::world``) of each length-bucketed global batch, whose
  plan is a function of (seed, epoch) as in one process, so every rank runs the same number of steps;
- before every optimizer update, gradients are averaged over ranks weighted by each rank's
  examples (one all-reduce), so the step equals a one-process step on the whole batch;
- the metrics in the logs are summed over ranks (Keras metrics are sums and counts), so loss,
  accuracy, the watchdog and early stopping see global values; time-budget plans use rank 0's clock;
- only rank 0 writes checkpoints, the model folder and the report; the others wait at a barrier.

Keras 3.15 has no torch distribution of its own; this is the mechanism measured in
``../shared/distributed.md`` (ranks bitwise equal, weights within 1e-6 of one process on the
combined batch). gloo on CPUs, NCCL when the processes have GPUs. Inactive (every function a no-op)
in a single process.
"""

import logging
import os
import time

import keras

logger = logging.getLogger("textfit")


def init_from_env() -> bool:
    """Join the process group torchrun describes (WORLD_SIZE > 1); reuse one that exists (Ray Train). True if distributed."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return active()
    if keras.backend.backend() != "torch":
        raise RuntimeError(
            f"Distributed training (WORLD_SIZE={os.environ['WORLD_SIZE']}) runs on the torch backend; this process uses "
            f"{keras.backend.backend()}. Set KERAS_BACKEND=torch."
        )
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if rank() != 0:
        logger.setLevel(logging.ERROR)  # one copy of the log and its warnings: rank 0's
    return active()


def active() -> bool:
    """Whether this process is one of several in a torch.distributed group."""
    if keras.backend.backend() != "torch":
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    if not active():
        return 0
    import torch.distributed as dist

    return dist.get_rank()


def world_size() -> int:
    if not active():
        return 1
    import torch.distributed as dist

    return dist.get_world_size()


def is_main() -> bool:
    """Rank 0, or the only process: the one that writes files and logs."""
    return rank() == 0


def barrier() -> None:
    if active():
        import torch.distributed as dist

        dist.barrier()


def broadcast_floats(values: list[float]) -> list[float]:
    """Rank 0's numbers, on every rank (so decisions taken from them agree)."""
    if not active():
        return list(values)
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64)
    dist.broadcast(tensor, src=0)
    return tensor.tolist()


def broadcast_object(value):
    """Rank 0's (picklable) object, on every rank."""
    if not active():
        return value
    import torch.distributed as dist

    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def all_gather_objects(value) -> list:
    """Every rank's (picklable) object, in rank order."""
    if not active():
        return [value]
    import torch.distributed as dist

    gathered = [None] * world_size()
    dist.all_gather_object(gathered, value)
    return gathered


# Time spent in the gradient all-reduce, for benchmarks/distributed.py.
STATS = {"all_reduce_seconds": 0.0, "all_reduces": 0}


def average_gradients(gradients, variables, local_examples: float):
    """Gradients averaged over ranks, each rank's weighted by its examples: sum_r n_r g_r / sum_r n_r.

    One all-reduce of all gradients (flattened, with n_r appended). A rank whose loss does not
    reach a variable contributes zeros for it.
    """
    import torch
    import torch.distributed as dist

    gradients = [torch.zeros_like(v.value) if g is None else g for g, v in zip(gradients, variables)]
    flat = torch.cat([g.reshape(-1).to(torch.float32) * local_examples for g in gradients]
                     + [torch.tensor([float(local_examples)], dtype=torch.float32)])
    started = time.perf_counter()
    dist.all_reduce(flat)
    STATS["all_reduce_seconds"] += time.perf_counter() - started
    STATS["all_reduces"] += 1
    total = flat[-1]
    averaged, offset = [], 0
    for gradient in gradients:
        averaged.append((flat[offset : offset + gradient.numel()] / total).view_as(gradient).to(gradient.dtype))
        offset += gradient.numel()
    return averaged


def sum_over_ranks(tensors) -> list:
    """Copies of ``tensors`` summed over ranks (metric totals and counts)."""
    import torch
    import torch.distributed as dist

    with torch.no_grad():
        summed = [t.detach().clone() for t in tensors]
        for tensor in summed:
            dist.all_reduce(tensor)
    return summed


def make_data_parallel(model) -> None:
    """Make ``model``'s optimizer average gradients over ranks before every update (no-op in one process).

    Wraps the optimizer's ``apply`` on the instance, so any Keras optimizer works; the rank's
    example count comes from ``TextClassifier.train_step``.
    """
    optimizer = model.optimizer
    if not active() or getattr(optimizer, "_textfit_data_parallel", False):
        return
    if getattr(model, "ddp_model", None) is not None:
        # A Keras that wraps the model in torch DDP averages gradients itself: averaging again would be wrong.
        raise RuntimeError("This Keras wraps the model in DistributedDataParallel itself; textfit supports keras<3.16 for "
                           "data-parallel training. pip install 'keras<3.16'.")
    apply = optimizer.apply

    def apply_averaged(grads, trainable_variables=None):
        variables = trainable_variables if trainable_variables is not None else optimizer._trainable_variables
        grads = average_gradients(list(grads), list(variables), model._textfit_state.get("local_examples", 1.0))
        return apply(grads, trainable_variables)

    optimizer.apply = apply_averaged
    optimizer._textfit_data_parallel = True


def broadcast_variables(model) -> None:
    """Copy rank 0's weights (and optimizer state, if built) to every rank: insurance that all start equal."""
    if not active():
        return
    import torch
    import torch.distributed as dist

    variables = list(model.variables) + (list(model.optimizer.variables) if model.optimizer is not None and model.optimizer.built else [])
    with torch.no_grad():
        for variable in variables:
            value = variable.value
            dist.broadcast(value.data if hasattr(value, "data") else value, src=0)
