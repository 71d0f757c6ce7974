"""A REST server that speaks TensorFlow Serving's API, on aiohttp."""

import asyncio
import concurrent.futures
import functools
import json
import logging
import os
import re

import aiohttp
from aiohttp import web

from keras_attn.checks import check_positive_int
from keras_attn.serving.batcher import Batcher
from keras_attn.serving.errors import ModelError
from keras_attn.serving.errors import RequestError
from keras_attn.serving.json_codec import format_predict_response
from keras_attn.serving.json_codec import parse_predict_request
from keras_attn.serving.served_model import ServedModel

logger = logging.getLogger("keras_attn.serving")

# /v1/models/NAME[/versions/N][/metadata | :verb]
_ROUTE = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?"
    r"(?:/(?P<metadata>metadata)|:(?P<verb>[A-Za-z_]+))?/?$"
)
# Model calls run in worker threads so the event loop keeps accepting,
# parsing and answering requests meanwhile. Small graphs (an RNN decoding
# loop) are latency-bound: one call cannot keep two cores busy, two calls
# can. The batcher runs at most this many batches at once, so while all
# workers are busy the next batch keeps filling.
_NUM_WORKERS = min(4, os.cpu_count() or 1)


def _json_response(payload, status=200):
    return web.Response(
        text=json.dumps(payload, ensure_ascii=False),
        status=status,
        content_type="application/json",
    )


class ModelServer:
    """Serve a SavedModel over TensorFlow Serving's REST API.

    The model is the SavedModel itself (`tf.saved_model.load`), never the
    Python model that wrote it. Endpoints, with TF Serving's JSON shapes:

    - `GET /v1/models/NAME` and `GET /v1/models/NAME/versions/V`: the model
      status (`model_version_status`, state `AVAILABLE`).
    - `GET /v1/models/NAME/metadata`: every SignatureDef's inputs and outputs
      with dtype and `tensor_shape`.
    - `POST /v1/models/NAME[/versions/V]:predict` with `{"instances": [...]}`
      (answered with `{"predictions": [...]}`) or `{"inputs": ...}`
      (answered with `{"outputs": ...}`), and an optional `signature_name`
      (default `serving_default`).
    - `GET /monitoring/prometheus/metrics`: request, error, model-call and
      row counters in Prometheus' text format.

    Concurrent predict requests for the same signature are batched: those
    that arrive within `batch_timeout_ms` of each other are concatenated
    along the batch axis, up to `max_batch_size` rows, run in one SavedModel
    call in a worker thread, and split back. Only signatures whose outputs
    and at least one input are batch-major are batched; requests whose other
    inputs (scalars such as `max_new_tokens`) differ never share a call.

    Every error is answered with `{"error": "..."}` saying what was received
    and what was expected: 400 for malformed JSON, wrong types, missing
    fields, an unknown signature, too many rows or an over-long string; 404
    for an unknown model, version or path; 405 for a wrong method; 413 for a
    body over `max_body_bytes` (a declared `Content-Length` over it is
    refused before any of the body is read); 400 for a body cut off before
    its `Content-Length` or not in its declared `Content-Encoding`; 400 when
    the model's own input checks fail (`InvalidArgumentError`, as TF Serving
    answers, e.g. a GPT export's `top_p=0`); 500 when the model fails
    otherwise. Client faults (4xx) are logged in one line and counted apart
    from server faults (5xx) in the metrics. The server keeps serving after
    any of them.

    Args:
        path: a SavedModel directory, or a TF Serving model base path with
            numeric version folders (the highest version is served).
        model_name: the `NAME` in the URLs (default: the folder name).
        max_batch_size: most rows in one model call, and so in one request.
        batch_timeout_ms: how long the first request of a batch waits for
            others; 0 turns batching off (each request runs alone).
        max_body_bytes: largest request body accepted.
        max_string_length: longest input string accepted, in UTF-8 bytes.

    Example:

    >>> import asyncio, os, tempfile
    >>> import tensorflow as tf
    >>> from aiohttp.test_utils import TestClient, TestServer
    >>> from keras_attn.serving import ModelServer
    >>> spec = tf.TensorSpec([None], tf.string, name="text")
    >>> class Shout(tf.Module):
    ...     @tf.function(input_signature=[spec])
    ...     def upper(self, text):
    ...         return {"upper": tf.strings.upper(text)}
    >>> module = Shout()
    >>> path = os.path.join(tempfile.mkdtemp(), "shout")
    >>> tf.saved_model.save(module, path, signatures={"serving_default": module.upper})
    >>> async def ask(body):
    ...     async with TestClient(TestServer(ModelServer(path).app())) as client:
    ...         response = await client.post("/v1/models/shout:predict", json=body)
    ...         return response.status, await response.json()
    >>> asyncio.run(ask({"instances": ["hello", "batch"]}))
    (200, {'predictions': ['HELLO', 'BATCH']})
    >>> asyncio.run(ask({"instances": [5]}))[0]
    400
    """

    def __init__(
        self,
        path,
        model_name=None,
        max_batch_size=32,
        batch_timeout_ms=2.0,
        max_body_bytes=1 << 20,
        max_string_length=4096,
    ):
        check_positive_int(max_batch_size, "max_batch_size")
        check_positive_int(max_body_bytes, "max_body_bytes")
        check_positive_int(max_string_length, "max_string_length", allow_none=True)
        if (
            isinstance(batch_timeout_ms, bool)
            or not isinstance(batch_timeout_ms, (int, float))
            or not batch_timeout_ms >= 0
        ):
            raise ValueError(
                f"batch_timeout_ms must be a number >= 0; received {batch_timeout_ms!r}"
            )
        self.max_batch_size = max_batch_size
        self.batch_timeout_ms = batch_timeout_ms
        self.max_body_bytes = max_body_bytes
        self.max_string_length = max_string_length
        self.model = ServedModel(path, model_name)
        self._inputs = {name: io[0] for name, io in self.model.signatures.items()}
        # Client faults (4xx) and server faults (5xx) are counted apart.
        self.stats = {"requests": 0, "client_errors": 0, "server_errors": 0}
        self._executor = None
        self._batcher = None

    def app(self):
        """A new `aiohttp.web.Application` serving this model.

        Run one application of a `ModelServer` at a time: they share its
        worker threads and batcher.

        Returns:
            The application, for `aiohttp.web.run_app` or aiohttp's test
            utilities.
        """
        app = web.Application(
            client_max_size=self.max_body_bytes, middlewares=[self._errors_as_json]
        )
        app.router.add_route("*", "/v1/{tail:.*}", self._route)
        app.router.add_get("/monitoring/prometheus/metrics", self._metrics)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, app):
        self._executor = concurrent.futures.ThreadPoolExecutor(
            _NUM_WORKERS, thread_name_prefix="keras_attn-serving"
        )
        if self.batch_timeout_ms > 0:
            self._batcher = Batcher(
                self.max_batch_size, self.batch_timeout_ms, _NUM_WORKERS
            )

    async def _stop(self, app):
        self._executor.shutdown(wait=False, cancel_futures=True)

    @web.middleware
    async def _errors_as_json(self, request, handler):
        """Answer every failure with TF Serving's `{"error": ...}` body."""
        if request.path != "/monitoring/prometheus/metrics":
            self.stats["requests"] += 1
        try:
            return await handler(request)
        except RequestError as error:
            # The client's fault: one line in the log, no traceback.
            self.stats["client_errors"] += 1
            logger.info(
                "%s %s -> %d: %s", request.method, request.path, error.status, error
            )
            response = _json_response({"error": str(error)}, error.status)
            if getattr(error, "unread_body", False):
                # Neither wait for nor read the rest of the body (aiohttp
                # would otherwise drain it, and log its error again): close.
                request.content.feed_eof()
                response.force_close()
            return response
        except asyncio.CancelledError:
            # aiohttp cancels the handler of a client that went away (an
            # upload aborted mid-body): the client's doing, not an error of
            # ours; counted, logged in one line, and not answered.
            transport = request.transport
            if transport is None or transport.is_closing():
                self.stats["client_errors"] += 1
                logger.info(
                    "%s %s: the client disconnected before the request was complete",
                    request.method,
                    request.path,
                )
            raise
        except ModelError as error:
            self.stats["server_errors"] += 1
            logger.error("%s", error, exc_info=error.__cause__)
            return _json_response({"error": str(error)}, 500)
        except web.HTTPException as error:
            if error.status < 400:
                raise
            self.stats["client_errors" if error.status < 500 else "server_errors"] += 1
            message = f"{error.reason}: {request.method} {request.path}"
            return _json_response({"error": message}, error.status)
        except Exception as error:  # A bug of ours: still answer in JSON.
            self.stats["server_errors"] += 1
            logger.exception("internal error on %s %s", request.method, request.path)
            return _json_response(
                {"error": f"internal server error: {type(error).__name__}: {error}"},
                500,
            )

    async def _route(self, request):
        match = _ROUTE.match(request.path)
        if match is None:
            raise RequestError(
                f"Malformed request: {request.method} {request.path}; expected "
                "/v1/models/NAME[/versions/V][/metadata | :predict]",
                status=404,
            )
        name, version = match["name"], match["version"]
        if name != self.model.name or (
            version is not None and int(version) != self.model.version
        ):
            wanted = f"Specific({name}, {version})" if version else f"Latest({name})"
            raise RequestError(
                f"Servable not found for request: {wanted}; this server serves "
                f"model {self.model.name!r} version {self.model.version}",
                status=404,
            )
        if match["verb"] is not None:
            if match["verb"] != "predict":
                raise RequestError(
                    f"this server implements :predict only; received :{match['verb']}"
                )
            self._check_method(request, "POST")
            return await self._predict(request)
        self._check_method(request, "GET")
        if match["metadata"]:
            return _json_response(self.model.metadata())
        return _json_response(self.model.status())

    @staticmethod
    def _check_method(request, allowed):
        if request.method != allowed:
            raise RequestError(
                f"{request.path} takes {allowed}; received {request.method}",
                status=405,
            )

    async def _read_json(self, request):
        too_large = RequestError(
            f"the request body is larger than max_body_bytes="
            f"{self.max_body_bytes} (received Content-Length "
            f"{request.content_length})",
            status=413,
        )
        # A declared length over the limit is refused before reading: a
        # client announcing 10**12 bytes must not hold the connection.
        too_large.unread_body = True
        if (request.content_length or 0) > self.max_body_bytes:
            raise too_large
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise too_large from None
        except (
            web.RequestPayloadError,  # cut off, or not in its Content-Encoding
            aiohttp.ClientPayloadError,
            aiohttp.http.HttpProcessingError,
            ConnectionError,
        ) as error:
            # An upload cut off mid-body, or a body that is not in its
            # declared Content-Encoding: the client's fault.
            unreadable = RequestError(
                f"the request body could not be read ({type(error).__name__}: "
                f"{' '.join(str(error).split())}); expected a complete body of "
                "Content-Length bytes in its declared Content-Encoding"
            )
            unreadable.unread_body = True
            raise unreadable from None
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as error:
            # ValueError covers JSONDecodeError and undecodable UTF-8.
            raise RequestError(
                f"malformed JSON body ({type(error).__name__}: {error}); expected "
                'an object such as {"instances": [...]}'
            ) from None

    async def _predict(self, request):
        body = await self._read_json(request)
        parsed = parse_predict_request(
            body,
            self._inputs,
            max_rows=self.max_batch_size,
            max_string_length=self.max_string_length,
        )
        signature = parsed.signature_name
        run = functools.partial(self._run, signature)
        if (
            self._batcher is None
            or parsed.rows is None
            or not self.model.is_batchable(signature)
        ):
            outputs = await run(parsed.inputs)
        else:
            outputs = await self._batcher.submit(
                self._batch_key(signature, parsed.inputs, parsed.batch_inputs),
                parsed.inputs,
                parsed.rows,
                parsed.batch_inputs,
                run,
            )
        return _json_response(format_predict_response(outputs, parsed.row_format))

    @staticmethod
    def _batch_key(signature, inputs, batch_inputs):
        """Requests may share a call only when this key is equal."""
        batched = tuple(
            (name, inputs[name].dtype.str, inputs[name].shape[1:])
            for name in sorted(batch_inputs)
        )
        fixed = tuple(
            (name, inputs[name].shape, repr(inputs[name].tolist()))
            for name in sorted(inputs)
            if name not in batch_inputs
        )
        return signature, batched, fixed

    async def _run(self, signature, inputs):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, self.model.run, signature, inputs
        )

    async def _metrics(self, request):
        labels = f'model="{self.model.name}",version="{self.model.version}"'
        counters = {
            "requests": (self.stats["requests"], "HTTP requests (metrics aside)"),
            "client_errors": (
                self.stats["client_errors"],
                "requests answered with a 4xx (the client's fault)",
            ),
            "server_errors": (
                self.stats["server_errors"],
                "requests answered with a 5xx (the server's or model's fault)",
            ),
            "model_calls": (self.model.calls, "SavedModel signature calls"),
            "rows": (self.model.rows, "batch rows run, padding included"),
        }
        lines = []
        for name, (value, text) in counters.items():
            metric = f"keras_attn_serving_{name}_total"
            lines += [
                f"# HELP {metric} {text}",
                f"# TYPE {metric} counter",
                f"{metric}{{{labels}}} {value}",
            ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


def serve(
    path,
    model_name=None,
    host="127.0.0.1",
    port=8501,
    max_batch_size=32,
    batch_timeout_ms=2.0,
    max_body_bytes=1 << 20,
    max_string_length=4096,
):
    """Serve a SavedModel over TF Serving's REST API until interrupted.

    Blocks; Ctrl-C (SIGINT) or SIGTERM stops the server. `ModelServer`
    describes the endpoints, batching and errors.

    Args:
        path: a SavedModel directory, or a TF Serving model base path with
            numeric version folders (the highest version is served).
        model_name: the `NAME` in the URLs (default: the folder name).
        host: the interface to listen on (`0.0.0.0` for every interface).
        port: the TCP port (TF Serving's REST default, 8501).
        max_batch_size: most rows in one model call, and so in one request.
        batch_timeout_ms: how long the first request of a batch waits for
            others; 0 turns batching off.
        max_body_bytes: largest request body accepted.
        max_string_length: longest input string accepted, in UTF-8 bytes.

    Example (a shell; `keras-attn serve PATH` does the same):

        python -c "from keras_attn.serving import serve; serve('exported/dates')"
        curl -d '{"instances": ["Sep 30, 1981"]}' \\
            http://127.0.0.1:8501/v1/models/dates:predict
    """
    server = ModelServer(
        path,
        model_name=model_name,
        max_batch_size=max_batch_size,
        batch_timeout_ms=batch_timeout_ms,
        max_body_bytes=max_body_bytes,
        max_string_length=max_string_length,
    )
    model = server.model
    batching = (
        f"batching up to {max_batch_size} rows within {batch_timeout_ms} ms"
        if batch_timeout_ms > 0
        else "batching off"
    )
    print(
        f"Serving model {model.name!r} version {model.version} from {model.path}\n"
        f"  signatures: {', '.join(sorted(model.signatures))}; {batching}\n"
        f"  REST API at http://{host}:{port}/v1/models/{model.name} "
        "(Ctrl-C to stop)",
        flush=True,
    )
    web.run_app(server.app(), host=host, port=port, print=None)
