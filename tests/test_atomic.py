"""Atomic writes: a failure never leaves a half-written folder or file."""

import os

import pytest

from textfit import atomic
from textfit.hf import folder as hf_folder


def test_atomic_directory_keeps_the_previous_folder_when_writing_fails(tmp_path):
    target = tmp_path / "model"
    with atomic.atomic_directory(target) as tmp_dir:
        (tmp_dir / "config.json").write_text("first")
    with pytest.raises(RuntimeError):
        with atomic.atomic_directory(target) as tmp_dir:
            (tmp_dir / "config.json").write_text("second")
            raise RuntimeError("disk full")
    assert (target / "config.json").read_text() == "first"
    assert os.listdir(tmp_path) == ["model"]


def test_atomic_directory_replaces_a_complete_previous_folder(tmp_path):
    target = tmp_path / "model"
    for content in ("first", "second"):
        with atomic.atomic_directory(target) as tmp_dir:
            (tmp_dir / "config.json").write_text(content)
    assert (target / "config.json").read_text() == "second"
    assert os.listdir(tmp_path) == ["model"]


def test_write_json_is_atomic_and_readable(tmp_path):
    atomic.write_json(tmp_path / "metrics.json", {"accuracy": 0.5, "label": "café"})
    assert hf_folder.read_json(tmp_path / "metrics.json") == {"accuracy": 0.5, "label": "café"}
    assert os.listdir(tmp_path) == ["metrics.json"]
