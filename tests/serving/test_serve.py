"""The HTTP server, started for real on a free loopback port and called with a real HTTP client."""

import concurrent.futures
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
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
    assert httpx.get(base_url + "/v1/model").json() == {"labels": ["neg", "pos"], "num_labels": 2, "model_type": "bert", "max_length": 32}


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
    ],
    ids=["malformed", "empty", "too-many", "not-a-list", "not-a-string", "no-texts", "pair-count", "too-long", "too-large"],
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
