"""The local Hugging Face checkpoint folder: check it, read and write its files.

Weights are read from safetensors (``model.safetensors``, or shards listed in
``model.safetensors.index.json``). Folders that ship only ``pytorch_model.bin`` (many Hub
checkpoints: deberta-v3-base, electra-base-discriminator) are read with torch's restricted
``weights_only`` unpickler, which loads tensors and runs no code; without torch they are refused
with the one-line conversion. TensorFlow and Flax weights are refused with their conversion.
"""

import errno
import json
import logging
import struct
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

logger = logging.getLogger("textfit")

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
PICKLED_WEIGHTS_FILE = "pytorch_model.bin"
PICKLED_WEIGHTS_INDEX_FILE = "pytorch_model.bin.index.json"
OTHER_FRAMEWORK_WEIGHTS = {"tf_model.h5": "TensorFlow", "flax_model.msgpack": "Flax"}

_VALID_DIR_HELP = (
    "A checkpoint folder holds config.json, the weights (model.safetensors) and the tokenizer files "
    "(tokenizer.json, vocab.txt, vocab.json + merges.txt, or a SentencePiece .model), "
    "as written by `save_pretrained` in transformers or textfit."
)


def torch_is_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def _conversion_hint(path: Path, from_flag: str = "") -> str:
    return (
        f"convert it once with transformers: python -c \"from transformers import AutoModel; "
        f"AutoModel.from_pretrained('{path}'{from_flag}).save_pretrained('{path}', safe_serialization=True)\""
    )


def weights_kind(path: Path) -> str | None:
    """Which weight files the folder has: "safetensors", "sharded-safetensors", "pickle", "sharded-pickle", or None."""
    for name, kind in (
        (WEIGHTS_FILE, "safetensors"),
        (WEIGHTS_INDEX_FILE, "sharded-safetensors"),
        (PICKLED_WEIGHTS_FILE, "pickle"),
        (PICKLED_WEIGHTS_INDEX_FILE, "sharded-pickle"),
    ):
        if (path / name).is_file():
            return kind
    return None


def check_checkpoint_dir(checkpoint_dir) -> Path:
    """Return the absolute checkpoint path, or raise naming every missing file.

    Example:
        >>> path = check_checkpoint_dir("models/minilm")
        >>> (path / "config.json").exists()
        True
    """
    from textfit.hf.tokenizer_files import TOKENIZER_KINDS, has_tokenizer_files

    path = Path(checkpoint_dir).expanduser().resolve()
    if not path.exists():
        raise FileNotFoundError(f"Checkpoint folder {path} does not exist. {_VALID_DIR_HELP}")
    if not path.is_dir():
        raise ValueError(f"Expected a checkpoint folder, received a file: {path}. {_VALID_DIR_HELP}")
    missing = []
    if not (path / CONFIG_FILE).is_file():
        missing.append(CONFIG_FILE)
    kind = weights_kind(path)
    if kind in ("pickle", "sharded-pickle") and not torch_is_installed():
        raise ValueError(
            f"{path} holds only pickled weights ({PICKLED_WEIGHTS_FILE}); textfit reads them with torch's "
            "weights-only loader, and torch is not installed. Install torch (pip install 'textfit[torch]'), or "
            + _conversion_hint(path) + "."
        )
    if kind is None:
        other = [name for name in OTHER_FRAMEWORK_WEIGHTS if (path / name).is_file()]
        if other:
            framework = OTHER_FRAMEWORK_WEIGHTS[other[0]]
            flag = ", from_tf=True" if framework == "TensorFlow" else ", from_flax=True"
            raise ValueError(
                f"{path} holds only {framework} weights ({other[0]}); textfit reads safetensors (or PyTorch's "
                f"pytorch_model.bin). To use it, {_conversion_hint(path, flag)}."
            )
        missing.append(WEIGHTS_FILE)
    if not has_tokenizer_files(path):
        missing.append(" or ".join(TOKENIZER_KINDS))
    if missing:
        found = sorted(child.name for child in path.iterdir())
        raise FileNotFoundError(
            f"Checkpoint folder {path} is missing {', '.join(missing)}. Found: {found or 'nothing'}. "
            f"{_VALID_DIR_HELP}"
        )
    return path


def read_json(path) -> dict:
    """Read a JSON object from ``path``, with an error that names the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}. Restore it from the original checkpoint.") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object, found {type(data).__name__}.")
    return data


def read_config(checkpoint_dir) -> dict:
    """Read ``config.json`` from a checkpoint folder."""
    return read_json(Path(checkpoint_dir) / CONFIG_FILE)


def read_weights(checkpoint_dir) -> dict[str, np.ndarray]:
    """Every tensor of the folder's weights as numpy arrays, keyed by HF name.

    float16/bfloat16 tensors come back as float32 (numpy has no bfloat16).
    """
    path = Path(checkpoint_dir)
    kind = weights_kind(path)
    if kind == "safetensors":
        return _read_safetensors(path / WEIGHTS_FILE)
    if kind == "sharded-safetensors":
        return {name: value for shard in _shards(path / WEIGHTS_INDEX_FILE) for name, value in _read_safetensors(shard).items()}
    if kind == "pickle":
        return _read_pickled(path / PICKLED_WEIGHTS_FILE)
    if kind == "sharded-pickle":
        return {name: value for shard in _shards(path / PICKLED_WEIGHTS_INDEX_FILE) for name, value in _read_pickled(shard).items()}
    raise FileNotFoundError(f"{path} holds no weights ({WEIGHTS_FILE}). {_VALID_DIR_HELP}")


def _shards(index_path: Path) -> list[Path]:
    weight_map = read_json(index_path).get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise ValueError(f"{index_path} has no weight_map. Copy the checkpoint's index file again.")
    shards = [index_path.parent / name for name in sorted(set(weight_map.values()))]
    missing = [shard.name for shard in shards if not shard.is_file()]
    if missing:
        raise FileNotFoundError(f"{index_path} lists shards that are not in the folder: {missing}. Copy them too.")
    return shards


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    try:
        return load_file(path)
    except TypeError:  # numpy has no bfloat16: safetensors' numpy loader refuses such files
        return _read_safetensors_widening(path)
    except (SafetensorError, OSError) as error:
        raise ValueError(
            f"Could not read {path}: {error}. The file is truncated or not safetensors; copy it again."
        ) from None


# safetensors dtype names -> numpy; BF16 is read as uint16 and widened by hand below.
_SAFETENSORS_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
}


def _read_safetensors_widening(path: Path) -> dict[str, np.ndarray]:
    """Read a safetensors file tensor by tensor, bfloat16 widened to float32.

    Written by hand because safetensors' numpy loader cannot represent bfloat16, and its torch
    loader would make torch a requirement; the format is an 8-byte header size, a JSON header
    of dtype/shape/offsets, then the raw little-endian data.
    """
    try:
        with open(path, "rb") as handle:
            (header_size,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(header_size))
            data = handle.read()
    except (OSError, ValueError, struct.error) as error:
        raise ValueError(f"Could not read {path}: {error}. The file is truncated or not safetensors; copy it again.") from None
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info.get("dtype") not in _SAFETENSORS_DTYPES:
            raise ValueError(f"{path}: tensor {name} has dtype {info.get('dtype')!r}, which textfit cannot read.")
        start, end = info["data_offsets"]
        raw = np.frombuffer(data[start:end], dtype=_SAFETENSORS_DTYPES[info["dtype"]]).reshape(info["shape"])
        if info["dtype"] == "BF16":  # bfloat16 is the top half of a float32
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = raw.copy()
    return tensors


def _read_pickled(path: Path) -> dict[str, np.ndarray]:
    """Read ``pytorch_model.bin`` with ``torch.load(weights_only=True)``: tensors only, no code runs."""
    import torch

    logger.info("Reading %s with torch's weights-only loader (no code runs).", path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError or EOFError on bad files
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"Could not read {path} with torch's weights-only loader ({reason}): the file is damaged, or holds "
            f"more than tensors. Copy it again, or if you trust its source, {_conversion_hint(path.parent)}"
        ) from None
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a dict of tensors (found {type(state).__name__}).")
    tensors = {}
    for name, tensor in state.items():
        if not isinstance(tensor, torch.Tensor):
            continue
        tensor = tensor.detach()
        tensors[name] = (tensor.float() if tensor.is_floating_point() else tensor).numpy()
    return tensors


def write_weights(path, tensors: dict[str, np.ndarray]) -> None:
    """Write tensors in the layout transformers expects (``format: pt`` metadata, contiguous float32)."""
    contiguous = {name: np.ascontiguousarray(value) for name, value in tensors.items()}
    try:
        save_file(contiguous, str(path), metadata={"format": "pt"})
    except SafetensorError as error:  # a full disk surfaces as safetensors' own error type
        raise OSError(errno.EIO, str(error), str(path)) from None
