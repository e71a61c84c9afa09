"""The local Hugging Face checkpoint folder: check it, read and write its files.

Only JSON and safetensors are ever read: pickled weights (``pytorch_model.bin``)
can run arbitrary code when loaded, so they are refused with a conversion hint.
"""

import errno
import json
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
REQUIRED_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
PICKLED_WEIGHTS = ("pytorch_model.bin", "tf_model.h5", "flax_model.msgpack", "pytorch_model.bin.index.json")

_VALID_DIR_HELP = (
    "A checkpoint folder holds config.json, model.safetensors and tokenizer.json (or vocab.txt), "
    "as written by `save_pretrained` in transformers or textfit."
)


def check_checkpoint_dir(checkpoint_dir) -> Path:
    """Return the absolute checkpoint path, or raise naming every missing file.

    Example:
        >>> path = check_checkpoint_dir("models/minilm")
        >>> (path / "config.json").exists()
        True
    """
    path = Path(checkpoint_dir).expanduser().resolve()
    if not path.exists():
        raise FileNotFoundError(f"Checkpoint folder {path} does not exist. {_VALID_DIR_HELP}")
    if not path.is_dir():
        raise ValueError(f"Expected a checkpoint folder, received a file: {path}. {_VALID_DIR_HELP}")
    missing = []
    if not (path / CONFIG_FILE).is_file():
        missing.append(CONFIG_FILE)
    if not (path / WEIGHTS_FILE).is_file():
        pickled = [name for name in PICKLED_WEIGHTS if (path / name).exists()]
        if pickled:
            raise ValueError(
                f"{path} holds only pickled weights ({', '.join(pickled)}); textfit reads safetensors "
                "only, because loading a pickle can run arbitrary code. Convert it once with transformers: "
                f"python -c \"from transformers import AutoModel; AutoModel.from_pretrained('{path}')"
                f".save_pretrained('{path}', safe_serialization=True)\""
            )
        missing.append(WEIGHTS_FILE)
    if not any((path / name).is_file() for name in REQUIRED_TOKENIZER_FILES):
        missing.append(" or ".join(REQUIRED_TOKENIZER_FILES))
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
    """Read every tensor of ``model.safetensors`` as numpy arrays, keyed by HF name."""
    path = Path(checkpoint_dir) / WEIGHTS_FILE
    try:
        return load_file(path)
    except (SafetensorError, OSError) as error:
        raise ValueError(
            f"Could not read {path}: {error}. The file is truncated or not safetensors; copy it again."
        ) from None


def write_weights(path, tensors: dict[str, np.ndarray]) -> None:
    """Write tensors in the layout transformers expects (``format: pt`` metadata, contiguous float32)."""
    contiguous = {name: np.ascontiguousarray(value) for name, value in tensors.items()}
    try:
        save_file(contiguous, str(path), metadata={"format": "pt"})
    except SafetensorError as error:  # a full disk surfaces as safetensors' own error type
        raise OSError(errno.EIO, str(error), str(path)) from None
