"""Text that is not valid Unicode, through every door: readers, the Python API, the command line."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from conftest import TOY_LABELS, TOY_TEXTS
from textfit import DataConfig, TextClassifier, read_examples
from textfit.data.unicode import invalid_code_point, replace_invalid

LONE = "bad \ud800 text"


def test_invalid_code_points_are_found_and_replaced():
    assert invalid_code_point("fine 😀") is None
    assert invalid_code_point(LONE) == "U+D800 at character 4"
    assert replace_invalid(LONE) == "bad \ufffd text"


def test_jsonl_escape_names_the_row_and_the_fix(tmp_path):
    path = tmp_path / "train.jsonl"
    lines = [json.dumps({"text": text, "label": label}) for text, label in zip(TOY_TEXTS, TOY_LABELS)]
    lines[2] = '{"text": "caf\\ud800 bad", "label": "pos"}'
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"1 text\(s\) in column 'text' are not valid Unicode .*U\+D800 at character 3 of data row 3.*--on-invalid-text replace"):
        read_examples(path)
    assert read_examples(path, DataConfig(on_invalid_text="replace")).texts[2] == "caf\ufffd bad"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_other_readers_and_dataframes_report_rows(tmp_path, suffix):
    # object dtype: pandas 3 stores str columns as UTF-8 and refuses a lone surrogate itself
    table = pd.DataFrame({"text": [*TOY_TEXTS[:3], LONE], "label": TOY_LABELS[:4]}, dtype=object)
    with pytest.raises(ValueError, match=r"not valid Unicode.*data row 4"):
        read_examples(table)
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":  # a CSV holding the escaped surrogate bytes (as written with errors='surrogatepass')
        path.write_bytes(table.to_csv(index=False).encode("utf-8", "surrogatepass"))
        with pytest.raises(ValueError, match=r"is not valid utf-8: byte \d+"):
            read_examples(path)
    else:
        table.assign(text=[replace_invalid(text) for text in table["text"]]).to_parquet(path)  # parquet stores UTF-8 only
        assert read_examples(path).texts[3] == "bad \ufffd text"


def test_python_api_names_the_text(tiny_checkpoint_dir):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    with pytest.raises(ValueError, match=r"Text 1 is not valid Unicode: .*U\+D800 at character 4"):
        model.predict(["fine", LONE])
    with pytest.raises(ValueError, match=r"Text pair 0 is not valid Unicode"):
        model.predict_proba([("fine", LONE)])
    with pytest.raises(ValueError, match=r"Text 2 is not valid Unicode"):
        model.fit(["a", "b", LONE, "d"], ["neg", "pos", "neg", "pos"], verbose=0)


def test_command_line_text_with_undecodable_bytes(tiny_checkpoint_dir, tmp_path):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    saved = model.save_pretrained(tmp_path / "model")
    command = [sys.executable, "-m", "textfit", "predict", "--model", str(saved), "--text", "fine", "--text"]
    bad = subprocess.run([*command, b"caf\xe9"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1
    assert "textfit: error:" in bad.stderr and "not valid Unicode" in bad.stderr and "data row 2" in bad.stderr
    assert "Traceback" not in bad.stderr and "TextEncodeInput" not in bad.stderr
    replaced = subprocess.run([*command, b"caf\xe9", "--on-invalid-text", "replace"], capture_output=True, text=True, timeout=300)
    assert replaced.returncode == 0, replaced.stderr
    assert [json.loads(line)["text"] for line in replaced.stdout.splitlines()] == ["fine", "caf\ufffd"]
