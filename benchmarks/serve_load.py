"""Load test of `textfit serve` on loopback: N concurrent clients, a fixed number of requests.

Starts the real server in a subprocess, sends --requests POST /v1/predict requests (each with
--texts-per-request real tweets) from --concurrency concurrent clients, then stops the server
with SIGTERM. Prints throughput, p50/p99 latency and the error count.

    python benchmarks/serve_load.py                       # all-MiniLM-L6-v2 with a fresh 3-label head
    python benchmarks/serve_load.py --model sentiment-model --requests 10000 --concurrency 32
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
    args = parser.parse_args()

    from textfit.data.datasets import load_tweet_sentiment

    texts = load_tweet_sentiment()["text"].sample(2000, random_state=0).tolist()
    with tempfile.TemporaryDirectory() as folder:
        model_dir = args.model or _default_model(folder)
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "textfit", "serve", "--model", model_dir, "--port", str(port), "--max-batch-size", "64"],
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
            seconds, latencies, errors = asyncio.run(
                _load(base_url, texts, args.requests, args.concurrency, args.texts_per_request)
            )
        finally:
            server.send_signal(signal.SIGTERM)
            server.communicate(timeout=60)
    print(f"requests:    {args.requests} x {args.texts_per_request} text(s), {args.concurrency} concurrent clients, model {model_dir}")
    print(f"time:        {seconds:.1f} s")
    print(f"throughput:  {args.requests / seconds:.1f} requests/s, {args.requests * args.texts_per_request / seconds:.1f} texts/s")
    print(f"latency:     p50 {1000 * np.percentile(latencies, 50):.1f} ms, p99 {1000 * np.percentile(latencies, 99):.1f} ms")
    print(f"errors:      {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    print(f"server exit: {server.returncode}")
    return 0 if not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
