"""The shipped model and data sets, read as files."""

import pytest

from textfit.data.datasets import clean_tweet, default_model_dir, load_bbc_news, load_tweet_sentiment


@pytest.mark.parametrize(
    "raw, expected",
    [
        (b"I don\xd5\xa2_\x8a\xce_\x86\xa2t want either!", "I don't want either!"),
        (b"\xd5\xa2_\x8a\xce\x81\xd0@edasneak: drive\xd5\xa2_\x8a\xce\xeb\x9d ok", '"@edasneak: drive" ok'),
        (b"cars_\xd1_.no thank you", "cars .no thank you"),
        (b"FML _\xf4\xd6\x89 http://t.co/x", "FML http://t.co/x"),
        (b"crazed &amp; drunk", "crazed & drunk"),
    ],
)
def test_clean_tweet_repairs_quotes_and_drops_garbage(raw, expected):
    assert clean_tweet(raw) == expected


def test_tweets_load_clean_with_three_labels():
    tweets = load_tweet_sentiment()
    assert sorted(tweets["label"].unique()) == ["negative", "neutral", "positive"]
    assert len(tweets) > 35_000
    assert tweets["text"].map(str.isascii).all() and (tweets["text"].str.len() > 0).all()
    assert not tweets["text"].duplicated().any()


def test_bbc_news_has_2225_articles_in_five_topics():
    articles = load_bbc_news()
    assert len(articles) == 2225
    assert articles["label"].value_counts().to_dict() == {
        "sports": 511, "business": 510, "politics": 417, "tech": 401, "entertainment": 386
    }


def test_default_model_dir_is_the_shipped_minilm():
    model_dir = default_model_dir()
    assert (model_dir / "config.json").is_file() and (model_dir / "model.safetensors").is_file()
