"""``textfit serve``: a JSON-over-HTTP prediction server (Starlette on uvicorn).

Routes: ``POST /v1/predict`` (``{"texts": [...], "text_pairs": [...]}`` -> labels and
probabilities), ``GET /v1/model``, ``GET /health``. Concurrent requests are grouped into
micro-batches: one model call serves many requests, so throughput grows with concurrency.
Bad requests get a 4xx with ``{"error": "..."}`` naming what was wrong.
"""

import asyncio
import contextlib
import json
import logging
import signal
from dataclasses import dataclass, field

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from textfit.serving.predict import prediction_fields
from textfit.data.unicode import invalid_code_point

logger = logging.getLogger("textfit")


@dataclass(frozen=True, kw_only=True)
class ServeConfig:
    """Limits and batching of the prediction server.

    Args:
        host: address to bind; loopback by default, so nothing outside the machine can reach it.
        port: TCP port.
        max_request_bytes: largest request body accepted (413 above).
        max_texts_per_request: most texts in one request (422 above).
        max_text_chars: longest single text accepted (422 above).
        max_batch_size: most texts in one model call (micro-batch).
        max_wait_ms: how long a micro-batch waits for more requests before running.

    Example:
        >>> ServeConfig(port=8080, max_texts_per_request=128)
    """

    host: str = field(default="127.0.0.1", metadata={"help": "Address to bind (loopback by default)."})
    port: int = field(default=8000, metadata={"help": "TCP port."})
    max_request_bytes: int = field(default=1_000_000, metadata={"help": "Largest request body, in bytes."})
    max_texts_per_request: int = field(default=256, metadata={"help": "Most texts in one request."})
    max_text_chars: int = field(default=20_000, metadata={"help": "Longest text accepted, in characters."})
    max_batch_size: int = field(default=64, metadata={"help": "Most texts per model call (micro-batch)."})
    max_wait_ms: float = field(default=5.0, metadata={"help": "Wait for more requests before a micro-batch runs, in ms."})

    def __post_init__(self):
        for name in ("max_request_bytes", "max_texts_per_request", "max_text_chars", "max_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1. Received: {name}={getattr(self, name)}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in [0, 65535]. Received: port={self.port}")


class RequestError(Exception):
    """A client error: becomes a JSON 4xx response."""

    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code = status_code


class MicroBatcher:
    """Collect texts from concurrent requests and predict them together, one model call at a time."""

    def __init__(self, model, *, max_batch_size: int, max_wait_ms: float):
        self.model = model
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.queue: asyncio.Queue = asyncio.Queue()
        self._task = None
        self.num_batches = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Finish the queued work, then stop."""
        await self.queue.join()
        if self._task is not None:
            self._task.cancel()

    async def predict(self, inputs: list) -> list[np.ndarray]:
        """Logits for ``inputs`` (texts or (text, pair) tuples), once their micro-batch has run."""
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((inputs, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self.queue.get()]
            size = len(jobs[0][0])
            deadline = loop.time() + self.max_wait
            while size < self.max_batch_size:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self.queue.get(), timeout)
                except asyncio.TimeoutError:
                    break
                jobs.append(job)
                size += len(job[0])
            await self._predict_jobs(jobs)

    async def _predict_jobs(self, jobs) -> None:
        try:
            await self._run_jobs(jobs)
        finally:
            for _ in jobs:
                self.queue.task_done()

    async def _run_jobs(self, jobs) -> None:
        inputs = [item for job_inputs, _ in jobs for item in job_inputs]
        try:
            # The model runs in a worker thread so the event loop keeps accepting requests.
            logits = await asyncio.to_thread(self.model.predict_logits, inputs)
        except Exception as error:
            if len(jobs) == 1:
                if not jobs[0][1].done():
                    jobs[0][1].set_exception(error)
                return
            for job in jobs:  # one request's texts must not fail the others in its micro-batch: run each alone
                await self._run_jobs([job])
            return
        self.num_batches += 1
        start = 0
        for job_inputs, future in jobs:
            if not future.done():
                future.set_result(logits[start : start + len(job_inputs)])
            start += len(job_inputs)


def _parse_request(body: bytes, config: ServeConfig) -> list:
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RequestError(400, f"Request body is not valid JSON: {error}. Send {{\"texts\": [\"...\"]}}.") from None
    if not isinstance(payload, dict) or "texts" not in payload:
        raise RequestError(422, 'Expected a JSON object with a "texts" list, e.g. {"texts": ["I loved it"]}.')
    unknown = sorted(set(payload) - {"texts", "text_pairs"})
    if unknown:
        raise RequestError(422, f"Unknown field(s) {unknown}; accepted: texts, text_pairs.")
    texts = _check_texts(payload["texts"], "texts", config)
    pairs = payload.get("text_pairs")
    if pairs is None:
        return texts
    pairs = _check_texts(pairs, "text_pairs", config)
    if len(pairs) != len(texts):
        raise RequestError(422, f"text_pairs has {len(pairs)} items but texts has {len(texts)}; send one pair per text.")
    return list(zip(texts, pairs))


def _check_texts(values, name: str, config: ServeConfig) -> list[str]:
    if not isinstance(values, list):
        raise RequestError(422, f'"{name}" must be a list of strings, got {type(values).__name__}.')
    if not values:
        raise RequestError(422, f'"{name}" is empty; send at least one text.')
    if len(values) > config.max_texts_per_request:
        raise RequestError(
            422, f'"{name}" has {len(values)} items; the limit is {config.max_texts_per_request} per request. Split it.'
        )
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise RequestError(422, f'"{name}"[{index}] must be a string, got {type(value).__name__}.')
        if not value.strip():
            raise RequestError(422, f'"{name}"[{index}] is empty.')
        if len(value) > config.max_text_chars:
            raise RequestError(422, f'"{name}"[{index}] has {len(value)} characters; the limit is {config.max_text_chars}.')
        where = invalid_code_point(value)
        if where is not None:  # valid JSON ("\ud800") but not Unicode the tokenizer can take
            raise RequestError(
                422, f'"{name}"[{index}] is not valid Unicode: a lone surrogate ({where}). Send UTF-8 text, or replace it with U+FFFD.'
            )
    return values


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) as soon as it passes ``limit`` bytes, without reading the rest."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"Request body is over the limit of {limit} bytes. Send fewer or shorter texts.")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(model, config: ServeConfig = ServeConfig()) -> Starlette:
    """The Starlette app serving ``model`` (a ``TextClassifier``); run it with any ASGI server.

    Example:
        >>> app = create_app(TextClassifier.from_pretrained("sentiment-model"))
        >>> uvicorn.run(app, host="127.0.0.1", port=8000)
    """
    batcher = MicroBatcher(model, max_batch_size=config.max_batch_size, max_wait_ms=config.max_wait_ms)
    labels = list(model.labels)
    model_info = {
        "task": getattr(model, "task", "single_label"),
        "labels": labels,
        "num_labels": len(labels),
        "model_type": model.hf_config.get("model_type"),
        "max_length": model.model_config.max_length,
    }

    async def predict(request: Request) -> JSONResponse:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > config.max_request_bytes:
            message = f"Request body is over the limit of {config.max_request_bytes} bytes ({declared} declared). Send fewer or shorter texts."
            return JSONResponse({"error": message}, 413)
        try:
            inputs = _parse_request(await _read_body(request, config.max_request_bytes), config)
        except RequestError as error:
            return JSONResponse({"error": str(error)}, error.status_code)
        try:
            logits = await batcher.predict(inputs)
        except Exception as error:  # the model failed: say so as JSON, log the traceback, keep serving
            logger.exception("Prediction failed for a request of %d text(s)", len(inputs))
            return JSONResponse({"error": f"Prediction failed inside the model: {type(error).__name__}: {error}"}, 500)
        return JSONResponse({"predictions": prediction_fields(model, logits)})

    async def model_route(request: Request) -> JSONResponse:
        return JSONResponse(model_info)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        batcher.start()
        yield
        await batcher.stop()

    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        # 404 (no such route), 405 (wrong method)...: JSON like every other answer.
        return JSONResponse({"error": f"{error.detail}: {request.method} {request.url.path}. "
                                      "Routes: POST /v1/predict, GET /v1/model, GET /health."}, error.status_code)

    async def server_error(request: Request, error: Exception) -> JSONResponse:
        logger.exception("Unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": f"Internal server error: {type(error).__name__}: {error}"}, 500)

    app = Starlette(
        routes=[
            Route("/v1/predict", predict, methods=["POST"]),
            Route("/v1/model", model_route, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.state.batcher = batcher
    return app


def serve(model, config: ServeConfig = ServeConfig()) -> None:
    """Serve ``model`` until SIGINT/SIGTERM; in-flight requests finish before the process exits (status 0).

    Example:
        >>> serve(TextClassifier.from_pretrained("sentiment-model"), ServeConfig(port=8080))
    """
    import uvicorn

    class _GracefulServer(uvicorn.Server):
        # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, so the process would end
        # "killed by signal"; a requested stop is a clean exit here.
        @contextlib.contextmanager
        def capture_signals(self):
            previous = {sig: signal.signal(sig, self._request_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        def _request_exit(self, signum, frame):
            self.should_exit = True

    server_config = uvicorn.Config(
        create_app(model, config), host=config.host, port=config.port, log_level="warning", timeout_graceful_shutdown=10
    )
    logger.info("Serving %d labels on http://%s:%d (POST /v1/predict)", len(model.labels), config.host, config.port)
    _GracefulServer(server_config).run()
    logger.info("Stopped after finishing in-flight requests.")
