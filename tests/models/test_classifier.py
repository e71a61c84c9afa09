"""TextClassifier: loading reports, the standard task checks, HF round trip, compile/fit behaviour."""

import json
import re

import keras
import numpy as np
import pytest
import torch
import transformers
from safetensors.numpy import load_file, save_file

from conftest import TINY_CONFIG, write_tiny_checkpoint
from textfit import TextClassifier, WarmupThenDecay
from textfit.data.batches import TextBatches


def check_classifier(checkpoint_dir, texts, labels, tmp_path, **load_kwargs):
    """The standard task checks every model family runs: predict, fit, save -> load."""
    label_names = sorted(set(labels))
    model = TextClassifier.from_pretrained(checkpoint_dir, labels=label_names, **load_kwargs)
    logits = model.predict_logits(texts)
    assert logits.shape == (len(texts), len(label_names))
    assert set(model.predict(texts)) <= set(label_names)
    model.compile(learning_rate=1e-3)
    history = model.fit(texts, labels, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    saved_dir = model.save_pretrained(tmp_path / "saved")
    reloaded = TextClassifier.from_pretrained(saved_dir)
    assert reloaded.labels == model.labels
    assert reloaded.load_report.newly_initialized == ()
    np.testing.assert_allclose(reloaded.predict_logits(texts), model.predict_logits(texts), atol=1e-6)
    return model, saved_dir


def test_bert_passes_the_standard_task_checks(tiny_checkpoint_dir, toy_data, tmp_path):
    check_classifier(tiny_checkpoint_dir, *toy_data, tmp_path)


def test_from_pretrained_reports_new_head_and_unused_tensors(tiny_checkpoint_copy, caplog):
    tensors = load_file(tiny_checkpoint_copy / "model.safetensors")
    tensors["cls.predictions.bias"] = np.zeros(TINY_CONFIG["vocab_size"], dtype=np.float32)
    save_file(tensors, str(tiny_checkpoint_copy / "model.safetensors"), metadata={"format": "pt"})
    with caplog.at_level("INFO", logger="textfit"):
        model = TextClassifier.from_pretrained(tiny_checkpoint_copy, labels=["a", "b", "c"])
    assert model.load_report.newly_initialized == ("classifier.weight", "classifier.bias")
    assert model.load_report.unused == ("cls.predictions.bias",)
    assert "embeddings.position_ids" not in model.load_report.unused
    assert "Newly initialised weights" in caplog.text and "classifier.weight" in caplog.text
    assert "cls.predictions.bias" in caplog.text


def test_from_pretrained_accepts_bert_prefix_and_missing_pooler(tmp_path, toy_data):
    plain = TextClassifier.from_pretrained(write_tiny_checkpoint(tmp_path / "plain"), num_labels=2)
    prefixed = TextClassifier.from_pretrained(write_tiny_checkpoint(tmp_path / "prefixed", prefix="bert."), num_labels=2)
    np.testing.assert_allclose(prefixed.predict_logits(toy_data[0]), plain.predict_logits(toy_data[0]), atol=1e-6)
    no_pooler = TextClassifier.from_pretrained(write_tiny_checkpoint(tmp_path / "no-pooler", with_pooler=False), num_labels=2)
    assert no_pooler.load_report.newly_initialized == (
        "bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"
    )


def test_from_pretrained_requires_labels_for_a_bare_encoder(tiny_checkpoint_dir):
    with pytest.raises(ValueError, match=r"without a classification head.*Pass labels="):
        TextClassifier.from_pretrained(tiny_checkpoint_dir)


def test_num_labels_gives_generic_label_names(tiny_checkpoint_dir):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, num_labels=3)
    assert model.labels == ("LABEL_0", "LABEL_1", "LABEL_2")


def test_pickled_weights_load_with_torchs_weights_only_loader(tiny_checkpoint_copy, toy_data, caplog):
    """Hub folders with only pytorch_model.bin (fp16 here) load like safetensors ones."""
    expected = TextClassifier.from_pretrained(tiny_checkpoint_copy, num_labels=2).predict_logits(toy_data[0])
    tensors = load_file(tiny_checkpoint_copy / "model.safetensors")
    torch.save({name: torch.from_numpy(value).half() if value.dtype == np.float32 else torch.from_numpy(value)
                for name, value in tensors.items()}, tiny_checkpoint_copy / "pytorch_model.bin")
    (tiny_checkpoint_copy / "model.safetensors").unlink()
    with caplog.at_level("INFO", logger="textfit"):
        model = TextClassifier.from_pretrained(tiny_checkpoint_copy, num_labels=2)
    assert "weights-only loader" in caplog.text
    np.testing.assert_allclose(model.predict_logits(toy_data[0]), expected, atol=5e-2)  # fp16 weights


def test_pickled_weights_are_refused_without_torch(tiny_checkpoint_copy, monkeypatch):
    (tiny_checkpoint_copy / "model.safetensors").rename(tiny_checkpoint_copy / "pytorch_model.bin")
    monkeypatch.setattr("textfit.hf.folder.torch_is_installed", lambda: False)
    with pytest.raises(ValueError, match=r"pytorch_model\.bin.*torch is not installed.*safe_serialization=True"):
        TextClassifier.from_pretrained(tiny_checkpoint_copy, num_labels=2)


def test_a_pickle_that_is_not_just_tensors_is_refused(tiny_checkpoint_copy):
    import pickle

    (tiny_checkpoint_copy / "model.safetensors").unlink()
    (tiny_checkpoint_copy / "pytorch_model.bin").write_bytes(pickle.dumps({"weights": print}))
    with pytest.raises(ValueError, match=r"weights-only loader .*damaged, or holds more than tensors"):
        TextClassifier.from_pretrained(tiny_checkpoint_copy, num_labels=2)


def test_tensorflow_weights_are_refused_with_their_conversion(tiny_checkpoint_copy):
    (tiny_checkpoint_copy / "model.safetensors").rename(tiny_checkpoint_copy / "tf_model.h5")
    with pytest.raises(ValueError, match=r"only TensorFlow weights \(tf_model\.h5\).*from_tf=True"):
        TextClassifier.from_pretrained(tiny_checkpoint_copy, num_labels=2)


def test_bfloat16_safetensors_load_as_float32(tiny_checkpoint_copy, toy_data):
    from safetensors.torch import save_file as save_torch_file

    expected = TextClassifier.from_pretrained(tiny_checkpoint_copy, num_labels=2).predict_logits(toy_data[0])
    tensors = load_file(tiny_checkpoint_copy / "model.safetensors")
    save_torch_file({name: torch.from_numpy(value).bfloat16() if value.dtype == np.float32 else torch.from_numpy(value)
                     for name, value in tensors.items()}, str(tiny_checkpoint_copy / "model.safetensors"))
    model = TextClassifier.from_pretrained(tiny_checkpoint_copy, num_labels=2)
    np.testing.assert_allclose(model.predict_logits(toy_data[0]), expected, atol=0.2)
    assert model.backbone.embeddings.token_embedding.embeddings.dtype == "float32"


def test_from_pretrained_names_missing_and_mismatched_tensors(tiny_checkpoint_copy):
    tensors = load_file(tiny_checkpoint_copy / "model.safetensors")
    del tensors["encoder.layer.1.output.dense.weight"]
    tensors["encoder.layer.0.attention.self.query.bias"] = np.zeros(7, dtype=np.float32)
    save_file(tensors, str(tiny_checkpoint_copy / "model.safetensors"))
    with pytest.raises(ValueError) as error:
        TextClassifier.from_pretrained(tiny_checkpoint_copy, num_labels=2)
    message = str(error.value)
    assert "missing encoder.layer.1.output.dense.weight" in message
    assert "encoder.layer.0.attention.self.query.bias: checkpoint (7,), model expects (32,)" in message


def test_from_pretrained_lists_supported_model_types(tiny_checkpoint_copy):
    config = json.loads((tiny_checkpoint_copy / "config.json").read_text())
    (tiny_checkpoint_copy / "config.json").write_text(json.dumps({**config, "model_type": "gpt2"}))
    from textfit.models import FAMILIES

    with pytest.raises(ValueError, match=r"model_type='gpt2'.*Supported model types: " + re.escape(str(sorted(FAMILIES)))):
        TextClassifier.from_pretrained(tiny_checkpoint_copy, num_labels=2)


def test_max_length_beyond_positions_is_refused(tiny_checkpoint_dir):
    with pytest.raises(ValueError, match=r"max_length=100 exceeds the model's 64 position embeddings"):
        TextClassifier.from_pretrained(tiny_checkpoint_dir, num_labels=2, max_length=100)


def test_saved_model_loads_in_transformers_with_same_logits_and_labels(tiny_checkpoint_dir, toy_data, tmp_path):
    from tiny_checkpoints import randomize_head

    texts, labels = toy_data
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    model.fit(texts, labels, epochs=1, batch_size=4, verbose=0)
    randomize_head(model)  # the trained head is still near its initial values: a lost bias would hide under 1e-4
    saved_dir = model.save_pretrained(tmp_path / "saved")
    assert sorted(p.name for p in saved_dir.iterdir()) == [
        "config.json", "model.safetensors", "textfit.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"
    ]
    config = json.loads((saved_dir / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert config["id2label"] == {"0": "neg", "1": "pos"} and config["label2id"] == {"neg": 0, "pos": 1}

    hf_model = transformers.AutoModelForSequenceClassification.from_pretrained(saved_dir).eval()
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(saved_dir)
    with torch.no_grad():
        hf_logits = hf_model(**hf_tokenizer(texts, padding=True, truncation=True, return_tensors="pt")).logits.numpy()
    np.testing.assert_allclose(model.predict_logits(texts), hf_logits, atol=1e-4)
    assert [hf_model.config.id2label[i] for i in hf_logits.argmax(-1)] == model.predict(texts)
    pairs = [(text, "the plot was dull") for text in texts]
    with torch.no_grad():
        hf_pair_logits = hf_model(**hf_tokenizer(texts, [pair for _, pair in pairs], padding=True, return_tensors="pt")).logits.numpy()
    np.testing.assert_allclose(model.predict_logits(pairs), hf_pair_logits, atol=1e-4)


def test_transformers_classifier_folder_loads_with_its_head(tmp_path, toy_data):
    """A BertForSequenceClassification saved by transformers (bert. prefix, classifier.*) keeps its head."""
    torch.manual_seed(0)
    config = transformers.BertConfig(**{k: v for k, v in TINY_CONFIG.items() if k != "architectures"},
                                     id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1})
    hf_model = transformers.BertForSequenceClassification(config).eval()
    hf_dir = write_tiny_checkpoint(tmp_path / "hf")
    hf_model.save_pretrained(hf_dir)
    model = TextClassifier.from_pretrained(hf_dir)
    assert model.labels == ("neg", "pos")
    assert model.load_report.newly_initialized == ()
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(hf_dir)
    with torch.no_grad():
        hf_logits = hf_model(**hf_tokenizer(toy_data[0], padding=True, return_tensors="pt")).logits.numpy()
    np.testing.assert_allclose(model.predict_logits(toy_data[0]), hf_logits, atol=1e-4)


def test_compile_defaults_are_adamw_warmup_decay_and_logits_loss(tiny_checkpoint_dir):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, num_labels=2)
    model.compile()
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert model.optimizer.weight_decay == pytest.approx(0.01)
    schedule = model.optimizer._learning_rate
    assert isinstance(schedule, WarmupThenDecay)
    assert schedule.peak_learning_rate == pytest.approx(5e-5) and schedule.warmup_fraction == pytest.approx(0.1)
    assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)
    assert model.loss.get_config()["from_logits"] is True
    assert [m.name for m in model.metrics if m.name != "loss"] == ["compile_metrics"]
    assert model.logits_layer.activation is keras.activations.linear


def test_fit_plans_the_schedule_from_the_data(tiny_checkpoint_dir, toy_data):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    model.compile()
    model.fit(*toy_data, epochs=3, batch_size=2, verbose=0)
    schedule = model.optimizer._learning_rate
    assert schedule.total_steps == 12 and schedule.warmup_steps == 1
    assert float(schedule(12)) == pytest.approx(0.0)


def test_compile_accepts_keras_optimizer_loss_and_metrics(tiny_checkpoint_dir, toy_data):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    history = model.fit(*toy_data, epochs=1, batch_size=4, verbose=0)
    assert "sparse_categorical_accuracy" in history.history


def test_fit_lowers_the_loss(tiny_checkpoint_dir, toy_data):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    before = model.evaluate(*toy_data, verbose=0, return_dict=True)["loss"]
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(*toy_data, epochs=5, batch_size=8, verbose=0, shuffle=False)
    after = model.evaluate(*toy_data, verbose=0, return_dict=True)["loss"]
    assert after < before


def test_tiny_model_memorises_eight_examples(tiny_checkpoint_dir, toy_data):
    """Catches a wrong from_logits, a frozen backbone or a dead schedule."""
    texts, labels = toy_data
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"], dropout=0.0)
    model.compile(learning_rate=1e-3, warmup_fraction=0.0)
    model.fit(texts, labels, epochs=50, batch_size=8, verbose=0)
    assert model.predict(texts) == labels


def test_fit_with_validation_data_and_callbacks(tiny_checkpoint_dir, toy_data):
    texts, labels = toy_data
    seen_epochs = []
    callback = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen_epochs.append(epoch))
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    history = model.fit(texts, labels, validation_data=(texts[:4], labels[:4]), epochs=2, batch_size=4, callbacks=[callback], verbose=0)
    assert seen_epochs == [0, 1]
    assert len(history.history["val_accuracy"]) == 2


def test_fit_validation_split_is_stratified_and_reports_validation_metrics(tiny_checkpoint_dir, toy_data):
    from textfit.training.fit import split_off_validation

    texts, labels = toy_data
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    # Keras' own split takes the tail (all 'neg' here); the stratified one validates every label.
    _, _, _, (_, validation_labels) = split_off_validation(model, texts, labels, None, 0.25, seed=0)
    assert sorted(validation_labels) == ["neg", "pos"]
    history = model.fit(texts, labels, validation_split=0.25, epochs=1, batch_size=4, verbose=0)
    assert set(history.history) >= {"val_loss", "val_accuracy"}


def test_fit_accepts_label_ids_text_pairs_pretokenized_and_datasets(tiny_checkpoint_dir, toy_data):
    texts, labels = toy_data
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    label_ids = np.array([1 if label == "pos" else 0 for label in labels])
    model.fit(texts, label_ids, epochs=1, batch_size=4, verbose=0)
    pairs = [(text, "the plot") for text in texts]
    model.fit(pairs, labels, epochs=1, batch_size=4, verbose=0)
    assert len(model.predict(pairs)) == len(pairs)
    encoded = model.tokenizer.encode(texts, max_length=16)
    dataset = TextBatches(encoded, label_ids, batch_size=4, shuffle=True, seed=0)
    model.fit(dataset, epochs=1, verbose=0)
    from textfit.data.tokenizer import pad_batch

    arrays = pad_batch(encoded, range(len(texts)), pad_token_id=0)
    model.fit(arrays, label_ids, epochs=1, batch_size=4, verbose=0)
    assert model.predict_logits(arrays).shape == (8, 2)


def test_fit_rejects_unknown_labels_and_missing_texts(tiny_checkpoint_dir, toy_data):
    texts, labels = toy_data
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    with pytest.raises(ValueError, match=r"labels the model does not know: \['neutral'\].*Known labels: \['neg', 'pos'\]"):
        model.fit(texts, labels[:-1] + ["neutral"], verbose=0)
    with pytest.raises(TypeError, match=r"item 1 is None"):
        model.fit(["ok", None], ["neg", "pos"], verbose=0)
    with pytest.raises(ValueError, match=r"8 texts but 2 labels"):
        model.fit(texts, ["neg", "pos"], verbose=0)


def test_predict_returns_labels_and_probabilities(tiny_checkpoint_dir, toy_data):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    assert model.predict("i love it") in ("neg", "pos")
    probabilities = model.predict_proba("i love it")
    assert set(probabilities) == {"neg", "pos"} and sum(probabilities.values()) == pytest.approx(1.0)
    rows = model.predict_proba(toy_data[0])
    assert len(rows) == 8 and all(sum(row.values()) == pytest.approx(1.0) for row in rows)


def test_predict_returns_input_order_despite_length_sorting(tiny_checkpoint_dir):
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"])
    texts = ["the film was great fun and very good " * (i % 5 + 1) for i in range(23)]
    batched = model.predict_logits(texts, batch_size=4)
    one_by_one = np.concatenate([model.predict_logits([text]) for text in texts])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


def test_same_seed_gives_same_weights(tiny_checkpoint_dir, toy_data):
    def trained_logits():
        model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"], seed=3)
        model.fit(*toy_data, epochs=2, batch_size=4, verbose=0)
        return model.predict_logits(toy_data[0])

    np.testing.assert_allclose(trained_logits(), trained_logits(), atol=1e-6)


def test_chunked_predictions_pool_the_windows_and_keep_input_order(tiny_checkpoint_dir):
    from textfit.models.classifier import pool_windows

    texts = ["the film was great fun and very good " * (i % 4 + 1) for i in range(9)]
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"], max_length=12, truncation="chunks")
    encoded = model.encode_texts(texts)
    windows = model.predict_logits([text for text in texts])  # pooled per text
    window_logits = np.concatenate([
        model.predict_on_batch({k: v[None] for k, v in _single(model, encoded, row).items()}) for row in range(len(encoded))
    ])
    np.testing.assert_allclose(windows, pool_windows(window_logits, encoded.example_index, len(texts), "mean"), atol=1e-5)
    order = np.random.default_rng(0).permutation(len(texts))
    np.testing.assert_allclose(model.predict_logits([texts[i] for i in order]), windows[order], atol=1e-5)
    np.testing.assert_allclose(pool_windows(np.array([[1.0, 0.0], [3.0, -2.0], [5.0, 5.0]]), np.array([0, 0, 1]), 2, "max"),
                               [[3.0, 0.0], [5.0, 5.0]])


def _single(model, encoded, row):
    return {"token_ids": encoded.token_ids[row], "segment_ids": encoded.segment_ids[row],
            "padding_mask": np.ones_like(encoded.token_ids[row])}


def test_fit_settles_auto_truncation_on_the_training_texts(tiny_checkpoint_dir, toy_data, caplog):
    texts, labels = toy_data
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"], max_length=8)
    assert model.model_config.truncation == "auto"
    with caplog.at_level("INFO", logger="textfit"):
        model.fit([text + " and it was a very long film indeed" for text in texts], labels, epochs=1, verbose=0)
    assert model.model_config.truncation == "head+tail" and "truncation head+tail" in caplog.text
    short = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"], max_length=32)
    short.fit(texts, labels, epochs=1, verbose=0)
    assert short.model_config.truncation == "head"


def test_chunks_train_on_every_window_with_the_texts_label(tiny_checkpoint_dir, tmp_path):
    texts = ["great fun " * 12, "dull plot " * 12]
    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"], max_length=8, truncation="chunks",
                                           dropout=0.0, chunk_pooling="max")
    from textfit.training.fit import as_dataset

    batches = as_dataset(model, texts, ["pos", "neg"], None, 4, shuffle=False, seed=0)
    assert len(batches.targets) == len(batches.encoded) > 2
    assert batches.targets[batches.encoded.example_index == 0].tolist() == [1] * int((batches.encoded.example_index == 0).sum())
    model.compile(learning_rate=1e-3, warmup_fraction=0.0)
    model.fit(texts, ["pos", "neg"], epochs=20, batch_size=4, verbose=0)
    assert model.predict(texts) == ["pos", "neg"]
    reloaded = TextClassifier.from_pretrained(model.save_pretrained(tmp_path / "saved"))
    assert reloaded.model_config.truncation == "chunks" and reloaded.model_config.chunk_pooling == "max"
    np.testing.assert_allclose(reloaded.predict_logits(texts), model.predict_logits(texts), atol=1e-5)
