"""Load test of `textfit serve` on loopback: N concurrent clients, a fixed number of requests.

Starts the real server in a subprocess, sends --requests POST /v1/predict requests (each with
--texts-per-request real tweets) from --concurrency concurrent clients, then stops the server
with SIGTERM. Prints throughput, p50/p99 latency, the error count and the CPU time per request of
the server and of this load generator (they share the machine), for each --runtimes entry
(keras-float32: the Keras model in float32, the server as it was before bfloat16 and ONNX; keras: the
precision auto picks; onnx / onnx-int8: onnxruntime on the files `textfit export` writes, exported
here first when missing), one server after the other. The clients write HTTP/1.1 on raw keep-alive
connections: a general client (httpx) cost more CPU per request than the server it measured.

    python benchmarks/serve_load.py                       # all-MiniLM-L6-v2 with a fresh 3-label head
    python benchmarks/serve_load.py --model sentiment-model --requests 10000 --concurrency 32
    python benchmarks/serve_load.py --runtimes keras-float32 onnx-int8 --requests 3000
"""

import argparse
import asyncio
import json
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
    host, port = base_url.removeprefix("http://").split(":")

    async def worker():
        # One keep-alive connection per client, HTTP/1.1 written by hand: httpx's client spent 2-7 CPU ms per
        # request here (more than the server at 64 connections), on the same 2 cores as the server.
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for index in next_request:
                batch = [texts[(index * texts_per_request + k) % len(texts)] for k in range(texts_per_request)]
                body = json.dumps({"texts": batch}).encode()
                started = time.perf_counter()
                try:
                    writer.write(b"POST /v1/predict HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (host.encode(), len(body), body))
                    status, answer = await _read_response(reader)
                    if status != 200 or len(json.loads(answer)["predictions"]) != len(batch):
                        errors.append(f"HTTP {status}: {answer[:200]!r}")
                except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                    errors.append(repr(error))
                    return
                finally:
                    latencies.append(time.perf_counter() - started)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, np.array(latencies), errors


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response with a Content-Length (what uvicorn sends for JSON)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    length = int(next(value for name, value in headers.items() if name.strip().lower() == "content-length"))
    return int(lines[0].split()[1]), await reader.readexactly(length)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="Saved model folder (default: MiniLM with a fresh head).")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--runtimes", nargs="+", choices=("keras-float32", "keras", "onnx", "onnx-int8"),
                        default=["keras-float32", "keras", "onnx", "onnx-int8"])
    parser.add_argument("--baseline-commit", help="Also serve with textfit's code at this git commit (its default runtime), "
                                                  "e.g. the commit before a change, measured in the same run.")
    args = parser.parse_args()

    from textfit.data.datasets import load_tweet_sentiment

    texts = load_tweet_sentiment()["text"].sample(2000, random_state=0).tolist()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "unknown CPU")
    print(f"CPU: {cpu} ({os.cpu_count()} CPUs)")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        model_dir = args.model or _default_model(folder)
        if args.baseline_commit:
            source = os.path.join(folder, "baseline-source")
            os.makedirs(source)
            repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            archive = subprocess.run(["git", "-C", repo, "archive", args.baseline_commit, "textfit"], check=True, capture_output=True)
            subprocess.run(["tar", "-x", "-C", source], input=archive.stdout, check=True)
            rows.append((f"git:{args.baseline_commit[:7]}", *_serve_and_load(model_dir, "keras", texts, args, source=source)))
        for runtime in args.runtimes:
            if runtime.startswith("onnx"):
                from textfit.serving.onnx import RUNTIMES, export_onnx

                if not os.path.exists(os.path.join(model_dir, RUNTIMES[runtime])):
                    export_onnx(model_dir, quantize="int8" if runtime == "onnx-int8" else None, sample_texts=texts[:256])
            rows.append((runtime, *_serve_and_load(model_dir, runtime, texts, args)))
    print(f"requests: {args.requests} x {args.texts_per_request} text(s), {args.concurrency} concurrent clients, model {model_dir}\n")
    # CPU ms per request: the server's (all threads) and this load generator's, which shares the machine.
    print(f"{'runtime':<13} {'requests/s':>10} {'texts/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'exit':>4} "
          f"{'server CPU ms/req':>17} {'client CPU ms/req':>17}")
    for runtime, seconds, latencies, errors, exit_code, server_cpu, client_cpu in rows:
        print(f"{runtime:<13} {args.requests / seconds:>10.1f} {args.requests * args.texts_per_request / seconds:>8.1f} "
              f"{1000 * np.percentile(latencies, 50):>8.1f} {1000 * np.percentile(latencies, 99):>8.1f} {len(errors):>6} {exit_code:>4} "
              f"{1000 * server_cpu / args.requests:>17.2f} {1000 * client_cpu / args.requests:>17.2f}")
        if errors:
            print(f"  first error: {errors[0]}")
    return 0 if not any(row[3] for row in rows) else 1


def _serve_and_load(model_dir: str, runtime: str, texts: list[str], args, source: str | None = None):
    """Serve ``model_dir`` on ``runtime`` (with textfit's code from the folder ``source``, if given) and load it."""
    port = _free_port()
    if source is not None:
        runtime_flags = []
    elif runtime == "keras-float32":
        runtime_flags = ["--runtime", "keras", "--precision", "float32"]
    else:
        runtime_flags = ["--runtime", runtime]
    server = subprocess.Popen(
        [sys.executable, "-m", "textfit", "serve", "--model", model_dir, "--port", str(port), *runtime_flags,
         "--max-batch-size", "64"],
        stderr=subprocess.PIPE, text=True, cwd=source, env={**os.environ, "PYTHONPATH": source} if source else None,
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
        server_cpu, client_cpu = _cpu_seconds(server.pid), time.process_time()
        seconds, latencies, errors = asyncio.run(_load(base_url, texts, args.requests, args.concurrency, args.texts_per_request))
        server_cpu, client_cpu = _cpu_seconds(server.pid) - server_cpu, time.process_time() - client_cpu
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)
    return seconds, latencies, errors, server.returncode, server_cpu, client_cpu


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid``, all its threads (Linux /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    raise SystemExit(main())
