"""On the real MiniLM and a few real tweets per label, the adaptive defaults beat the old fixed ones (slow, seeded)."""

import numpy as np
import pytest

from textfit import TrainConfig, train
from textfit.data.datasets import default_model_dir, load_tweet_sentiment


@pytest.mark.slow
def test_adaptive_defaults_beat_the_old_ones_on_eight_tweets_per_label(tmp_path):
    tweets = load_tweet_sentiment()[["text", "label"]].dropna()
    rng = np.random.default_rng(7)
    order = rng.permutation(len(tweets))
    test = tweets.iloc[order[:300]]
    rest = tweets.iloc[order[300:]]
    train_table = rest.groupby("label").head(8).sample(frac=1.0, random_state=0).reset_index(drop=True)  # 8 per label

    def accuracy(name, config):
        result = train(default_model_dir(), train_table, tmp_path / name, train_config=config, verbose=0)
        return float(np.mean(np.array(result.model.predict(test["text"].tolist())) == test["label"].to_numpy()))

    old = accuracy("old", TrainConfig(epochs=3, batch_size=32, learning_rate=5e-5, validation_split=0.1, few_shot="off", baseline="off"))
    new = accuracy("new", TrainConfig(seed=0, baseline="off"))
    # Here: 0.553 vs 0.437 in bfloat16 and 0.550 vs 0.437 in float32 (so CPUs without bfloat16 units pass too);
    # benchmarks/small_data.py, 1,000 test tweets, 3 seeds: 0.535 vs 0.424.
    print(f"adaptive {new:.3f}, old {old:.3f}")
    assert new >= 0.5 and new >= old + 0.05, (new, old)
