"""The families on the JAX backend (in a subprocess: the suite itself runs on torch).

One subprocess loads tiny RoBERTa, DeBERTa-v3 and ModernBERT classifiers on JAX, checks their
logits against transformers' (computed here), trains each for an epoch and saves it; the saved
folders then load here, on torch, with the same logits.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import torch
import transformers

from textfit import TextClassifier
from tiny_checkpoints import SAMPLE_TEXTS, write_checkpoint

JAX_FAMILIES = ("roberta", "deberta-v2", "modernbert")
LABELS = ["neg", "pos", "meh"]

ON_JAX = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import textfit
    assert textfit.backend_name() == "jax"
    jobs, texts, labels = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
    results = {}
    for model_type, (folder, output_dir) in jobs.items():
        model = textfit.TextClassifier.from_pretrained(folder)
        before = model.predict_logits(texts).tolist()
        model.compile(learning_rate=1e-3)
        history = model.fit(texts, labels, epochs=1, batch_size=4, verbose=0)
        model.save_pretrained(output_dir)
        results[model_type] = {"before": before, "after": model.predict_logits(texts).tolist(), "loss": history.history["loss"]}
    print(json.dumps(results))
    """
)


def test_families_load_train_and_save_on_jax(tmp_path):
    jobs, expected = {}, {}
    for model_type in JAX_FAMILIES:
        folder = write_checkpoint(model_type, tmp_path / model_type, task=True, labels=LABELS)
        hf_model = transformers.AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager").eval()
        hf_tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
        with torch.no_grad():
            expected[model_type] = hf_model(**hf_tokenizer(SAMPLE_TEXTS, padding=True, return_tensors="pt")).logits.numpy()
        jobs[model_type] = (str(folder), str(tmp_path / f"{model_type}-jax"))
    labels = [LABELS[i % 3] for i in range(len(SAMPLE_TEXTS))]
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    completed = subprocess.run(
        [sys.executable, "-c", ON_JAX, json.dumps(jobs), json.dumps(SAMPLE_TEXTS), json.dumps(labels)],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    for model_type in JAX_FAMILIES:
        result = results[model_type]
        np.testing.assert_allclose(np.array(result["before"]), expected[model_type], atol=1e-4, err_msg=model_type)
        assert np.isfinite(result["loss"]).all()
        reloaded = TextClassifier.from_pretrained(jobs[model_type][1])  # trained on JAX, loaded on torch
        np.testing.assert_allclose(reloaded.predict_logits(SAMPLE_TEXTS), np.array(result["after"]), atol=1e-4, err_msg=model_type)
