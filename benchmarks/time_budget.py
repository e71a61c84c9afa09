"""Does a time-budgeted run end inside its budget, and near it? Measured on the shipped model and data.

Each budget runs ``textfit.train`` in a fresh subprocess (all-MiniLM-L6-v2, real tweets, more epochs than
fit), and reports the seconds ``fit`` took against the budget, the steps run of those planned, and the
examples/s ``train`` reported against steps x batch / seconds.

    python benchmarks/time_budget.py                       # budgets 60 s and 120 s, 4,000 tweets
    python benchmarks/time_budget.py --budgets 30 90 --num-train 2000 --data bbc
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER = """
import json, sys, time
import textfit
from textfit.data.datasets import load_bbc_news, load_tweet_sentiment
from textfit.training.train import TrainConfig
budget, num_train, data = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
table = (load_bbc_news() if data == "bbc" else load_tweet_sentiment()).sample(frac=1.0, random_state=0).iloc[:num_train]
result = textfit.train(textfit.default_model_dir(), table, sys.argv[4], verbose=0,
                       model_config=textfit.ModelConfig(max_length=128),
                       train_config=TrainConfig(epochs=10, batch_size=32, time_budget=f"{budget}s", validation_split=0.1))
record = json.load(open(sys.argv[4] + "/textfit.json"))
print(json.dumps({"fit_seconds": result.train_seconds, "examples_per_second": result.train_examples_per_second,
                  "steps_run": record["timing"]["steps_run"], "examples_trained": record["timing"]["examples_trained"],
                  "planned_steps": 10 * -(-record["num_train_examples"] // 32), "accuracy": result.metrics["accuracy"]}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", nargs="*", type=float, default=[60.0, 120.0])
    parser.add_argument("--num-train", type=int, default=4000)
    parser.add_argument("--data", choices=("tweets", "bbc"), default="tweets")
    args = parser.parse_args()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    print(f"CPU: {cpu}; {args.num_train} {args.data}, batch 32, max length 128, 10 epochs planned")
    print(f"{'budget s':>9} {'fit s':>7} {'fit/budget':>10} {'steps run':>10} {'planned':>8} {'ex/s reported':>14} "
          f"{'ex/s steps':>11} {'accuracy':>9}")
    for budget in args.budgets:
        with tempfile.TemporaryDirectory() as folder:
            completed = subprocess.run([sys.executable, "-c", WORKER, str(budget), str(args.num_train), args.data, folder + "/model"],
                                       capture_output=True, text=True)
        if completed.returncode != 0:
            print(f"{budget:>9.0f} failed: {completed.stderr[-800:]}")
            continue
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        steps_rate = result["examples_trained"] / result["fit_seconds"]
        print(f"{budget:>9.0f} {result['fit_seconds']:>7.1f} {result['fit_seconds'] / budget:>10.1%} {result['steps_run']:>10} "
              f"{result['planned_steps']:>8} {result['examples_per_second']:>14.1f} {steps_rate:>11.1f} {result['accuracy']:>9.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
