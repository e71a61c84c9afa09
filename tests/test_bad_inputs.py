"""Every case of the bad-input corpus (tests/bad_inputs/cases.py) through the CLI: one clear error, no traceback,
nothing partially written."""

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bad_inputs.cases import CASES
from conftest import TOY_LABELS, TOY_TEXTS
from textfit import TextClassifier, cli

_LIMITED_MAIN = (
    "import resource, signal, sys\n"
    "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, like a full disk\n"
    "limit = int(sys.argv[1])\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))\n"
    "from textfit.cli import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


def test_the_corpus_has_the_56_cases_the_readme_states():
    assert len(CASES) == 56  # the README states this count
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def trained_dir(tiny_checkpoint_dir, tmp_path_factory):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"], max_length=16)
    model.fit(TOY_TEXTS, TOY_LABELS, epochs=1, batch_size=4, verbose=0)
    return model.save_pretrained(tmp_path_factory.mktemp("bad-inputs") / "trained")


def _snapshot(folder: Path) -> dict:
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_gets_one_clear_error_and_writes_nothing(case, tmp_path, tiny_checkpoint_dir, trained_dir, capsys):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(tiny_checkpoint_dir, work / "_tiny")
    case.setup(work)
    values = {"work": work, "tiny": work / "_tiny", "trained": trained_dir, "out": work / "out"}
    argv = [argument.format(**values) for argument in case.argv]
    output_before = _snapshot(work / "out")
    assert bool(output_before) == case.preexisting_output, "setup left an unexpected output"
    capsys.readouterr()
    if case.subprocess:
        completed = subprocess.run(
            [sys.executable, "-c", _LIMITED_MAIN, str(case.limits["file_size_bytes"]), *argv],
            capture_output=True, text=True, timeout=600,
        )
        status, stderr = completed.returncode, completed.stderr
    else:
        status, stderr = cli.main(argv), capsys.readouterr().err

    assert status != 0
    assert "Traceback" not in stderr, stderr
    assert stderr.count("textfit: error: ") == 1, stderr
    message = stderr[stderr.index("textfit: error: "):]
    assert re.search(case.expected, message, flags=re.DOTALL), message
    # Nothing partially written: the output is as it was (absent, or the earlier model), and no debris.
    assert _snapshot(work / "out") == output_before
    assert not list(work.glob(".out.*")), list(work.glob(".out.*"))
