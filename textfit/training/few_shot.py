"""Few-shot training: SetFit's recipe, inside the model's own Hugging Face head.

SetFit (Tunstall et al., 2022) beats plain fine-tuning when there are a handful of examples per
label: it first fine-tunes the encoder contrastively on pairs of texts (same label: similar,
different labels: dissimilar), which turns N examples into ~2 x 20 x N training signals, then fits
a logistic regression on the embeddings. textfit does the same, and fits the logistic regression
on the vector its classification head feeds to the final Dense (BERT: the pooler's tanh(W h_CLS);
RoBERTa/ELECTRA: classifier.dense; ModernBERT: head.dense + norm), so the logistic regression *is*
the logits layer: the saved folder is an ordinary ``*ForSequenceClassification`` that transformers
loads and runs with the same probabilities, and predict/evaluate/serve need nothing new.

Stage 1 regresses the cosine similarity of the two texts' mean-pooled token vectors (the
sentence embedding SetFit trains) onto 1 (same label) or 0 (different labels) with mean squared
error: SetFit's CosineSimilarityLoss. Contrasting the head's own vector instead was measured worse
(benchmarks/small_data.py, tweets, 32 per label, seed 0: accuracy 0.591 against 0.639), as the
pooled CLS vector of a sentence-transformer checkpoint was never trained as an embedding; with 8
per label the two were level (0.547 and 0.535 over 3 seeds). Stage 2 is scikit-learn's
multinomial logistic regression on the head's vectors of every training text, copied into the head.
Stage 3 fine-tunes the whole classifier with cross-entropy from there (10 epochs, batch 8, learning
rate 5e-5), as SetFit's end-to-end head phase does: the head then reads the contrastively trained
encoder through its own CLS path. Measured (3 seeds, same benchmark): 8 per label 0.535 -> 0.545,
32 per label 0.615 -> 0.632, for ~10-20 s more.
"""

import logging
import math

import keras
import numpy as np
from keras import ops

from textfit.data.tokenizer import pad_batch
from textfit.training.schedule import default_optimizer

logger = logging.getLogger("textfit")


def make_pairs(label_ids, *, num_iterations: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SetFit's pairs: per iteration and example, one partner of the same label and one of another.

    Returns (first indices, second indices, targets), shuffled; targets are 1.0 (same label) or 0.0.
    An example whose label has no other example gets no positive pair; a data set with one label
    none that are negative.
    """
    label_ids = np.asarray(label_ids)
    rng = np.random.default_rng(seed)
    members = {label: np.flatnonzero(label_ids == label) for label in np.unique(label_ids)}
    first, second, targets = [], [], []
    for _ in range(num_iterations):
        for index, label in enumerate(label_ids):
            same = members[label][members[label] != index]
            if len(same):
                first.append(index), second.append(int(rng.choice(same))), targets.append(1.0)
            other = np.flatnonzero(label_ids != label)
            if len(other):
                first.append(index), second.append(int(rng.choice(other))), targets.append(0.0)
    order = rng.permutation(len(first))
    return np.asarray(first)[order], np.asarray(second)[order], np.asarray(targets, dtype=np.float32)[order]


class PairBatches(keras.utils.PyDataset):
    """Batches of text pairs, each side padded to its own longest text, with their similarity targets."""

    def __init__(self, encoded, first, second, targets, *, batch_size: int, pad_token_id: int):
        super().__init__()
        self.encoded, self.first, self.second, self.targets = encoded, first, second, targets
        self.batch_size, self.pad_token_id = batch_size, pad_token_id

    def __len__(self):
        return math.ceil(len(self.targets) / self.batch_size)

    def __getitem__(self, index):
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        inputs = {
            "first": pad_batch(self.encoded, self.first[rows], pad_token_id=self.pad_token_id),
            "second": pad_batch(self.encoded, self.second[rows], pad_token_id=self.pad_token_id),
        }
        return inputs, self.targets[rows]


class PairSimilarity(keras.Model):
    """Cosine similarity of two texts' embeddings: what stage 1 trains (the classifier's weights, shared).

    ``pooling`` "mean": the mean of the encoder's token vectors (SetFit's); "head": the vector the
    head's final Dense reads.
    """

    def __init__(self, classifier, pooling: str = "mean", **kwargs):
        super().__init__(**kwargs)
        self.classifier = classifier
        self.pooling = pooling

    def embed(self, inputs, training=False):
        if self.pooling == "head":
            return self.classifier.features(inputs, training=training)
        sequence = self.classifier.backbone(inputs["token_ids"], inputs["segment_ids"], inputs["padding_mask"], training=training)
        mask = ops.cast(inputs["padding_mask"], sequence.dtype)[:, :, None]
        return ops.sum(sequence * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)

    def call(self, inputs, training=False):
        first = _normalized(self.embed(inputs["first"], training=training))
        second = _normalized(self.embed(inputs["second"], training=training))
        return ops.sum(first * second, axis=-1)


def _normalized(features):
    features = ops.cast(features, "float32")
    return features / ops.maximum(ops.norm(features, axis=-1, keepdims=True), 1e-12)


def fit_few_shot(model, texts, label_ids, *, num_iterations: int = 20, batch_size: int = 16, learning_rate: float = 2e-5,
                 epochs: int = 1, seed: int = 0, callbacks=None, verbose="auto", pooling: str = "mean",
                 fine_tune_epochs: int = 10, fine_tune_batch_size: int = 8, fine_tune_learning_rate: float = 5e-5) -> dict:
    """Train ``model`` (a single-label ``TextClassifier``) on few examples; returns a summary for the log.

    ``texts`` are strings (or (text, pair) tuples), ``label_ids`` their label ids. The contrastive stage's
    defaults are SetFit's: 20 pair iterations, batch 16, learning rate 2e-5, one epoch, warm-up over
    10 % of the steps. ``fine_tune_epochs=0`` skips stage 3. ``callbacks`` see the contrastive stage.
    """
    import time

    from sklearn.linear_model import LogisticRegression

    from textfit.data.inputs import split_texts

    label_ids = np.asarray(label_ids, dtype=np.int64)
    if len(np.unique(label_ids)) < 2:
        raise ValueError("Few-shot training needs examples of at least two labels.")
    started = time.perf_counter()
    first, second, targets = make_pairs(label_ids, num_iterations=num_iterations, seed=seed)
    split = split_texts(texts)
    encoded = model.encode_texts(split[0], split[1])
    if encoded.example_index is not None:
        raise ValueError("Few-shot training reads one window per text; use truncation head, tail or head+tail.")
    pairs = PairBatches(encoded, first, second, targets, batch_size=batch_size, pad_token_id=model.tokenizer.pad_token_id)
    optimizer = default_optimizer(learning_rate=learning_rate, weight_decay=0.01, warmup_fraction=0.1)
    optimizer._learning_rate.plan(start_step=0, total_steps=len(pairs) * epochs)
    similarity = PairSimilarity(model, pooling=pooling)
    # Stage 1 trains the encoder (and the head's dense with pooling="head"); a head that gets no gradient is
    # frozen, or Keras warns "Gradients do not exist" for it.
    frozen = model.head.logits if pooling == "head" else model.head
    frozen.trainable = False
    try:
        similarity.compile(optimizer=optimizer, loss="mean_squared_error")
        keras.utils.set_random_seed(seed)
        history = similarity.fit(pairs, epochs=epochs, callbacks=callbacks, verbose=verbose, shuffle=False)
    finally:
        frozen.trainable = True
    contrastive_seconds = time.perf_counter() - started
    features = model.predict_features(texts)
    head = LogisticRegression(max_iter=2000, C=1.0, random_state=seed)
    head.fit(features, label_ids)
    kernel, bias = _logits_layer(head, model.num_classes)
    model.head.logits.kernel.assign(kernel)
    model.head.logits.bias.assign(bias)
    model._textfit_state["head_trained"] = True  # stage 3 starts from this head: its step-0 loss is not a new head's
    head_seconds = time.perf_counter() - started - contrastive_seconds
    if fine_tune_epochs:
        model.compile(learning_rate=fine_tune_learning_rate)
        model.fit(texts, model.label_map.decode(label_ids), epochs=fine_tune_epochs, batch_size=fine_tune_batch_size,
                  verbose=verbose, seed=seed)
    summary = {
        "pairs": int(len(targets)), "pair_steps": len(pairs) * epochs, "contrastive_loss": float(history.history["loss"][-1]),
        "contrastive_seconds": round(contrastive_seconds, 2), "head_seconds": round(head_seconds, 2),
        "training_accuracy": float(head.score(features, label_ids)), "fine_tune_epochs": fine_tune_epochs,
        "fine_tune_seconds": round(time.perf_counter() - started - contrastive_seconds - head_seconds, 2),
    }
    logger.info(
        "Few-shot: %d pairs (%d steps) of contrastive training in %.1f s (final loss %.4f), then a logistic-regression head "
        "(training accuracy %.3f), then %d epochs of fine-tuning in %.1f s.", summary["pairs"], summary["pair_steps"],
        contrastive_seconds, summary["contrastive_loss"], summary["training_accuracy"], fine_tune_epochs,
        summary["fine_tune_seconds"],
    )
    return summary


def _logits_layer(head, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(kernel (features, num_classes), bias) giving the logistic regression's probabilities under softmax."""
    coef, intercept = np.asarray(head.coef_, dtype=np.float64), np.asarray(head.intercept_, dtype=np.float64)
    kernel = np.zeros((coef.shape[1], num_classes))
    bias = np.zeros(num_classes)
    classes = np.asarray(head.classes_)
    if coef.shape[0] == 1:  # binary: sigmoid(w.x + b) = softmax([-(w.x + b) / 2, (w.x + b) / 2])[1]
        kernel[:, classes[0]], kernel[:, classes[1]] = -coef[0] / 2, coef[0] / 2
        bias[classes[0]], bias[classes[1]] = -intercept[0] / 2, intercept[0] / 2
    else:
        kernel[:, classes] = coef.T
        bias[classes] = intercept
    # A label with no training example keeps a logit far below the others.
    missing = np.setdiff1d(np.arange(num_classes), classes)
    bias[missing] = bias[classes].min() - 20.0
    return kernel.astype("float32"), bias.astype("float32")
