"""A fast classical baseline: TF-IDF features and a linear model, fitted on the same split as the fine-tuned model.

Fine-tuning is not always better than a cheap model: on long texts cut to ``max_length`` tokens,
or on data where a few words decide the label, TF-IDF + logistic regression can win. Reporting both
side by side tells the user whether the transformer earns its cost.

The pipeline (the tests rebuild it from these settings with scikit-learn and compare predictions):

* text: each text cut to ``max_chars`` characters (its head and tail halves, joined by a space);
  a sentence pair becomes ``text + " [SEP] " + pair``, each side cut to ``max_chars // 2``.
* features, stacked side by side:
  ``TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=m, max_features=WORD_MAX_FEATURES)`` and
  ``TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=m, max_features=CHAR_MAX_FEATURES)``,
  with ``m = 2`` from ``MIN_DF_2_FROM`` training texts on, else 1 (and 1 whenever 2 leaves no
  term). A block with no terms at all (e.g. only one-letter words) is left out. Both blocks are
  counted faster than TfidfVectorizer counts them (``_WordTfidf``, ``_CharWbTfidf``: about 1.5x and
  3x on 2 kB texts) into the same matrix, the same columns in the same order, ties under the cap included.
* model: single-label ``LogisticRegression(C=C, max_iter=MAX_ITER)``, solver "newton-cg" for more
  than two classes (multinomial), "lbfgs" for two; no class weights, so the numbers are raw.
  Multi-label: one binary logistic regression per label (lbfgs), as ``OneVsRestClassifier`` fits
  them, a label predicted at probability >= 0.5. Regression: ``Ridge(alpha=RIDGE_ALPHA)``.
  BLAS and OpenMP are held to one thread while fitting.

scikit-learn is imported inside ``fit_baseline``, so importing this module stays cheap.
"""

import re
import time
import warnings
from dataclasses import dataclass

import numpy as np

from textfit.data.examples import Examples
from textfit.data.labels import (
    MULTI_LABEL,
    REGRESSION,
    SINGLE_LABEL,
    LabelMap,
    label_to_string,
    multi_hot,
    regression_targets,
)
from textfit.evaluation.evaluate import classification_metrics
from textfit.evaluation.task_metrics import (
    DEFAULT_THRESHOLD,
    binary_cross_entropy,
    mean_squared_error,
    multilabel_metrics,
    regression_metrics,
)

WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)
# The most frequent terms kept per block. They bound memory and the model's width; time follows the
# non-zeros, which frequent terms hold (the top 30,000 char n-grams keep 91% of them on 2 kB texts),
# so lower caps save little. Caps from 10,000 to 100,000 moved BBC News and tweets by noise only.
WORD_MAX_FEATURES = 50_000
CHAR_MAX_FEATURES = 30_000
# Below this many training texts, a term seen in a single text is still worth keeping (and the
# vocabulary is small anyway); above it, min_df=2 drops typos and ids that cannot generalise.
MIN_DF_2_FROM = 500
C = 4.0
MAX_ITER = 200
RIDGE_ALPHA = 1.0
PAIR_SEPARATOR = " [SEP] "
# Probabilities are clipped before logs, as sklearn.metrics.log_loss does, so a validation label
# never seen in training gives a large finite loss instead of infinity (not JSON).
_EPSILON = 1e-15


@dataclass(frozen=True)
class BaselineResult:
    """A baseline's validation metrics, how long it took, and what it was.

    ``metrics`` has the keys ``textfit.evaluate`` gives for the task, so both can be shown side by side.
    """

    metrics: dict
    seconds: float  # wall time to build features, fit and predict
    description: str


def fit_baseline(train: Examples, validation: Examples, *, max_chars: int = 20_000, seed: int = 0) -> BaselineResult:
    """Fit TF-IDF + a linear model on ``train`` and score it on ``validation``.

    Use it next to fine-tuning, on the same split, to see whether the transformer beats a model that
    takes seconds. Single-label: logistic regression; multi-label: one logistic regression per label
    (threshold 0.5); regression: ridge regression. See the module docstring for every setting.

    Args:
        train: labelled training examples (``Examples.task`` picks the model).
        validation: labelled examples to score; labels unseen in training count as errors.
        max_chars: each text is cut to this many characters (head and tail halves), so a 300 kB
            e-mail costs no more than a 20 kB one.
        seed: random state of the models (the default solvers are deterministic; kept for others).

    Raises:
        ValueError: single-label training data with fewer than two labels, or texts with no
            characters to build features from.

    Example:
        >>> train_examples, validation_examples = split_examples(bbc_news_examples, 0.2)
        >>> result = fit_baseline(train_examples, validation_examples)
        >>> round(result.metrics["accuracy"], 3)
        0.984
        >>> result.description
        'TF-IDF word 1-2-grams (min_df=2, top 50000) + char_wb 2-5-grams (min_df=2, top 30000), logistic regression (C=4)'
    """
    if max_chars < 2:
        raise ValueError(f"max_chars must be >= 2. Received: max_chars={max_chars}")
    if train.task != validation.task:
        raise ValueError(f"train and validation must have the same task. Received: {train.task!r} and {validation.task!r}")
    if train.labels is None or validation.labels is None:
        raise ValueError("The baseline needs labels on both train and validation examples.")
    if len(train) == 0:
        raise ValueError("The baseline needs training examples; received none.")
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    start = time.perf_counter()
    label_map = _check_labels(train)
    train_documents = documents(train, max_chars)
    validation_documents = documents(validation, max_chars)

    features = Features(min_df=2 if len(train) >= MIN_DF_2_FROM else 1)
    x_train = features.fit_transform(train_documents)
    x_validation = features.transform(validation_documents)
    # One BLAS/OpenMP thread: the solvers' vector operations are too small to share, and on a
    # busy machine threads waiting for a core made lbfgs 7x slower (25 s instead of 3.7 s on 8,000 tweets).
    with threadpool_limits(limits=1):
        if train.task == SINGLE_LABEL:
            metrics = _single_label(x_train, x_validation, train, validation, label_map, seed)
            model = f"logistic regression (C={C:g})"
        elif train.task == MULTI_LABEL:
            metrics = _multi_label(x_train, x_validation, train, validation, label_map, seed)
            model = f"one logistic regression per label (C={C:g}, threshold {DEFAULT_THRESHOLD:g})"
        else:
            metrics = _regression(x_train, x_validation, train, validation, seed)
            model = f"ridge regression (alpha={RIDGE_ALPHA:g})"
    seconds = time.perf_counter() - start
    return BaselineResult(metrics=metrics, seconds=seconds, description=f"{features.description}, {model}")


def cut_text(text: str, max_chars: int) -> str:
    """``text`` if it has at most ``max_chars`` characters, else its head and tail joined by a space (``max_chars`` long).

    The tail is kept because e-mails and reports often end with what decides the label (a
    signature, a conclusion).

    Example:
        >>> cut_text("abcdefghij", 5)
        'ab ij'
    """
    if len(text) <= max_chars:
        return text
    head = max_chars // 2
    tail = max_chars - head - 1
    return text[:head] + " " + (text[-tail:] if tail else "")


def documents(examples: Examples, max_chars: int) -> list[str]:
    """The strings the vectorizers read: cut texts, or ``text [SEP] pair`` with each side cut to ``max_chars // 2``."""
    if examples.text_pairs is None:
        return [cut_text(text, max_chars) for text in examples.texts]
    half = max(1, max_chars // 2)
    return [cut_text(text, half) + PAIR_SEPARATOR + cut_text(pair, half) for text, pair in zip(examples.texts, examples.text_pairs)]


class Features:
    """Word 1-2-gram and char_wb 2-5-gram TF-IDF, stacked; min_df falls back to 1 and empty blocks are left out."""

    def __init__(self, *, min_df: int):
        self.min_df = min_df
        self.blocks = []

    def fit_transform(self, texts: list[str]):
        from scipy import sparse

        candidates = (
            lambda min_df: _WordTfidf(ngram_range=WORD_NGRAMS, min_df=min_df, max_features=WORD_MAX_FEATURES),
            lambda min_df: _CharWbTfidf(ngram_range=CHAR_NGRAMS, min_df=min_df, max_features=CHAR_MAX_FEATURES),
        )
        matrices = []
        for make in candidates:
            fitted = _fit_block(make, texts, self.min_df)
            if fitted is not None:
                block, matrix = fitted
                self.blocks.append(block)
                matrices.append(matrix)
        if not matrices:
            raise ValueError(
                "The training texts have no words or characters to build features from (are they only whitespace?)."
            )
        return sparse.hstack(matrices, format="csr")

    def transform(self, texts: list[str]):
        from scipy import sparse

        return sparse.hstack([block.transform(texts) for block in self.blocks], format="csr")

    @property
    def description(self) -> str:
        """E.g. "TF-IDF word 1-2-grams (min_df=2, top 50000) + char_wb 2-5-grams (min_df=2, top 30000)"."""
        return "TF-IDF " + " + ".join(block.description for block in self.blocks)


def _fit_block(make, texts: list[str], min_df: int):
    """(block, matrix), retrying with min_df=1, or None when even that finds no term."""
    for tried in dict.fromkeys((min_df, 1)):
        block = make(tried)
        try:
            return block, block.fit_transform(texts)
        except _NoTerms:
            continue
    return None


class _NoTerms(ValueError):
    """No term in the texts, or none left after min_df."""


class _TfidfBlock:
    """Counts, pruned by min_df and max_features as scikit-learn's ``CountVectorizer`` prunes them, then TF-IDF.

    Subclasses count faster than ``TfidfVectorizer`` (which cuts and looks up every n-gram in
    Python) but keep its columns, its order and its ties, so the matrix is the same; the tests
    compare both.
    """

    name = ""  # what the block counts, e.g. "word 1-2-grams"

    def __init__(self, *, ngram_range, min_df: int, max_features: int | None):
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features

    def fit_transform(self, texts: list[str]):
        counts = self._fit_counts(texts)
        document_frequency = np.bincount(counts.indices, minlength=counts.shape[1])
        # scikit-learn sorts columns by term, then drops rare terms, then keeps the most frequent:
        # the same steps in the same order pick the same columns, ties included.
        kept = np.flatnonzero(document_frequency >= self.min_df)
        kept = kept[self._term_order(kept)]
        if self.max_features is not None and len(kept) > self.max_features:
            totals = np.asarray(counts.sum(axis=0), dtype=np.float64).ravel()
            # The very expression of scikit-learn's _limit_features (float64 counts there too):
            # argsort is not stable, so only the same input gives the same choice among equal totals.
            top = (-totals[kept]).argsort()[: self.max_features]
            kept = kept[np.sort(top)]
        if len(kept) == 0:
            raise _NoTerms(f"After pruning, no terms remain (min_df={self.min_df}).")
        self._columns = kept
        counts = counts[:, kept]
        # TfidfTransformer(sublinear_tf=True)'s idf, the same operations in the same order.
        document_frequency = np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.float64)
        self._idf = np.log((counts.shape[0] + 1.0) / (document_frequency + 1.0)) + 1.0
        return self._tfidf(counts)

    def transform(self, texts: list[str]):
        return self._tfidf(self._selected_counts(texts))

    def _tfidf(self, counts):
        """TfidfTransformer(sublinear_tf=True).transform, in place on the float copy: 1 + log(count), times idf,
        rows scaled to unit length. A third faster than scikit-learn's, which validates and sorts 20M entries first."""
        from scipy import sparse

        counts = sparse.csr_matrix(counts)
        values = np.log(counts.data.astype(np.float64))
        values += 1.0
        values *= self._idf[counts.indices]
        rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
        norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=counts.shape[0]))
        values /= np.where(norms > 0, norms, 1.0)[rows]
        return sparse.csr_matrix((values, counts.indices, counts.indptr), shape=counts.shape)

    @property
    def description(self) -> str:
        cap = "" if self.max_features is None else f", top {self.max_features}"
        return f"{self.name} (min_df={self.min_df}{cap})"

    def _fit_counts(self, texts: list[str]):
        """Count matrix of ``texts`` (int64 CSR), learning the columns."""
        raise NotImplementedError

    def _counts(self, texts: list[str]):
        """Count matrix of ``texts`` over the columns learnt by ``_fit_counts``."""
        raise NotImplementedError

    def _selected_counts(self, texts: list[str]):
        """Count matrix of ``texts`` over the kept columns."""
        return self._counts(texts)[:, self._columns]

    def _term_order(self, columns: np.ndarray) -> np.ndarray:
        """Positions that sort ``columns`` by their terms (identity when columns are sorted already)."""
        return np.arange(len(columns))


class _WordTfidf(_TfidfBlock):
    """``TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, ...)``, counted through token ids.

    Tokens are scikit-learn's (lower-cased, ``token_pattern`` ``\\b\\w\\w+\\b``); each gets an id, and
    a bigram is the number ``V + first * V + second`` (V: distinct tokens), so bigrams are counted
    by numpy instead of being joined into strings and looked up one by one (about 1.5x faster).
    """

    # scikit-learn's default token_pattern.
    _TOKEN = re.compile(r"(?u)\b\w\w+\b")

    @property
    def name(self) -> str:
        return f"word {self.ngram_range[0]}-{self.ngram_range[1]}-grams"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if tuple(self.ngram_range) != (1, 2):
            raise ValueError(f"_WordTfidf counts unigrams and bigrams only. Received: ngram_range={self.ngram_range}")

    def _fit_counts(self, texts: list[str]):
        from scipy import sparse

        index = {}
        ids, lengths = self._token_ids(texts, index, learn=True)
        if not index:
            raise _NoTerms("empty vocabulary: no word of two or more letters or digits")
        self._tokens = list(index)  # in id order: dicts keep insertion order
        rows, codes = self._codes(ids, lengths)
        self._code_of_column, columns = np.unique(codes, return_inverse=True)
        return sparse.csr_matrix(
            (np.ones(len(codes), dtype=np.int64), (rows, columns.ravel())), shape=(len(texts), len(self._code_of_column))
        )

    def _counts(self, texts: list[str]):
        from scipy import sparse

        index = {token: i for i, token in enumerate(self._tokens)}
        ids, lengths = self._token_ids(texts, index, learn=False)
        rows, codes = self._codes(ids, lengths)
        columns = np.minimum(np.searchsorted(self._code_of_column, codes), len(self._code_of_column) - 1)
        known = self._code_of_column[columns] == codes
        return sparse.csr_matrix(
            (np.ones(int(known.sum()), dtype=np.int64), (rows[known], columns[known])),
            shape=(len(texts), len(self._code_of_column)),
        )

    def _token_ids(self, texts: list[str], index: dict, *, learn: bool):
        """Token ids of all texts, concatenated, and the number per text; new tokens get new ids when learning, else -1."""
        findall = self._TOKEN.findall
        ids, lengths = [], np.empty(len(texts), dtype=np.int64)
        # The hot loop: one dict method call per token and no Python function call.
        setdefault, get = index.setdefault, index.get
        for row, text in enumerate(texts):
            tokens = findall(text.lower())
            if learn:
                text_ids = [setdefault(token, len(index)) for token in tokens]
            else:
                text_ids = [get(token, -1) for token in tokens]
            lengths[row] = len(text_ids)
            ids += text_ids
        return np.asarray(ids, dtype=np.int64), lengths

    def _codes(self, ids: np.ndarray, lengths: np.ndarray):
        """(row, code) of every unigram and bigram whose tokens are known (id >= 0)."""
        vocabulary_size = len(self._tokens)
        rows = np.repeat(np.arange(len(lengths)), lengths)
        known = ids >= 0
        pairs = (rows[:-1] == rows[1:]) & known[:-1] & known[1:]
        bigrams = vocabulary_size + ids[:-1][pairs] * vocabulary_size + ids[1:][pairs]
        return np.concatenate([rows[known], rows[:-1][pairs]]), np.concatenate([ids[known], bigrams])

    def _term_order(self, columns: np.ndarray) -> np.ndarray:
        vocabulary_size = len(self._tokens)
        terms = []
        for code in self._code_of_column[columns].tolist():
            if code < vocabulary_size:
                terms.append(self._tokens[code])
            else:
                first, second = divmod(code - vocabulary_size, vocabulary_size)
                terms.append(self._tokens[first] + " " + self._tokens[second])
        return np.asarray(sorted(range(len(terms)), key=terms.__getitem__), dtype=np.int64)


class _CharWbTfidf(_TfidfBlock):
    """``TfidfVectorizer(analyzer="char_wb", sublinear_tf=True, ...)``, counted through word counts.

    char_wb n-grams never cross a space, so a text's n-gram counts are its word counts times each
    word's n-gram counts: ``W @ G`` with W (texts x distinct words) and G (distinct words x
    n-grams). Cutting n-grams once per distinct word instead of once per occurrence is about three
    times faster on 2 kB texts.
    """

    @property
    def name(self) -> str:
        return f"char_wb {self.ngram_range[0]}-{self.ngram_range[1]}-grams"

    def _fit_counts(self, texts: list[str]):
        from sklearn.feature_extraction.text import CountVectorizer

        # Words are already lower-cased; columns come out sorted by n-gram, as TfidfVectorizer's.
        self._ngrams = CountVectorizer(analyzer="char_wb", ngram_range=self.ngram_range, lowercase=False)
        words, word_counts = self._word_counts(texts)
        if not words:
            raise _NoTerms("empty vocabulary: the texts hold only whitespace")
        return (word_counts @ self._ngrams.fit_transform(words)).tocsr()

    def _selected_counts(self, texts: list[str]):
        from scipy import sparse

        words, word_counts = self._word_counts(texts)
        if not words:
            return sparse.csr_matrix((len(texts), len(self._columns)), dtype=np.int64)
        # Kept n-gram columns first: the product then holds only what is returned.
        return (word_counts @ self._ngrams.transform(words)[:, self._columns]).tocsr()

    @staticmethod
    def _word_counts(texts: list[str]):
        from sklearn.feature_extraction.text import CountVectorizer

        # The words char_wb pads with spaces and cuts: the lower-cased text split on whitespace.
        words = CountVectorizer(tokenizer=str.split, token_pattern=None, lowercase=True)
        try:
            counts = words.fit_transform(texts)
        except ValueError:  # only whitespace
            return [], None
        return list(words.get_feature_names_out()), counts


def _check_labels(train: Examples) -> LabelMap | None:
    if train.task == REGRESSION:
        return None
    if train.task == MULTI_LABEL and not any(len(labels) for labels in train.labels):
        raise ValueError(f"{train.source} has no labels on any training example: the baseline has nothing to learn.")
    label_map = LabelMap.for_examples(train.labels, train.task)
    if train.task == SINGLE_LABEL and label_map.num_classes < 2:
        raise ValueError(
            f"{train.source} has a single label {list(label_map.labels)}: a classifier needs at least two. "
            "Check that --label-column names the label column."
        )
    return label_map


def _with_unseen(label_map: LabelMap, validation_labels) -> LabelMap:
    """The training labels, then validation labels unseen in training (sorted): they are scored, never predicted."""
    unseen = {label_to_string(label) for label in validation_labels} - set(label_map.labels)
    return LabelMap(label_map.labels + tuple(sorted(unseen)))


def _logistic_regression(num_classes: int, seed: int):
    from sklearn.linear_model import LogisticRegression

    # Both solvers are deterministic; the faster one on TF-IDF (one thread, measured on BBC News,
    # tweets and 10,000 texts of 2 kB): with more than two classes (multinomial) newton-cg converges
    # in 5-7 Newton steps, 1.5-3x faster than lbfgs; with two, lbfgs is 2-4x faster than newton-cg.
    solver = "newton-cg" if num_classes > 2 else "lbfgs"
    return LogisticRegression(C=C, solver=solver, max_iter=MAX_ITER, random_state=seed)


def _quietly(function, *args):
    """Run a fit without scikit-learn's convergence warning: the baseline is reported as fitted, not tuned further."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args)


def _single_label(x_train, x_validation, train, validation, label_map, seed) -> dict:
    model = _logistic_regression(label_map.num_classes, seed)
    _quietly(model.fit, x_train, label_map.encode([label_to_string(label) for label in train.labels]))
    scored = _with_unseen(label_map, validation.labels)
    true_ids = scored.encode([label_to_string(label) for label in validation.labels])
    probabilities = np.zeros((len(validation), scored.num_classes))
    if len(validation):
        # model.classes_ are ids 0..C-1 in order, so columns line up with the training labels.
        probabilities[:, : label_map.num_classes] = model.predict_proba(x_validation)
    predicted = probabilities.argmax(axis=1)
    logits = np.log(np.clip(probabilities, _EPSILON, None))
    return classification_metrics(true_ids, predicted, list(scored.labels), logits=logits)


def _multi_label(x_train, x_validation, train, validation, label_map, seed) -> dict:
    targets_train = multi_hot(train.labels, label_map).astype(np.int64)
    scored = _with_unseen(label_map, [label for labels in validation.labels for label in labels])
    targets = multi_hot(validation.labels, scored)
    probabilities = np.zeros(targets.shape)
    # One binary logistic regression per label, as OneVsRestClassifier fits them (the tests compare);
    # a loop rather than OneVsRestClassifier itself, which reads a single label column as a
    # binary task and returns two probability columns for it.
    for column in range(label_map.num_classes):
        target = targets_train[:, column]
        if target.min() == target.max():
            # In every training text, or (never, as labels come from the training texts) in none:
            # predict that constant, as OneVsRestClassifier does.
            probabilities[:, column] = float(target[0])
        elif len(validation):
            model = _logistic_regression(2, seed)
            _quietly(model.fit, x_train, target)
            probabilities[:, column] = model.predict_proba(x_validation)[:, 1]
    # Logits from clipped probabilities, so that a constant prediction gives a finite loss.
    clipped = np.clip(probabilities, _EPSILON, 1 - _EPSILON)
    logits = np.log(clipped) - np.log1p(-clipped)
    return multilabel_metrics(targets, probabilities, list(scored.labels), loss=binary_cross_entropy(logits, targets))


def _regression(x_train, x_validation, train, validation, seed) -> dict:
    from sklearn.linear_model import Ridge

    model = Ridge(alpha=RIDGE_ALPHA, random_state=seed)
    model.fit(x_train, regression_targets(train.labels))
    targets = regression_targets(validation.labels)
    predictions = model.predict(x_validation) if len(validation) else np.zeros(0)
    return regression_metrics(targets, predictions, loss=mean_squared_error(predictions, targets))
