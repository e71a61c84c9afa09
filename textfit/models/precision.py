"""Which precision a model computes in: float32, or mixed bfloat16 where the CPU's matrix units make it pay.

Mixed bfloat16 (Keras' ``mixed_bfloat16`` policy) keeps every variable in float32 — the weights
saved, the optimizer's moments — and computes layers in bfloat16; LayerNorm statistics are
computed in float32 by Keras, the logits layer and the loss run in float32. It pays on CPUs with
bfloat16 matrix instructions (Intel AMX, AVX512-BF16 on Intel and AMD): this is detected from the
CPU flags and confirmed by timing one matmul in each precision the first time it is asked (a
tenth of a second, once per process: no cache to go stale when a program moves to another
machine). "auto" also stays float32 on JAX (its CPU backend is not measured here) and for models
narrower than 256 (their matmuls are too small for the gain to cover the casts).
"""

import functools
import logging
import time
from pathlib import Path

import keras

logger = logging.getLogger("textfit")

PRECISIONS = ("auto", "float32", "bfloat16")
# Narrower models (the tiny test models, hidden 32) gain nothing: casting costs more than the matmuls save.
MIN_HIDDEN_DIM_FOR_BFLOAT16 = 256
# bfloat16 must be at least this much faster on a matmul of a model's size to be chosen by "auto".
MIN_SPEEDUP = 1.3
_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags() -> set[str]:
    """The CPU's instruction-set flags (Linux /proc/cpuinfo); empty where that file cannot be read."""
    try:
        flags = set()
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags.update(line.split(":", 1)[1].split())
        return flags
    except OSError:
        return set()


def cpu_bfloat16_flags() -> list[str]:
    """The CPU's bfloat16 matrix-instruction flags, e.g. ["avx512_bf16"]."""
    flags = cpu_flags()
    return [flag for flag in _BFLOAT16_FLAGS if flag in flags]


@functools.cache
def bfloat16_speedup() -> float | None:
    """float32 time / bfloat16 time of a 1024 x 1024 x 1024 matmul on the torch backend, or None elsewhere."""
    if keras.backend.backend() != "torch":
        return None
    import torch

    def best(dtype) -> float:
        a, b = torch.randn(1024, 1024, dtype=dtype), torch.randn(1024, 1024, dtype=dtype)
        torch.mm(a, b)
        times = []
        for _ in range(3):
            started = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - started)
        return min(times)

    try:
        return best(torch.float32) / best(torch.bfloat16)
    except RuntimeError:  # no bfloat16 kernels
        return None


def choose_precision(requested: str, *, hidden_dim: int) -> tuple[str, str]:
    """(precision, reason): ``requested`` as is, or what "auto" picks for this CPU, backend and model width."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}. Received: precision={requested!r}")
    if requested == "float32":
        return "float32", "asked for"
    if requested == "bfloat16":
        return "bfloat16", "asked for"
    if keras.backend.backend() != "torch":
        return "float32", f"auto: the {keras.backend.backend()} backend computes in float32 unless asked"
    if hidden_dim < MIN_HIDDEN_DIM_FOR_BFLOAT16:
        return "float32", f"auto: a model of width {hidden_dim} is too narrow for bfloat16 to pay"
    flags = cpu_bfloat16_flags()
    if not flags:
        return "float32", "auto: this CPU has no bfloat16 matrix instructions (no AMX or AVX512-BF16)"
    speedup = bfloat16_speedup()
    if speedup is None or speedup < MIN_SPEEDUP:
        return "float32", f"auto: the CPU has {', '.join(flags)} but bfloat16 matmuls measured only {speedup or 0:.2f}x faster"
    return "bfloat16", f"auto: this CPU's {', '.join(flags)} units run bfloat16 matmuls {speedup:.1f}x faster than float32"


def dtype_policy(precision: str) -> str:
    """The Keras dtype policy layers are built with."""
    return "mixed_bfloat16" if precision == "bfloat16" else "float32"
