"""The Hugging Face checkpoint folder: checks and safe reading."""


import pytest

from textfit.hf import folder as hf_folder


def test_check_checkpoint_dir_lists_missing_files(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError) as error:
        hf_folder.check_checkpoint_dir(tmp_path)
    message = str(error.value)
    assert str(tmp_path.resolve()) in message
    assert "missing model.safetensors, tokenizer.json or vocab.txt" in message and "Found: ['config.json']" in message


def test_check_checkpoint_dir_rejects_missing_folder_and_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        hf_folder.check_checkpoint_dir(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="received a file"):
        hf_folder.check_checkpoint_dir(tmp_path / "file")


def test_read_config_and_weights_name_the_broken_file(tiny_checkpoint_copy):
    (tiny_checkpoint_copy / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json is not valid JSON"):
        hf_folder.read_config(tiny_checkpoint_copy)
    weights = tiny_checkpoint_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"model\.safetensors.*truncated or not safetensors"):
        hf_folder.read_weights(tiny_checkpoint_copy)
