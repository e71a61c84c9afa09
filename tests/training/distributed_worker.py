"""Run by tests/training/test_distributed.py, plain or under torchrun: fit the tiny model, save what it learned.

    python distributed_worker.py CHECKPOINT_DIR OUT_DIR '{"epochs": 3, "crash_at_step": null, "fail_rank": null}'

Writes OUT_DIR/rank-R.npz (weights and optimizer variables) and OUT_DIR/rank-R.json (history, step count).
"""

import json
import os
import sys
from pathlib import Path

import keras
import numpy as np

from textfit import TextClassifier

WORDS = ["good", "great", "fun", "bad", "awful", "dull", "film", "plot", "acting", "very", "i", "it"]


def texts_and_labels(count: int = 44):
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 9)))) for _ in range(count)]
    labels = ["pos" if sum(w in ("good", "great", "fun") for w in text.split()) >= sum(w in ("bad", "awful", "dull") for w in text.split())
              else "neg" for text in texts]
    return texts, labels


class Crash(keras.callbacks.Callback):
    def __init__(self, step, rank_to_fail):
        super().__init__()
        self.step, self.rank_to_fail = step, rank_to_fail

    def on_train_batch_end(self, batch, logs=None):
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        if step == self.step and (self.rank_to_fail is None or int(os.environ.get("RANK", "0")) == self.rank_to_fail):
            raise RuntimeError(f"deliberate failure at step {step}")


def main():
    checkpoint, out, options = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    texts, labels = texts_and_labels()
    model = TextClassifier.from_pretrained(checkpoint, labels=["neg", "pos"], dropout=0.0, seed=1, precision="float32")
    model.compile(learning_rate=2e-3)
    callbacks = []
    if options.get("crash_at_step"):
        callbacks.append(Crash(options["crash_at_step"], options.get("fail_rank")))
    history = model.fit(texts, labels, epochs=options.get("epochs", 3), batch_size=15, verbose=0, seed=3, callbacks=callbacks,
                        checkpoint_dir=options.get("checkpoint_dir"), checkpoint_every=2)
    rank = int(os.environ.get("RANK", "0"))
    arrays = {f"w{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.trainable_variables)}
    arrays.update({f"o{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.optimizer.variables)})
    np.savez(out / f"rank-{rank}.npz", **arrays)
    record = {"history": history.history, "steps": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
              "names": [v.path for v in model.trainable_variables]}
    (out / f"rank-{rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main()
