"""Ship ``textfit_backend_hook.pth`` into site-packages, for wheels and editable installs alike.

The metadata lives in pyproject.toml; this file only adds the ``.pth`` file, whose one
line Python's ``site`` runs at every interpreter start so that ``import keras`` before
``import textfit`` gets an installed backend (see ``textfit_backend_hook.py``).

- ``pip install .`` builds a regular wheel: ``build_py`` writes the .pth at the root of
  ``build_lib``, which becomes the root of the wheel, i.e. site-packages.
- ``pip install -e .`` builds a PEP 660 editable wheel, which holds only setuptools' own
  ``__editable__`` .pth and finder (``build_lib`` is thrown away), so ``editable_wheel``
  adds the .pth to that wheel, with its RECORD line.

The name sorts after setuptools' ``__editable__.*.pth`` (``site`` reads .pth files in
sorted order), so in an editable install the import finder for ``textfit_backend_hook``
is in place before the hook's line runs.
"""

import base64
import hashlib
import os
import zipfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

PTH_NAME = "textfit_backend_hook.pth"
# site runs a .pth line only if it starts with "import"; if the module is gone (an editable
# install whose source tree was removed), the line does nothing instead of printing a traceback.
PTH_CONTENT = (
    "import importlib.util; importlib.util.find_spec('textfit_backend_hook') is not None "
    "and __import__('textfit_backend_hook').apply()\n"
)


class BuildPyWithPth(build_py):
    """build_py, plus the .pth at the root of build_lib (the wheel's root: site-packages)."""

    def run(self):
        super().run()
        if not self.editable_mode:
            Path(self.build_lib).mkdir(parents=True, exist_ok=True)
            Path(self.build_lib, PTH_NAME).write_text(PTH_CONTENT, encoding="utf-8")

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        if not self.editable_mode:
            outputs.append(os.path.join(self.build_lib, PTH_NAME))
        return outputs


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}\n"


def add_to_wheel(wheel_path: Path, name: str, data: bytes) -> None:
    """Add a file at the root of a wheel and list it in the wheel's RECORD."""
    with zipfile.ZipFile(wheel_path) as wheel:
        if name in wheel.namelist():
            return
        entries = [(info, wheel.read(info)) for info in wheel.infolist()]
    records = [info.filename for info, _ in entries if info.filename.endswith(".dist-info/RECORD")]
    if len(records) != 1:
        raise RuntimeError(f"expected one RECORD in {wheel_path}, found {records}")
    tmp_path = wheel_path.with_name(wheel_path.name + ".tmp")
    with zipfile.ZipFile(tmp_path, "w", zipfile.ZIP_DEFLATED) as out:
        record = b""
        for info, payload in entries:
            if info.filename == records[0]:
                record = payload
            else:
                out.writestr(info, payload)
        out.writestr(name, data)
        out.writestr(records[0], _record_line(name, data).encode() + record)
    os.replace(tmp_path, wheel_path)


class EditableWheelWithPth(editable_wheel):
    """editable_wheel, plus the .pth in the editable wheel (installed into site-packages)."""

    def run(self):
        super().run()
        wheels = list(Path(self.dist_dir).glob("*-0.editable-*.whl"))
        if not wheels:
            raise RuntimeError(f"no editable wheel found in {self.dist_dir}")
        for wheel_path in wheels:
            add_to_wheel(wheel_path, PTH_NAME, PTH_CONTENT.encode("utf-8"))


setup(cmdclass={"build_py": BuildPyWithPth, "editable_wheel": EditableWheelWithPth})
