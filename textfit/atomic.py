"""Write files so that a failure never leaves half of one: temp path, then rename.

Used for the model folder, training checkpoints, metrics, reports and predictions.
"""

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path


def write_json(path, data: dict) -> None:
    """Write ``data`` as indented JSON, atomically (temp file, then rename)."""
    path = Path(path)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False, sort_keys=False)
        handle.write("\n")
    os.replace(handle.name, path)


def check_output_dir(output_dir) -> Path:
    """The absolute output folder path; raise now (before any training) if it can't be one."""
    path = Path(output_dir).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ValueError(f"Output path {path} is a file; pass a folder path.")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"Output path {path} is inside {parent}, which is a file; pass a folder path.")
            break
    return path


def _recover(final_dir: Path) -> None:
    """Clean up after a writer that was killed: restore a moved-aside folder, drop temporary ones."""
    old_copies = sorted(final_dir.parent.glob(f".{final_dir.name}.old-*/{final_dir.name}"))
    if not final_dir.exists() and old_copies:
        # Killed between moving the previous version aside and renaming the new one in.
        os.rename(old_copies[-1], final_dir)
    for debris in final_dir.parent.glob(f".{final_dir.name}.tmp-*"):
        shutil.rmtree(debris, ignore_errors=True)
    for debris in final_dir.parent.glob(f".{final_dir.name}.old-*"):
        shutil.rmtree(debris, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(final_dir, *, carry_over: tuple[str, ...] = ()):
    """Yield a temporary sibling folder that replaces ``final_dir`` only if the block succeeds.

    A failure (or a kill) mid-write leaves any previous ``final_dir`` untouched, and the next
    call cleans up the debris. Children of the previous folder named in ``carry_over`` (e.g. a
    ``checkpoints`` folder written during training) are moved into the new one.

    Example:
        >>> with atomic_directory("out/model") as tmp_dir:
        ...     (tmp_dir / "config.json").write_text("{}")
    """
    final_dir = Path(final_dir).expanduser().resolve()
    if final_dir.exists() and not final_dir.is_dir():
        raise ValueError(f"Output path {final_dir} is a file; pass a folder path.")
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    _recover(final_dir)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.tmp-", dir=final_dir.parent))
    try:
        yield tmp_dir
        for name in carry_over:
            if (final_dir / name).exists() and not (tmp_dir / name).exists():
                os.rename(final_dir / name, tmp_dir / name)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    old_dir = None
    if final_dir.exists():
        old_dir = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.old-", dir=final_dir.parent))
        os.rename(final_dir, old_dir / final_dir.name)
    os.rename(tmp_dir, final_dir)
    if old_dir is not None:
        shutil.rmtree(old_dir, ignore_errors=True)
