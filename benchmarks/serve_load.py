"""Load test of `textfit serve` on loopback: N concurrent clients, a fixed number of requests.

Starts the real server in a subprocess, sends --requests POST /v1/predict requests (each with
--texts-per-request real tweets) from --concurrency concurrent clients, then stops the server
with SIGTERM. Prints throughput, p50/p99 latency and the error count, for each --runtimes entry
(keras: the model in the precision auto picks; onnx / onnx-int8: onnxruntime on the files
`textfit export` writes, exported here first when missing), one server after the other.

    python benchmarks/serve_load.py                       # all-MiniLM-L6-v2 with a fresh 3-label head
    python benchmarks/serve_load.py --model sentiment-model --requests 10000 --concurrency 32
    python benchmarks/serve_load.py --runtimes keras onnx onnx-int8 --requests 3000
"""

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import httpx
import numpy as np


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _default_model(folder: str) -> str:
    import textfit

    model = textfit.TextClassifier.from_pretrained(textfit.default_model_dir(), labels=["negative", "neutral", "positive"], max_length=64)
    return str(model.save_pretrained(os.path.join(folder, "minilm-3-labels")))


async def _load(base_url: str, texts: list[str], num_requests: int, concurrency: int, texts_per_request: int):
    latencies, errors = [], []
    next_request = iter(range(num_requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:

        async def worker():
            for index in next_request:
                batch = [texts[(index * texts_per_request + k) % len(texts)] for k in range(texts_per_request)]
                started = time.perf_counter()
                try:
                    response = await client.post("/v1/predict", json={"texts": batch})
                    if response.status_code != 200 or len(response.json()["predictions"]) != len(batch):
                        errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
                except httpx.HTTPError as error:
                    errors.append(repr(error))
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, np.array(latencies), errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="Saved model folder (default: MiniLM with a fresh head).")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--runtimes", nargs="+", choices=("keras", "onnx", "onnx-int8"), default=["keras"])
    args = parser.parse_args()

    from textfit.data.datasets import load_tweet_sentiment

    texts = load_tweet_sentiment()["text"].sample(2000, random_state=0).tolist()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "unknown CPU")
    print(f"CPU: {cpu} ({os.cpu_count()} CPUs)")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        model_dir = args.model or _default_model(folder)
        for runtime in args.runtimes:
            if runtime != "keras":
                from textfit.serving.onnx import RUNTIMES, export_onnx

                if not os.path.exists(os.path.join(model_dir, RUNTIMES[runtime])):
                    export_onnx(model_dir, quantize="int8" if runtime == "onnx-int8" else None, sample_texts=texts[:256])
            rows.append((runtime, *_serve_and_load(model_dir, runtime, texts, args)))
    print(f"requests: {args.requests} x {args.texts_per_request} text(s), {args.concurrency} concurrent clients, model {model_dir}\n")
    print(f"{'runtime':<10} {'requests/s':>10} {'texts/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'exit':>4}")
    for runtime, seconds, latencies, errors, exit_code in rows:
        print(f"{runtime:<10} {args.requests / seconds:>10.1f} {args.requests * args.texts_per_request / seconds:>8.1f} "
              f"{1000 * np.percentile(latencies, 50):>8.1f} {1000 * np.percentile(latencies, 99):>8.1f} {len(errors):>6} {exit_code:>4}")
        if errors:
            print(f"  first error: {errors[0]}")
    return 0 if not any(row[3] for row in rows) else 1


def _serve_and_load(model_dir: str, runtime: str, texts: list[str], args):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "textfit", "serve", "--model", model_dir, "--runtime", runtime, "--port", str(port),
         "--max-batch-size", "64"],
        stderr=subprocess.PIPE, text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(base_url + "/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        asyncio.run(_load(base_url, texts, 64, args.concurrency, args.texts_per_request))  # warm-up
        seconds, latencies, errors = asyncio.run(_load(base_url, texts, args.requests, args.concurrency, args.texts_per_request))
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)
    return seconds, latencies, errors, server.returncode


if __name__ == "__main__":
    raise SystemExit(main())
