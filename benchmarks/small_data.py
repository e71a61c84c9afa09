"""Small data: textfit's defaults against its old fixed defaults and SetFit, at a few examples per label.

    python benchmarks/small_data.py                                  # tweets, 8/32/128 per label, 3 seeds
    python benchmarks/small_data.py --per-label 8 32 --seeds 0 --contenders defaults setfit
    python benchmarks/small_data.py --data bbc                       # BBC News, 5 topics

For each size and seed, a balanced training sample is drawn (the seed draws it) from the shipped
data; every contender trains on that same sample with the same model (the shipped
all-MiniLM-L6-v2) and is scored on the same held-out test texts (never seen in training).

Contenders:
- ``defaults``: ``textfit.train`` with TrainConfig() - the adaptive defaults (few-shot where they pick it);
- ``old-defaults``: the fixed defaults before them (3 epochs, batch 32, lr 5e-5, 10 % validation split);
- ``fine-tune`` / ``few-shot``: the adaptive defaults with few-shot forced off / on, to place the threshold;
- ``setfit``: SetFit 1.x (a benchmark dependency only: pip install setfit) with the paper's recipe,
  ``num_iterations=20`` (its default ``oversampling`` would draw every pair: ~100k pairs at 128 per
  label x 3 labels, an hour per run on two cores), batch 16, one epoch, logistic-regression head.

Reports accuracy and macro-F1 mean ± std over seeds, and wall time (training + prediction of the test set).
"""

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import pandas as pd  # noqa: E402


def load_data(name: str) -> pd.DataFrame:
    from textfit.data.datasets import load_bbc_news, load_tweet_sentiment

    table = load_tweet_sentiment() if name == "tweets" else load_bbc_news()
    return table[["text", "label"]].dropna().reset_index(drop=True)


def split(table: pd.DataFrame, per_label: int, seed: int, test_size: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A fixed stratified test set (seed 1234), and a balanced training sample drawn by ``seed`` from the rest."""
    share = min(1.0, test_size / len(table))
    test_index = [i for _, group in table.groupby("label") for i in group.sample(frac=share, random_state=1234).index]
    rest = table.drop(test_index)
    train_index = [i for _, group in rest.groupby("label") for i in group.sample(n=per_label, random_state=seed).index]
    train = table.loc[train_index].sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return train, table.loc[test_index].reset_index(drop=True)


def score(predicted, truth) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": float(accuracy_score(truth, predicted)), "macro_f1": float(f1_score(truth, predicted, average="macro"))}


def run_textfit(train, test, seed, **config) -> dict:
    import textfit
    from textfit.data.datasets import default_model_dir

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        result = textfit.train(default_model_dir(), train, os.path.join(folder, "model"),
                               train_config=textfit.TrainConfig(seed=seed, baseline="off", **config), verbose=0)
        predicted = result.model.predict(test["text"].tolist())
    return {**score(predicted, test["label"].tolist()), "seconds": time.perf_counter() - started}


def run_setfit(train, test, seed) -> dict:
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    from textfit.data.datasets import default_model_dir

    started = time.perf_counter()
    model = SetFitModel.from_pretrained(str(default_model_dir()))
    with tempfile.TemporaryDirectory() as folder:  # SetFit's trainer writes checkpoints (default: ./checkpoints)
        arguments = TrainingArguments(output_dir=folder, batch_size=16, num_epochs=1, num_iterations=20, seed=seed, report_to="none")
        trainer = Trainer(model=model, args=arguments, train_dataset=Dataset.from_pandas(train[["text", "label"]]))
        trainer.train()
    predicted = list(model.predict(test["text"].tolist()))
    return {**score([str(p) for p in predicted], test["label"].tolist()), "seconds": time.perf_counter() - started}


CONTENDERS = {
    "defaults": lambda train, test, seed: run_textfit(train, test, seed),
    "old-defaults": lambda train, test, seed: run_textfit(train, test, seed, epochs=3, batch_size=32, learning_rate=5e-5,
                                                          validation_split=0.1, few_shot="off"),
    "fine-tune": lambda train, test, seed: run_textfit(train, test, seed, few_shot="off"),
    "few-shot": lambda train, test, seed: run_textfit(train, test, seed, few_shot="on"),
    "setfit": run_setfit,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=("tweets", "bbc"), default="tweets")
    parser.add_argument("--per-label", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--contenders", nargs="+", choices=sorted(CONTENDERS), default=["defaults", "old-defaults", "setfit"])
    parser.add_argument("--json", help="Also write every run's result to this file.")
    args = parser.parse_args()

    import logging

    import torch

    from textfit.models.precision import cpu_bfloat16_flags

    logging.getLogger("textfit").setLevel(logging.WARNING)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "unknown CPU")
    print(f"CPU: {cpu} ({os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}; bfloat16 units: "
          f"{', '.join(cpu_bfloat16_flags()) or 'none'})")
    table = load_data(args.data)
    print(f"data: {args.data}, {table['label'].nunique()} labels; test set {args.test_size} texts; seeds {args.seeds}\n", flush=True)
    results = []
    for per_label in args.per_label:
        for seed in args.seeds:
            train, test = split(table, per_label, seed, args.test_size)
            for name in args.contenders:
                result = {"per_label": per_label, "seed": seed, "contender": name, **CONTENDERS[name](train, test, seed)}
                results.append(result)
                print(json.dumps(result), flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    frame = pd.DataFrame(results)
    print(f"\n{'per label':>9} {'contender':<14} {'accuracy':>16} {'macro-F1':>16} {'seconds':>14}")
    for (per_label, name), group in frame.groupby(["per_label", "contender"], sort=True):
        print(f"{per_label:>9} {name:<14} {group.accuracy.mean():>9.3f} ± {group.accuracy.std(ddof=1) if len(group) > 1 else 0:.3f} "
              f"{group.macro_f1.mean():>9.3f} ± {group.macro_f1.std(ddof=1) if len(group) > 1 else 0:.3f} "
              f"{group.seconds.mean():>8.1f} ± {group.seconds.std(ddof=1) if len(group) > 1 else 0:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
