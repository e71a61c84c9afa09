"""The bad-input corpus: each case writes its inputs, runs one `textfit` command, and names the message it expects.

A case is (name, setup, argv, expected): ``setup(work)`` writes files under the folder ``work``;
``argv`` may use {work}, {tiny} (a tiny BERT checkpoint), {trained} (a tiny fine-tuned classifier)
and {out} (``work/out``); ``expected`` is a regex the `textfit: error:` message must match.
Cases with ``subprocess=True`` run the CLI in a child process (resource limits).
"""

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
from safetensors.numpy import load_file, save_file

GOOD_ROWS = [("i love this film", "pos"), ("awful boring plot", "neg"), ("great fun", "pos"), ("dull acting", "neg")] * 6


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Path], None]
    argv: list[str]
    expected: str
    subprocess: bool = False
    preexisting_output: bool = False  # an earlier model at {out} must survive unchanged
    limits: dict = field(default_factory=dict)


def _csv(name, rows=GOOD_ROWS, header=("text", "label")):
    def setup(work: Path):
        pd.DataFrame(rows, columns=list(header)).to_csv(work / name, index=False)
    return setup


def _raw(name, content: bytes | str):
    def setup(work: Path):
        data = content.encode("utf-8") if isinstance(content, str) else content
        (work / name).write_bytes(data)
    return setup


def _both(*setups):
    def setup(work: Path):
        for step in setups:
            step(work)
    return setup


def _jsonl(name, records):
    return _raw(name, "".join(json.dumps(r) + "\n" for r in records))


def _model_copy(change: Callable[[Path], None]):
    """A copy of the tiny checkpoint at work/model, changed by ``change``."""
    def setup(work: Path):
        shutil.copytree(work / "_tiny", work / "model")
        change(work / "model")
    return _both(_csv("train.csv"), setup)


def _edit_config(**updates):
    def change(model: Path):
        config = json.loads((model / "config.json").read_text())
        config.update(updates)
        (model / "config.json").write_text(json.dumps(config))
    return change


def _truncate_weights(model: Path):
    data = (model / "model.safetensors").read_bytes()
    (model / "model.safetensors").write_bytes(data[: len(data) // 2])


def _wrong_tensor_shape(model: Path):
    tensors = load_file(model / "model.safetensors")
    tensors["encoder.layer.1.intermediate.dense.weight"] = tensors["encoder.layer.1.intermediate.dense.weight"][:20]
    save_file(tensors, str(model / "model.safetensors"))


def _train(work: Path, data: str, out: str, *extra: str) -> None:
    from textfit import cli

    assert cli.main(["train", "--model", str(work / "_tiny"), "--train", str(work / data), "--output", str(work / out),
                     "--epochs", "1", "--batch-size", "4", "--max-length", "16", "--validation-split", "0", *extra]) == 0


def _checkpoint_then(change_data: bool):
    def setup(work: Path):
        _csv("train.csv")(work)
        _train(work, "train.csv", "out", "--keep-training-checkpoints")
        if change_data:
            _csv("train.csv", [(t + " again", l) for t, l in GOOD_ROWS])(work)
        else:
            shutil.copytree(work / "_tiny", work / "other-model")
            tensors = load_file(work / "other-model" / "model.safetensors")
            tensors["pooler.dense.bias"] = tensors["pooler.dense.bias"] + 1.0
            save_file(tensors, str(work / "other-model" / "model.safetensors"))
    return setup


def _previous_model(work: Path):
    _csv("train.csv")(work)
    _train(work, "train.csv", "out")


TRAIN = ["train", "--model", "{tiny}", "--train", "{work}/train.csv", "--output", "{out}", "--epochs", "1",
         "--batch-size", "4", "--max-length", "16"]


def _train_with(*extra):
    return [*TRAIN, *extra]


CASES = [
    # === Data files ===
    Case("missing-file", lambda w: None, _train_with(), r"Data file .*train\.csv does not exist"),
    Case("directory-instead-of-file", lambda w: (w / "train.csv").mkdir(), _train_with(), r"received a folder: .*train\.csv"),
    Case("empty-file", _raw("train.csv", b""), _train_with(), r"train\.csv is empty"),
    Case("header-only", _raw("train.csv", "text,label\n"), _train_with(), r"train\.csv has a header but no data rows"),
    Case("missing-text-column", _csv("train.csv", header=("review", "label")), _train_with(),
         r"Missing: text_column='text' \(did you mean 'review'\?\): pass --text-column"),
    Case("missing-label-column", _csv("train.csv", header=("text", "sentiment")), _train_with(),
         r"Missing: label_column='label' \(did you mean 'sentiment'\?\): pass --label-column"),
    Case("wrong-delimiter", _raw("train.csv", "text;label\n" + "".join(f"{t};{l}\n" for t, l in GOOD_ROWS)), _train_with(),
         r"read as a single column 'text;label': its fields look separated by semicolons.*save it with commas"),
    Case("ragged-rows", _raw("train.csv", "text,label\ngood film,pos\nbad,neg,extra,fields\nok,pos\n"), _train_with(),
         r"Could not parse .*train\.csv: .*Expected 2 fields in line 3, saw 4"),
    Case("invalid-jsonl-line", _raw("train.jsonl", '{"text": "a", "label": "x"}\n{"text": "b" "label": "y"}\n'),
         [*TRAIN[:4], "{work}/train.jsonl", *TRAIN[5:]], r"train\.jsonl line 2 is not valid JSON"),
    Case("jsonl-line-not-an-object", _raw("train.jsonl", '{"text": "a", "label": "x"}\n["b", "y"]\n'),
         [*TRAIN[:4], "{work}/train.jsonl", *TRAIN[5:]], r"train\.jsonl line 2 is a JSON list, expected an object"),
    Case("parquet-wrong-types", lambda w: pd.DataFrame({"text": [1, 2, 3, 4], "label": ["a", "b", "a", "b"]}).to_parquet(w / "train.parquet"),
         [*TRAIN[:4], "{work}/train.parquet", *TRAIN[5:]], r"4 value\(s\) in column 'text' are not text \(int\)"),
    Case("empty-texts", _csv("train.csv", GOOD_ROWS + [("", "pos"), (" ", "neg")]), _train_with(),
         r"2 empty text\(s\) in column 'text': data rows 25, 26"),
    Case("empty-labels", _csv("train.csv", GOOD_ROWS + [("fine film", "")]), _train_with(),
         r"1 empty label\(s\) in column 'label': data rows 25"),
    Case("one-class-only", _csv("train.csv", [(t, "pos") for t, _ in GOOD_ROWS]), _train_with("--validation-split", "0"),
         r"single label \['pos'\]: a classifier needs at least two"),
    Case("unseen-validation-labels", _both(_csv("train.csv"), _csv("val.csv", [("so so", "meh"), ("great", "pos")])),
         _train_with("--validation", "{work}/val.csv"), r"val\.csv has labels that training never saw: \['meh'\]"),
    Case("num-labels-smaller-than-labels", _csv("train.csv", GOOD_ROWS + [("so so film", "meh")] * 3),
         _train_with("--num-labels", "2"), r"num_labels=2 but the training data has 3 labels: \['meh', 'neg', 'pos'\]"),
    Case("non-utf8-bytes", _raw("train.csv", b"text,label\ngood film,pos\ncaf\xe9 film,neg\n"), _train_with(),
         r"not valid utf-8: byte 28 \(0xe9, line 3\) cannot be decoded.*--encoding latin-1"),
    # A long text is data; a cell holding lines that parse as rows of its own file is an unclosed quote.
    Case("unclosed-quote-swallows-rows", _raw("train.csv", "text,label\n" + "".join(f"{t},{l}\n" for t, l in GOOD_ROWS[:12])
                                              + '"oops no closing quote,neg\n' + "".join(f"{t},{l}\n" for t, l in GOOD_ROWS[12:])
                                              + 'the end" of it,pos\n'), _train_with(),
         r"1 cell\(s\) in column 'text' hold lines that look like rows of this file \(data row 13 holds 13.*unclosed quote"),
    Case("unclosed-quote-in-tsv", _raw("train.tsv", "text\tlabel\n" + "".join(f"{t}\t{l}\n" for t, l in GOOD_ROWS[:6])
                                       + '"a quote that opens\tpos\n' + "".join(f"{t}\t{l}\n" for t, l in GOOD_ROWS[6:])
                                       + 'and closes" late\tneg\n'), [*TRAIN[:4], "{work}/train.tsv", *TRAIN[5:]],
         r"hold lines that look like rows of this file \(data row 7 holds 19"),
    Case("float-labels", _csv("train.csv", [(t, s) for (t, _), s in zip(GOOD_ROWS, [0.5, 1.5, 2.25] * 8)]), _train_with(),
         r"Column 'label' holds fractional numbers .*needs class labels, not scores"),
    Case("multi-label-mixed-separators",
         _csv("train.csv", [(t, ["sports|politics", "sports", "sports,politics", "art"][i % 4]) for i, (t, _) in enumerate(GOOD_ROWS)]),
         _train_with(), r"separates labels with '\|', but 6 cell\(s\) use ',' between known labels: data rows 3, 7, 11"),
    Case("regression-non-numeric-targets",
         _csv("train.csv", [(t, ["4.5", "3", "high", "2.25"][i % 4]) for i, (t, _) in enumerate(GOOD_ROWS)]),
         _train_with("--task", "regression"), r"6 target\(s\) in column 'label' are not numbers \(e.g. \['high'\]\): data rows 3, 7"),
    Case("mixed-int-and-string-labels", _jsonl("train.jsonl", [{"text": t, "label": 1 if i % 3 == 0 else "pos"} for i, (t, _) in enumerate(GOOD_ROWS)]),
         [*TRAIN[:4], "{work}/train.jsonl", *TRAIN[5:]], r"Column 'label' mixes numbers \(8\) and text \(16\)"),
    Case("unknown-suffix", _raw("train.xlsx", b"PK\x03\x04"), [*TRAIN[:4], "{work}/train.xlsx", *TRAIN[5:]],
         r"Cannot tell the format of .*train\.xlsx from its suffix '\.xlsx'"),
    Case("validation-missing-column", _both(_csv("train.csv"), _csv("val.csv", header=("body", "label"))),
         _train_with("--validation", "{work}/val.csv"), r"Expected columns \['text', 'label'\] in .*val\.csv"),
    Case("missing-text-pair-column", _csv("train.csv"), _train_with("--text-pair-column", "hypothesis"),
         r"Missing: text_pair_column='hypothesis'"),
    # === Model folders ===
    Case("model-without-config", _model_copy(lambda m: (m / "config.json").unlink()),
         [*TRAIN[:2], "{work}/model", *TRAIN[3:]], r"is missing config\.json\. Found: \["),
    Case("model-without-weights", _model_copy(lambda m: (m / "model.safetensors").unlink()),
         [*TRAIN[:2], "{work}/model", *TRAIN[3:]], r"is missing model\.safetensors"),
    Case("model-without-tokenizer", _model_copy(lambda m: [(m / n).unlink() for n in ("tokenizer.json", "vocab.txt")]),
         [*TRAIN[:2], "{work}/model", *TRAIN[3:]], r"is missing tokenizer\.json or vocab\.txt"),
    Case("damaged-pickled-weights", _model_copy(lambda m: (m / "model.safetensors").rename(m / "pytorch_model.bin")),
         [*TRAIN[:2], "{work}/model", *TRAIN[3:]], r"Could not read .*pytorch_model\.bin with torch's weights-only loader .*damaged"),
    Case("tensorflow-weights-only", _model_copy(lambda m: (m / "model.safetensors").rename(m / "tf_model.h5")),
         [*TRAIN[:2], "{work}/model", *TRAIN[3:]], r"holds only TensorFlow weights \(tf_model\.h5\).*from_tf=True"),
    Case("truncated-safetensors", _model_copy(_truncate_weights), [*TRAIN[:2], "{work}/model", *TRAIN[3:]],
         r"Could not read .*model\.safetensors: .*truncated or not safetensors"),
    Case("config-disagrees-with-tensors", _model_copy(_edit_config(intermediate_size=40)), [*TRAIN[:2], "{work}/model", *TRAIN[3:]],
         r"model\.safetensors does not match its config\.json: .*intermediate\.dense\.weight: checkpoint \(37, 32\), model expects \(40, 32\)"),
    Case("tensor-shape-lies", _model_copy(_wrong_tensor_shape), [*TRAIN[:2], "{work}/model", *TRAIN[3:]],
         r"encoder\.layer\.1\.intermediate\.dense\.weight: checkpoint \(20, 32\), model expects \(37, 32\)"),
    Case("unknown-model-type", _model_copy(_edit_config(model_type="llama")), [*TRAIN[:2], "{work}/model", *TRAIN[3:]],
         r"Unsupported model_type='llama' in config\.json\. Supported model types: \[.*'bert'.*'deberta-v2'.*'roberta'"),
    Case("config-not-json", _model_copy(lambda m: (m / "config.json").write_text("{'model_type': 'bert'")),
         [*TRAIN[:2], "{work}/model", *TRAIN[3:]], r"config\.json is not valid JSON"),
    Case("config-damaged-value", _model_copy(_edit_config(num_hidden_layers="two")), [*TRAIN[:2], "{work}/model", *TRAIN[3:]],
         r"config\.json: num_hidden_layers must be a positive integer, found 'two'"),
    Case("tokenizer-larger-than-embeddings", _model_copy(lambda m: _wrong_vocab(m)), [*TRAIN[:2], "{work}/model", *TRAIN[3:]],
         r"tokenizer has \d+ tokens but the model's embedding matrix has 50 rows"),
    # === Output ===
    Case("output-is-a-file", _both(_csv("train.csv"), _raw("out", b"not a folder")), _train_with(), r"Output path .*out is a file"),
    Case("unwritable-output-location", _csv("train.csv"), [*TRAIN[:6], "/sys/textfit-bad-input-test", *TRAIN[7:]],
         r"could not read or write /sys/textfit-bad-input-test: Operation not permitted"),
    Case("full-disk-keeps-previous-model", _previous_model, _train_with("--validation-split", "0"), r"could not read or write .*File too large",
         subprocess=True, preexisting_output=True, limits={"file_size_bytes": 50_000}),
    # === Settings ===
    Case("zero-epochs", _csv("train.csv"), [*TRAIN[:8], "0", *TRAIN[9:]], r"epochs must be an integer >= 1\. Received: epochs=0"),
    Case("negative-epochs", _csv("train.csv"), [*TRAIN[:8], "-2", *TRAIN[9:]], r"epochs must be an integer >= 1\. Received: epochs=-2"),
    Case("zero-batch-size", _csv("train.csv"), [*TRAIN[:10], "0", *TRAIN[11:]], r"batch_size must be an integer >= 1\. Received: batch_size=0"),
    Case("negative-learning-rate", _csv("train.csv"), _train_with("--learning-rate=-1e-5"), r"learning_rate must be > 0\. Received: learning_rate=-1e-05"),
    Case("zero-learning-rate", _csv("train.csv"), _train_with("--learning-rate", "0"), r"learning_rate must be > 0\. Received: learning_rate=0\.0"),
    Case("max-length-beyond-positions", _csv("train.csv"), [*TRAIN[:12], "512"], r"max_length=512 exceeds the model's 64 position embeddings"),
    Case("warmup-fraction-out-of-range", _csv("train.csv"), _train_with("--warmup-fraction", "2"), r"warmup_fraction must be in \[0, 1\]\. Received: warmup_fraction=2\.0"),
    Case("validation-split-out-of-range", _csv("train.csv"), _train_with("--validation-split", "1.5"), r"validation_split must be in \[0, 1\)\. Received: validation_split=1\.5"),
    # === Resume ===
    Case("resume-with-other-data", _checkpoint_then(change_data=True), _train_with("--resume", "--validation-split", "0"),
         r"checkpoint .*step-\d+ was written by a run with different data \(data: checkpoint", preexisting_output=True),
    Case("resume-with-other-model", _checkpoint_then(change_data=False),
         ["train", "--model", "{work}/other-model", *TRAIN[3:], "--resume", "--validation-split", "0"],
         r"written by a run with different model weights or labels \(model: checkpoint", preexisting_output=True),
    Case("resume-without-checkpoint", _csv("train.csv"), _train_with("--resume"), r"Asked to resume, but .*checkpoints holds no complete checkpoint"),
    # === Evaluate and predict ===
    Case("evaluate-unknown-labels", _csv("test.csv", [("great", "pos"), ("fine", "neutral")]),
         ["evaluate", "--model", "{trained}", "--data", "{work}/test.csv"], r"labels the model does not know: \['neutral'\]"),
    Case("predict-missing-text-column", _csv("new.csv", header=("body", "label")),
         ["predict", "--model", "{trained}", "--input", "{work}/new.csv", "--output", "{work}/p.csv"], r"Missing: text_column='text' \(did you mean 'body'\?\)"),
    Case("predict-unsupported-output", _csv("new.csv"), ["predict", "--model", "{trained}", "--input", "{work}/new.csv", "--output", "{work}/p.xlsx"],
         r"Cannot write predictions as '\.xlsx'"),
    Case("predict-with-bare-encoder", lambda w: None, ["predict", "--model", "{tiny}", "--text", "hello"], r"holds an encoder without a classification head"),
]


def _wrong_vocab(model: Path) -> None:
    _edit_config(vocab_size=50)(model)
    tensors = load_file(model / "model.safetensors")
    tensors["embeddings.word_embeddings.weight"] = tensors["embeddings.word_embeddings.weight"][:50]
    save_file(tensors, str(model / "model.safetensors"))
