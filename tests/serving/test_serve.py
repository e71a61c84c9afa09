"""The HTTP server, started for real on a free loopback port and called with a real HTTP client."""

import concurrent.futures
import contextlib
import json
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest
import uvicorn

from textfit import TextClassifier
from textfit.serving.serve import ServeConfig, create_app


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def saved_model_dir(tiny_checkpoint_dir, tmp_path_factory):
    from conftest import TOY_LABELS, TOY_TEXTS

    model = TextClassifier.from_pretrained(tiny_checkpoint_dir, labels=["neg", "pos"], max_length=32)
    model.fit(TOY_TEXTS, TOY_LABELS, epochs=2, batch_size=4, verbose=0)
    return model.save_pretrained(tmp_path_factory.mktemp("served") / "model")


@pytest.fixture(scope="module")
def server(saved_model_dir):
    """(base URL, app, model) of a uvicorn server running in a thread."""
    model = TextClassifier.from_pretrained(saved_model_dir)
    config = ServeConfig(port=_free_port(), max_texts_per_request=8, max_request_bytes=4096, max_text_chars=500)
    app = create_app(model, config)
    uvicorn_server = uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level="warning"))
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{config.port}"
    for _ in range(100):
        try:
            httpx.get(base_url + "/health", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    yield base_url, app, model
    uvicorn_server.should_exit = True
    thread.join(timeout=10)


def test_health_and_model_info(server):
    base_url, _, _ = server
    assert httpx.get(base_url + "/health").json() == {"status": "ok"}
    assert httpx.get(base_url + "/v1/model").json() == {
        "task": "single_label", "labels": ["neg", "pos"], "num_labels": 2, "model_type": "bert", "max_length": 32,
    }


def test_predict_returns_the_models_labels_and_probabilities(server):
    base_url, _, model = server
    texts = ["i love this film", "awful boring plot"]
    response = httpx.post(base_url + "/v1/predict", json={"texts": texts})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert [p["label"] for p in predictions] == model.predict(texts)
    for prediction, expected in zip(predictions, model.predict_proba(texts)):
        assert prediction["probabilities"] == pytest.approx(expected, abs=1e-6)


def test_predict_accepts_text_pairs(server):
    base_url, _, model = server
    response = httpx.post(base_url + "/v1/predict", json={"texts": ["the film"], "text_pairs": ["was great"]})
    assert response.status_code == 200
    assert response.json()["predictions"][0]["label"] == model.predict([("the film", "was great")])[0]


@pytest.mark.parametrize(
    "body, status, message",
    [
        (b"{not json", 400, "not valid JSON"),
        (json.dumps({"texts": []}), 422, '"texts" is empty'),
        (json.dumps({"texts": ["a"] * 9}), 422, "has 9 items; the limit is 8"),
        (json.dumps({"texts": "just one"}), 422, "must be a list of strings, got str"),
        (json.dumps({"texts": ["ok", 3]}), 422, r'"texts"\[1\] must be a string, got int'),
        (json.dumps({"text": ["ok"]}), 422, 'a "texts" list'),
        (json.dumps({"texts": ["ok"], "text_pairs": ["a", "b"]}), 422, "text_pairs has 2 items but texts has 1"),
        (json.dumps({"texts": ["x" * 501]}), 422, "has 501 characters; the limit is 500"),
        (json.dumps({"texts": ["word "] * 2000}), 413, "over the limit of 4096 bytes"),
        ('{"texts": ["ok", "bad \\ud800 text"]}', 422, r'"texts"\[1\] is not valid Unicode: a lone surrogate \(U\+D800'),
        ('{"texts": ["ok"], "text_pairs": ["\\udce9"]}', 422, r'"text_pairs"\[0\] is not valid Unicode'),
        (b'{"texts": ["caf\xe9"]}', 400, "not valid JSON"),
    ],
    ids=["malformed", "empty", "too-many", "not-a-list", "not-a-string", "no-texts", "pair-count", "too-long", "too-large",
         "lone-surrogate", "lone-surrogate-pair", "latin-1-bytes"],
)
def test_bad_requests_get_a_4xx_with_a_json_error(server, body, status, message):
    base_url, _, _ = server
    response = httpx.post(base_url + "/v1/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert re.search(message, response.json()["error"]), response.json()


def test_a_chunked_body_over_the_limit_is_refused_without_content_length(server):
    base_url, _, _ = server
    chunks = (b'{"texts": [' + b'"word", ' * 100 for _ in range(20))
    response = httpx.post(base_url + "/v1/predict", content=chunks)
    assert "content-length" not in response.request.headers
    assert response.status_code == 413 and "over the limit of 4096 bytes" in response.json()["error"]


def test_concurrent_requests_share_micro_batches(server):
    base_url, app, model = server
    before = app.state.batcher.num_batches
    texts = [f"the film was {word}" for word in ("great", "bad", "fun", "dull", "good", "awful")] * 8
    with httpx.Client() as client, concurrent.futures.ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda t: client.post(base_url + "/v1/predict", json={"texts": [t]}), texts))
    assert all(r.status_code == 200 for r in responses)
    assert [r.json()["predictions"][0]["label"] for r in responses] == model.predict(texts)
    assert app.state.batcher.num_batches - before < len(texts)


def test_cli_serve_binds_loopback_and_shuts_down_gracefully(saved_model_dir):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "textfit", "serve", "--model", str(saved_model_dir), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        for _ in range(300):
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert response.json() == {"status": "ok"}
        assert httpx.post(f"http://127.0.0.1:{port}/v1/predict", json={"texts": ["great fun"]}).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert f"http://127.0.0.1:{port}" in stderr and "Stopped after finishing in-flight requests" in stderr


def test_unknown_routes_and_methods_get_json_errors(server):
    base_url, _, _ = server
    missing = httpx.get(base_url + "/v2/nothing")
    assert missing.status_code == 404 and "Routes: POST /v1/predict" in missing.json()["error"]
    wrong_method = httpx.get(base_url + "/v1/predict")
    assert wrong_method.status_code == 405 and "GET /v1/predict" in wrong_method.json()["error"]


class _ModelThatFailsOnBoom:
    """Stands in for a model whose forward pass raises on some input (a bug, or a text it cannot take)."""

    labels = ("neg", "pos")
    task = "single_label"
    hf_config = {"model_type": "stub"}

    class model_config:  # noqa: N801 (mimics the attribute)
        max_length = 16

    def predict_logits(self, inputs):
        if any("boom" in text for text in inputs):
            raise RuntimeError("the model broke on 'boom'")
        time.sleep(0.05)
        return np.zeros((len(inputs), 2), dtype=np.float32)


@contextlib.contextmanager
def _running(app, port):
    uvicorn_server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(base_url + "/health", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    try:
        yield base_url
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=10)


def test_a_failing_model_gives_json_500_to_its_request_only_and_the_server_stays_up():
    app = create_app(_ModelThatFailsOnBoom(), ServeConfig(max_wait_ms=200, max_batch_size=64))
    texts = ["fine one", "boom goes this", "fine two", "fine three"]
    with _running(app, _free_port()) as base_url, concurrent.futures.ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda text: httpx.post(base_url + "/v1/predict", json={"texts": [text]}, timeout=30), texts))
        assert [r.status_code for r in responses] == [200, 500, 200, 200]
        assert "Prediction failed inside the model: RuntimeError" in responses[1].json()["error"]
        assert httpx.get(base_url + "/health").json() == {"status": "ok"}
        assert httpx.post(base_url + "/v1/predict", json={"texts": ["after"]}).status_code == 200


def test_fuzzed_requests_never_get_a_5xx_and_always_json_errors(server):
    """A few hundred malformed requests: random JSON shapes, types, escapes and bytes."""
    base_url, _, _ = server
    rng = random.Random(0)
    atoms = [None, True, 0, -1, 1.5, 1e308, "", " ", "ok", "\\ud800", "\\udfff", "\\u0000", "\\ud83d\\ude00", "x" * 600, [], {}]

    def value(depth=0):
        choice = rng.random()
        if depth < 3 and choice < 0.25:
            return [value(depth + 1) for _ in range(rng.randint(0, 10))]
        if depth < 3 and choice < 0.4:
            return {rng.choice(["texts", "text_pairs", "x", ""]): value(depth + 1) for _ in range(rng.randint(0, 3))}
        atom = rng.choice(atoms)
        return json.dumps(atom) if isinstance(atom, str) and "\\" not in atom else atom

    bodies = []
    for _ in range(300):
        kind = rng.random()
        if kind < 0.6:
            payload = {"texts": value()} if rng.random() < 0.7 else value()
            body = json.dumps(payload)
            for escape in ("\\\\ud800", "\\\\udfff"):  # undo json.dumps' escaping of our escapes
                body = body.replace(escape, escape[1:])
        elif kind < 0.8:
            body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
        else:
            body = '{"texts": ["' + rng.choice(["\\ud800", "\\udc80", "a\\ud800b", "\\ud800\\ud800"]) + '"]}'
        bodies.append(body.encode() if isinstance(body, str) else body)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for body in bodies:
            response = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
            assert response.status_code < 500, (body, response.text)
            if response.status_code >= 400:
                assert isinstance(response.json()["error"], str) and response.json()["error"], (body, response.text)
        assert client.get("/health").json() == {"status": "ok"}
        assert client.post("/v1/predict", json={"texts": ["great fun"]}).status_code == 200


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_requests_in_flight_at_shutdown_get_their_answers(saved_model_dir, stop_signal):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "textfit", "serve", "--model", str(saved_model_dir), "--port", str(port), "--max-wait-ms", "1500",
         "--max-batch-size", "1000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(base_url + "/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            # The micro-batcher holds each request up to 1.5 s waiting for company: the signal lands mid-wait.
            futures = [pool.submit(httpx.post, base_url + "/v1/predict", json={"texts": [f"great fun {i}"]}, timeout=30) for i in range(8)]
            time.sleep(0.5)
            assert not any(future.done() for future in futures), "the requests finished before the signal"
            process.send_signal(stop_signal)
            responses = [future.result() for future in futures]
        # The answers can arrive before the interpreter has finished exiting: wait for it, and never
        # signal again (a second signal after the server stopped meets the default handler).
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)
    assert [response.status_code for response in responses] == [200] * 8
    assert all(len(response.json()["predictions"]) == 1 for response in responses)
    assert process.returncode == 0, stderr
