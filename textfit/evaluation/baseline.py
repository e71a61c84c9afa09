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
  term). The char block is computed through word counts (see ``_CharWbTfidf``): the same matrix,
  several times faster. A block with no terms at all (e.g. only one-letter words) is left out.
* model: single-label ``LogisticRegression(C=C, solver="newton-cg", max_iter=MAX_ITER)``
  (multinomial; no class weights, so the numbers are raw); multi-label ``OneVsRestClassifier`` of
  the same logistic regression, a label predicted at probability >= 0.5; regression
  ``Ridge(alpha=RIDGE_ALPHA)``.

scikit-learn is imported inside ``fit_baseline``, so importing this module stays cheap.
"""

import re
import time
import warnings
from dataclasses import dataclass

import numpy as np

from textfit.data.examples import Examples
from textfit.data.labels import MULTI_LABEL, REGRESSION, SINGLE_LABEL, LabelMap, multi_hot, regression_targets
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
# Caps chosen so that 10,000 texts of 2 kB fit and predict in seconds: the logistic regression's
# time grows with the number of non-zeros, and the rarest n-grams add many columns but little accuracy.
WORD_MAX_FEATURES = 100_000
CHAR_MAX_FEATURES = 50_000
# Below this many training texts, a term seen in a single text is still worth keeping (and the
# vocabulary is small anyway); above it, min_df=2 drops typos and ids that cannot generalise.
MIN_DF_2_FROM = 500
C = 4.0
MAX_ITER = 100
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
        >>> result = fit_baseline(train_examples, validation_examples)
        >>> round(result.metrics["accuracy"], 3), result.description
        (0.969, 'TF-IDF word 1-2-grams + char_wb 2-5-grams (min_df=2), logistic regression (C=10)')
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
        self.min_dfs = []

    def fit_transform(self, texts: list[str]):
        import scipy.sparse as sparse

        candidates = (
            lambda min_df: _WordTfidf(ngram_range=WORD_NGRAMS, min_df=min_df, max_features=WORD_MAX_FEATURES),
            lambda min_df: _CharWbTfidf(ngram_range=CHAR_NGRAMS, min_df=min_df, max_features=CHAR_MAX_FEATURES),
        )
        matrices = []
        for make in candidates:
            fitted = _fit_block(make, texts, self.min_df)
            if fitted is not None:
                block, matrix, min_df = fitted
                self.blocks.append(block)
                self.min_dfs.append(min_df)
                matrices.append(matrix)
        if not matrices:
            raise ValueError(
                "The training texts have no words or characters to build features from (are they only whitespace?)."
            )
        return sparse.hstack(matrices, format="csr")

    def transform(self, texts: list[str]):
        import scipy.sparse as sparse

        return sparse.hstack([block.transform(texts) for block in self.blocks], format="csr")

    @property
    def description(self) -> str:
        names = [block.name for block in self.blocks]
        min_dfs = sorted(set(self.min_dfs))
        return f"TF-IDF {' + '.join(names)} (min_df={'/'.join(map(str, min_dfs))})"


def _fit_block(make, texts: list[str], min_df: int):
    """(block, matrix, min_df used), retrying with min_df=1, or None when even that finds no term."""
    for tried in dict.fromkeys((min_df, 1)):
        block = make(tried)
        try:
            return block, block.fit_transform(texts), tried
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

    name = ""

    def __init__(self, *, ngram_range, min_df: int, max_features: int | None):
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features

    def fit_transform(self, texts: list[str]):
        from sklearn.feature_extraction.text import TfidfTransformer

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
        self._tfidf = TfidfTransformer(sublinear_tf=True)
        return self._tfidf.fit_transform(counts[:, kept])

    def transform(self, texts: list[str]):
        return self._tfidf.transform(self._counts(texts)[:, self._columns])

    def _fit_counts(self, texts: list[str]):
        """Count matrix of ``texts`` (int64 CSR), learning the columns."""
        raise NotImplementedError

    def _counts(self, texts: list[str]):
        """Count matrix of ``texts`` over the columns learnt by ``_fit_counts``."""
        raise NotImplementedError

    def _term_order(self, columns: np.ndarray) -> np.ndarray:
        """Positions that sort ``columns`` by their terms (identity when columns are sorted already)."""
        return np.arange(len(columns))


class _WordTfidf(_TfidfBlock):
    """``TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, ...)``, counted through token ids.

    Tokens are scikit-learn's (lower-cased, ``token_pattern`` ``\\b\\w\\w+\\b``); each gets an id, and
    a bigram is the number ``V + first * V + second`` (V: distinct tokens), so bigrams are counted
    by numpy instead of being joined into strings and looked up one by one: about twice as fast.
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
        import scipy.sparse as sparse

        index = {}
        ids, lengths = self._token_ids(texts, lambda token: index.setdefault(token, len(index)))
        if not index:
            raise _NoTerms("empty vocabulary: no word of two or more letters or digits")
        self._tokens = list(index)  # in id order: dicts keep insertion order
        rows, codes = self._codes(ids, lengths)
        self._code_of_column, columns = np.unique(codes, return_inverse=True)
        return sparse.csr_matrix(
            (np.ones(len(codes), dtype=np.int64), (rows, columns.ravel())), shape=(len(texts), len(self._code_of_column))
        )

    def _counts(self, texts: list[str]):
        import scipy.sparse as sparse

        index = {token: i for i, token in enumerate(self._tokens)}
        ids, lengths = self._token_ids(texts, lambda token: index.get(token, -1))
        rows, codes = self._codes(ids, lengths)
        columns = np.minimum(np.searchsorted(self._code_of_column, codes), len(self._code_of_column) - 1)
        known = self._code_of_column[columns] == codes
        return sparse.csr_matrix(
            (np.ones(int(known.sum()), dtype=np.int64), (rows[known], columns[known])),
            shape=(len(texts), len(self._code_of_column)),
        )

    def _token_ids(self, texts: list[str], token_id):
        findall = self._TOKEN.findall
        ids, lengths = [], np.empty(len(texts), dtype=np.int64)
        for row, text in enumerate(texts):
            text_ids = [token_id(token) for token in findall(text.lower())]
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
    n-grams). Cutting n-grams once per distinct word instead of once per occurrence is six times
    faster on 2 kB texts.
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

    def _counts(self, texts: list[str]):
        import scipy.sparse as sparse

        words, word_counts = self._word_counts(texts)
        if not words:
            return sparse.csr_matrix((len(texts), len(self._ngrams.vocabulary_)), dtype=np.int64)
        return (word_counts @ self._ngrams.transform(words)).tocsr()

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
    unseen = set(validation_labels) - set(label_map.labels)
    return LabelMap(label_map.labels + tuple(sorted(unseen)))


def _logistic_regression(seed: int):
    from sklearn.linear_model import LogisticRegression

    # newton-cg: multinomial for more than two classes, deterministic, and converges in ~5 Newton
    # steps on TF-IDF where lbfgs takes 40-100 (2-7x slower on BBC News and tweets).
    return LogisticRegression(C=C, solver="newton-cg", max_iter=MAX_ITER, random_state=seed)


def _quietly(function, *args):
    """Run a fit without scikit-learn's convergence and constant-label warnings: a baseline reports, it does not tune."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*present in all training examples.*")
        warnings.filterwarnings("ignore", message=".*not present in all training examples.*")
        return function(*args)


def _single_label(x_train, x_validation, train, validation, label_map, seed) -> dict:
    model = _logistic_regression(seed)
    _quietly(model.fit, x_train, label_map.encode(train.labels))
    scored = _with_unseen(label_map, validation.labels)
    true_ids = scored.encode(validation.labels)
    probabilities = np.zeros((len(validation), scored.num_classes))
    if len(validation):
        # model.classes_ are ids 0..C-1 in order, so columns line up with the training labels.
        probabilities[:, : label_map.num_classes] = model.predict_proba(x_validation)
    predicted = probabilities.argmax(axis=1)
    logits = np.log(np.clip(probabilities, _EPSILON, None))
    return classification_metrics(true_ids, predicted, list(scored.labels), logits=logits)


def _multi_label(x_train, x_validation, train, validation, label_map, seed) -> dict:
    from sklearn.multiclass import OneVsRestClassifier

    model = OneVsRestClassifier(_logistic_regression(seed))
    _quietly(model.fit, x_train, multi_hot(train.labels, label_map).astype(np.int64))
    scored = _with_unseen(label_map, [label for labels in validation.labels for label in labels])
    targets = multi_hot(validation.labels, scored)
    probabilities = np.zeros(targets.shape)
    if len(validation):
        probabilities[:, : label_map.num_classes] = model.predict_proba(x_validation)
    # Logits from the probabilities: a label present in every training text has a constant
    # predictor whose decision_function is 0/1, not a logit.
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
