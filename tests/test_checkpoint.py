"""The checkpoint folder: checks, safe reading, atomic writing."""

import os

import pytest

from textfit import checkpoint


def test_check_checkpoint_dir_lists_missing_files(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError) as error:
        checkpoint.check_checkpoint_dir(tmp_path)
    message = str(error.value)
    assert str(tmp_path.resolve()) in message
    assert "missing model.safetensors, tokenizer.json or vocab.txt" in message and "Found: ['config.json']" in message


def test_check_checkpoint_dir_rejects_missing_folder_and_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        checkpoint.check_checkpoint_dir(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="received a file"):
        checkpoint.check_checkpoint_dir(tmp_path / "file")


def test_read_config_and_weights_name_the_broken_file(tiny_checkpoint_copy):
    (tiny_checkpoint_copy / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json is not valid JSON"):
        checkpoint.read_config(tiny_checkpoint_copy)
    weights = tiny_checkpoint_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"model\.safetensors.*truncated or not safetensors"):
        checkpoint.read_weights(tiny_checkpoint_copy)


def test_atomic_directory_keeps_the_previous_folder_when_writing_fails(tmp_path):
    target = tmp_path / "model"
    with checkpoint.atomic_directory(target) as tmp_dir:
        (tmp_dir / "config.json").write_text("first")
    with pytest.raises(RuntimeError):
        with checkpoint.atomic_directory(target) as tmp_dir:
            (tmp_dir / "config.json").write_text("second")
            raise RuntimeError("disk full")
    assert (target / "config.json").read_text() == "first"
    assert os.listdir(tmp_path) == ["model"]


def test_atomic_directory_replaces_a_complete_previous_folder(tmp_path):
    target = tmp_path / "model"
    for content in ("first", "second"):
        with checkpoint.atomic_directory(target) as tmp_dir:
            (tmp_dir / "config.json").write_text(content)
    assert (target / "config.json").read_text() == "second"
    assert os.listdir(tmp_path) == ["model"]


def test_write_json_is_atomic_and_readable(tmp_path):
    checkpoint.write_json(tmp_path / "metrics.json", {"accuracy": 0.5, "label": "café"})
    assert checkpoint.read_json(tmp_path / "metrics.json") == {"accuracy": 0.5, "label": "café"}
    assert os.listdir(tmp_path) == ["metrics.json"]
