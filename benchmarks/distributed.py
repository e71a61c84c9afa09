"""Data-parallel training on this machine, and when going wide pays: 1 process x T threads vs N processes x T/N.

    python benchmarks/distributed.py                        # 1,024 tweets, MiniLM, batch 32, 1 epoch; 1x2 vs 2x1
    python benchmarks/distributed.py --num-train 2048 --processes 2 --threads 2

Measures training examples/s of the same run (same data, global batch, epochs, precision) in one
process with all the threads and under torchrun with the threads split between processes, and the
time each step spends in the gradient all-reduce (gloo over loopback). Then projects the step time
for more workers on a network: compute per step shrinks with the share of the batch, the ring
all-reduce moves 2 (N-1)/N x the gradient bytes (float32) at the link's bandwidth. The projection
ignores latency and overlap, so read it as the order of magnitude at which going wide stops paying.
"""

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")


def worker(args) -> None:
    import numpy as np
    import torch

    import keras

    import textfit
    from textfit.data.datasets import default_model_dir, load_tweet_sentiment
    from textfit.training import distributed

    torch.set_num_threads(args.threads_per_process)
    tweets = load_tweet_sentiment().sample(args.num_train, random_state=0)
    model = textfit.TextClassifier.from_pretrained(default_model_dir(), labels=sorted(tweets["label"].unique()), max_length=128,
                                                   precision=args.precision)
    model.compile()
    started = time.perf_counter()
    model.fit(tweets["text"].tolist(), tweets["label"].tolist(), epochs=1, batch_size=args.batch_size, verbose=0, seed=0)
    seconds = time.perf_counter() - started
    if distributed.is_main():
        steps = int(np.asarray(keras.ops.convert_to_numpy(model.optimizer.iterations)))
        print("RESULT " + json.dumps({
            "seconds": seconds, "steps": steps, "world_size": distributed.world_size(),
            "all_reduce_seconds": distributed.STATS["all_reduce_seconds"], "all_reduces": distributed.STATS["all_reduces"],
            "parameters": int(sum(np.prod(v.shape) for v in model.trainable_variables)),
            "precision": model.precision[0],
        }), flush=True)


def run(args, processes: int, threads: int) -> dict:
    command = [__file__, "--worker", "--num-train", str(args.num_train), "--batch-size", str(args.batch_size),
               "--threads-per-process", str(threads), "--precision", args.precision]
    if processes > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}", *command]
    else:
        command = [sys.executable, *command]
    environment = dict(os.environ, OMP_NUM_THREADS=str(threads))
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        environment.pop(name, None)
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=3600)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"run with {processes} process(es) failed:\n{result.stderr[-3000:]}")
    return json.loads(lines[0][len("RESULT "):])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-train", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="Threads in all (split between processes).")
    parser.add_argument("--precision", default="float32", choices=("auto", "float32", "bfloat16"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads-per-process", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "unknown CPU")
    print(f"CPU: {cpu} ({os.cpu_count()} CPUs); {args.num_train} tweets, MiniLM, batch {args.batch_size}, 1 epoch, {args.precision}")
    one = run(args, 1, args.threads)
    many = run(args, args.processes, max(1, args.threads // args.processes))
    for name, result in (("1 process", one), (f"{args.processes} processes", many)):
        per_step = result["all_reduce_seconds"] / max(1, result["all_reduces"])
        print(f"{name:<12} x {args.threads // (1 if name == '1 process' else args.processes)} thread(s): "
              f"{args.num_train / result['seconds']:.1f} examples/s ({result['seconds']:.1f} s)"
              + (f"; all-reduce {1000 * per_step:.1f} ms a step ({result['all_reduces']} steps)" if result["all_reduces"] else ""))
    print(f"ratio: {one['seconds'] / many['seconds']:.2f}x the one-process speed")

    # === Projection: step time = compute / N + ring all-reduce of the float32 gradients ===
    compute = one["seconds"] / max(1, -(-args.num_train // args.batch_size))  # seconds a step, one machine
    print(f"\nprojection for a global batch of {args.batch_size}, this machine's compute per worker ({1000 * compute:.0f} ms a step "
          "on one), ring all-reduce, no overlap:")
    models = {"MiniLM-L6 (22.7M)": one["parameters"], "base size (110M)": 110_000_000}
    bandwidths = {"1 Gbit/s": 1e9 / 8, "10 Gbit/s": 10e9 / 8, "25 Gbit/s": 25e9 / 8}
    print(f"{'model':<20} {'link':<10} " + " ".join(f"{f'{n} workers':>12}" for n in (1, 2, 4, 8)))
    for model_name, parameters in models.items():
        scale = parameters / one["parameters"]
        for link, bytes_per_second in bandwidths.items():
            cells = []
            for workers in (1, 2, 4, 8):
                transfer = 0.0 if workers == 1 else 2 * (workers - 1) / workers * 4 * parameters / bytes_per_second
                step = compute * scale / workers + transfer
                cells.append(f"{args.batch_size / step:>8.0f} ex/s")
            print(f"{model_name:<20} {link:<10} " + " ".join(f"{c:>12}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
