"""The REST server against SavedModels called directly.

Every server runs in-process on a loopback port (aiohttp's TestServer);
answers are compared with the same SavedModel called through
`tf.saved_model.load`, or with what the toy model computes by definition.
"""

import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from aiohttp.test_utils import TestClient
from aiohttp.test_utils import TestServer

from keras_attn.serving import ModelServer
from keras_attn.serving import resolve_model_path
from tests.serving.helpers import call_saved_model
from tests.serving.helpers import decoded
from tests.serving.helpers import save_date_converter
from tests.serving.helpers import save_toy_model
from tests.serving.helpers import send

pytestmark = pytest.mark.tf_only

DATES = ["Sep 30, 1981", "TUESDAY, SEPTEMBER 25, 1984", "10/31/90", "ü", "", "7 Jan"]


@pytest.fixture(scope="module")
def toy_base(tmp_path_factory):
    """A TF Serving model base path `toy/{1,3}`: version 3 must be served."""
    base = tmp_path_factory.mktemp("models") / "toy"
    save_toy_model(str(base / "1"))
    shutil.copytree(base / "1", base / "3")
    return str(base)


@pytest.fixture(scope="module")
def toy(toy_base):
    return ModelServer(toy_base, max_batch_size=8, batch_timeout_ms=1.0)


@pytest.fixture(scope="module")
def date_path(tmp_path_factory):
    return save_date_converter(str(tmp_path_factory.mktemp("export") / "dates"))


@pytest.fixture(scope="module")
def date_server(date_path):
    # A batch of len(DATES) rows is full, so it runs without waiting for the
    # (long, for loaded machines) timeout.
    return ModelServer(
        date_path,
        max_batch_size=len(DATES),
        batch_timeout_ms=5000,
        max_string_length=64,
    )


@pytest.fixture(scope="module")
def date_expected(date_path):
    """What the SavedModel itself answers for DATES."""
    iso = call_saved_model(date_path, "convert", dates=np.array(DATES, object))
    expected = decoded(iso["iso"])
    assert len(set(expected)) > 1  # Different inputs, different outputs.
    return expected


def _predict_url(name, version=None):
    version = f"/versions/{version}" if version is not None else ""
    return f"/v1/models/{name}{version}:predict"


def test_status_serves_the_highest_version(toy):
    (status, kind, body), (v3, _, body3), (v1, _, body1), (unknown, _, error) = send(
        toy,
        ("GET", "/v1/models/toy"),
        ("GET", "/v1/models/toy/versions/3"),
        ("GET", "/v1/models/toy/versions/1"),
        ("GET", "/v1/models/nope"),
    )
    expected = {
        "model_version_status": [
            {
                "version": "3",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    assert (status, kind, body) == (200, "application/json", expected)
    assert (v3, body3) == (200, expected)
    assert v1 == 404 and "Specific(toy, 1)" in body1["error"]
    assert unknown == 404 and "Latest(nope)" in error["error"]


def test_resolve_model_path_names_and_versions(toy_base, tmp_path):
    assert resolve_model_path(toy_base)[1:] == ("toy", 3)
    assert resolve_model_path(os.path.join(toy_base, "1"))[1:] == ("toy", 1)
    assert resolve_model_path(toy_base, "renamed")[1:] == ("renamed", 3)
    with pytest.raises(FileNotFoundError, match="no model at"):
        resolve_model_path(tmp_path / "missing")
    with pytest.raises(ValueError, match="neither a SavedModel"):
        resolve_model_path(tmp_path)
    with pytest.raises(ValueError, match="model_name"):
        resolve_model_path(toy_base, "a/b")
    with pytest.raises(ValueError, match="max_batch_size"):
        ModelServer(toy_base, max_batch_size=0)
    with pytest.raises(ValueError, match="batch_timeout_ms"):
        ModelServer(toy_base, batch_timeout_ms=-1)


def test_metadata_has_every_signature_def(toy):
    [(status, _, body)] = send(toy, ("GET", "/v1/models/toy/versions/3/metadata"))
    assert status == 200
    assert body["model_spec"] == {"name": "toy", "signature_name": "", "version": "3"}
    defs = body["metadata"]["signature_def"]["signature_def"]
    # As in TF Serving and `saved_model_cli show`, the init op is listed too.
    assert set(defs) == {"serving_default", "repeat", "scale", "__saved_model_init_op"}
    factor = defs["scale"]["inputs"]["factor"]["tensor_shape"]
    assert factor == {"dim": [], "unknown_rank": True}

    def dims(tensor):
        assert tensor["tensor_shape"]["unknown_rank"] is False
        return [d["size"] for d in tensor["tensor_shape"]["dim"]]

    double = defs["serving_default"]
    assert double["method_name"] == "tensorflow/serving/predict"
    assert double["inputs"]["x"]["dtype"] == "DT_FLOAT"
    assert dims(double["inputs"]["x"]) == ["-1", "2"]
    assert dims(double["outputs"]["y"]) == ["-1", "2"]
    repeat = defs["repeat"]
    assert {k: v["dtype"] for k, v in repeat["inputs"].items()} == {
        "text": "DT_STRING",
        "times": "DT_INT32",
    }
    assert dims(repeat["inputs"]["times"]) == []
    assert dims(repeat["inputs"]["text"]) == ["-1"]
    assert {k: v["dtype"] for k, v in repeat["outputs"].items()} == {
        "text": "DT_STRING",
        "batch_rows": "DT_INT32",
    }


def test_date_converter_answers_like_the_saved_model(date_server, date_expected):
    named = [{"dates": d} for d in DATES]
    binary = [{"b64": base64.b64encode(d.encode()).decode()} for d in DATES]
    responses = send(
        date_server,
        ("POST", _predict_url("dates"), {"instances": DATES}),
        ("POST", _predict_url("dates", 1), {"instances": named}),
        ("POST", _predict_url("dates"), {"signature_name": "convert", "inputs": DATES}),
        ("POST", _predict_url("dates"), {"inputs": {"dates": binary}}),
        ("POST", _predict_url("dates"), json.dumps({"instances": DATES})),
    )
    assert responses[0] == (200, "application/json", {"predictions": date_expected})
    assert responses[1][2] == {"predictions": date_expected}
    assert responses[2][2] == {"outputs": date_expected}
    assert responses[3][2] == {"outputs": date_expected}
    assert responses[4][2] == {"predictions": date_expected}


def test_date_converter_batches_concurrent_requests(date_server, date_expected):
    calls = date_server.model.calls
    responses = send(
        date_server,
        *(("POST", _predict_url("dates"), {"instances": [d]}) for d in DATES),
    )
    assert date_server.model.calls == calls + 1
    assert [r[2]["predictions"][0] for r in responses] == date_expected


def test_multi_input_signature_rows_and_columns(toy):
    instances = [
        {"text": "ab", "times": 2},
        {"text": "ü", "times": 2},
        {"text": {"b64": base64.b64encode(b"\xff").decode()}, "times": 2},
    ]
    row, column, double = send(
        toy,
        (
            "POST",
            _predict_url("toy"),
            {"signature_name": "repeat", "instances": instances},
        ),
        (
            "POST",
            _predict_url("toy"),
            {"signature_name": "repeat", "inputs": {"text": ["x", "yz"], "times": 3}},
        ),
        ("POST", _predict_url("toy"), {"instances": [[1.5, -2], [0, 1e3]]}),
    )
    # Invalid UTF-8 comes back as base64, as TF Serving does.
    assert row[:2] == (200, "application/json")
    assert [p["text"] for p in row[2]["predictions"]] == [
        "abab",
        "üü",
        {"b64": base64.b64encode(b"\xff\xff").decode()},
    ]
    assert column[2] == {"outputs": {"text": ["xxx", "yzyzyz"], "batch_rows": [2, 2]}}
    assert double[2] == {"predictions": [[3.0, -4.0], [0.0, 2000.0]]}


# The batching tests fill their batches to max_batch_size, which runs them at
# once; the long timeout only matters if batching is broken (the test then
# takes 10 s and fails its call counts), so a loaded machine cannot make
# them flaky.
LONG_MS = 10_000


def test_concurrent_requests_share_one_model_call(toy_base):
    server = ModelServer(toy_base, max_batch_size=6, batch_timeout_ms=LONG_MS)

    def repeat(texts, times=2):
        body = {"signature_name": "repeat", "inputs": {"text": texts, "times": times}}
        return ("POST", _predict_url("toy"), body)

    texts = [["a"], ["b", "c"], ["d"], ["e", "f"]]
    responses = send(server, *(repeat(t) for t in texts))
    assert server.model.calls == 1
    for t, (status, _, body) in zip(texts, responses):
        # Each request gets its own rows back, computed in a batch of 6.
        assert status == 200
        assert body["outputs"] == {
            "text": [s * 2 for s in t],
            "batch_rows": [6] * len(t),
        }

    # Different scalars never share a call.
    calls = server.model.calls
    three, six = ["a", "b", "c"], ["d", "e", "f", "g", "h", "i"]
    responses = send(server, repeat(three, 2), repeat(six, 3), repeat(three, 2))
    assert server.model.calls == calls + 2
    assert [r[2]["outputs"]["text"] for r in responses] == [
        [s * 2 for s in three],
        [s * 3 for s in six],
        [s * 2 for s in three],
    ]
    assert all(
        r[2]["outputs"]["batch_rows"] == [6] * len(r[2]["outputs"]["text"])
        for r in responses
    )

    # 12 one-row requests make 2 calls of 6, in request order.
    calls = server.model.calls
    responses = send(server, *(repeat([str(i)]) for i in range(12)))
    assert server.model.calls == calls + 2
    assert all(r[2]["outputs"]["batch_rows"] == [6] for r in responses)
    assert [r[2]["outputs"]["text"] for r in responses] == [
        [f"{i}{i}"] for i in range(12)
    ]


def test_inputs_of_unknown_rank_batch_in_row_format_only(toy_base):
    """Like a GPT export's sampler settings: a scalar, or one value per row."""
    server = ModelServer(toy_base, max_batch_size=4, batch_timeout_ms=LONG_MS)

    def scale(body):
        return ("POST", _predict_url("toy"), {"signature_name": "scale", **body})

    # Row format: `factor` is stacked from the instances, so its first axis
    # is the batch and the requests share one call of 4 rows.
    rows = [
        [{"x": 1, "factor": 2}],
        [{"x": 3, "factor": 10}],
        [{"x": 1, "factor": 1}, {"x": 2, "factor": -1}],
    ]
    answers = send(server, *(scale({"instances": r}) for r in rows))
    assert server.model.calls == 1
    assert [a[2]["predictions"] for a in answers] == [
        [{"y": 2.0, "batch_rows": 4}],
        [{"y": 30.0, "batch_rows": 4}],
        [{"y": 1.0, "batch_rows": 4}, {"y": -2.0, "batch_rows": 4}],
    ]
    # Columnar: a scalar factor batches with equal scalars only; a list
    # factor may or may not be per row, so its request runs alone.
    calls = server.model.calls
    answers = send(
        server,
        scale({"inputs": {"x": [1, 2], "factor": 3}}),
        scale({"inputs": {"x": [3, 4], "factor": 3}}),
        scale({"inputs": {"x": [5, 6], "factor": [1, 2]}}),
    )
    assert server.model.calls == calls + 2
    assert [a[2]["outputs"] for a in answers] == [
        {"y": [3.0, 6.0], "batch_rows": [4, 4]},
        {"y": [9.0, 12.0], "batch_rows": [4, 4]},
        {"y": [5.0, 12.0], "batch_rows": [2, 2]},
    ]


def test_batching_off_runs_each_request_alone(toy_base):
    server = ModelServer(toy_base, batch_timeout_ms=0)
    body = {"signature_name": "repeat", "instances": [{"text": "a", "times": 1}]}
    responses = send(server, *[("POST", _predict_url("toy"), body)] * 3)
    assert server.model.calls == 3
    assert all(
        r[2]["predictions"] == [{"text": "a", "batch_rows": 1}] for r in responses
    )


BAD_REQUESTS = [
    # (method, path, body, status, words the error must contain)
    ("POST", ":predict", b'{"instances": [', 400, "malformed JSON"),
    ("POST", ":predict", b"\xff\xfe", 400, "malformed JSON"),
    ("POST", ":predict", [1, 2], 400, "expected a JSON object"),
    ("POST", ":predict", {"signature_name": "repeat"}, 400, "exactly one of"),
    ("POST", ":predict", {"instances": [[1, 2]], "inputs": [[1, 2]]}, 400, "exactly"),
    ("POST", ":predict", {"instances": []}, 400, "empty"),
    ("POST", ":predict", {"instances": [["a", 1]]}, 400, "received the string 'a'"),
    ("POST", ":predict", {"instances": [[1, 2], [3]]}, 400, "ragged"),
    ("POST", ":predict", {"instances": [[1, 2, 3]]}, 400, "expects (None, 2)"),
    ("POST", ":predict", {"instances": [1, 2]}, 400, "rank 2"),
    ("POST", ":predict", {"instances": [[[1, 2]]]}, 400, "deeper"),
    ("POST", ":predict", {"inputs": {"z": [[1, 2]]}}, 400, "unexpected ['z']"),
    (
        "POST",
        ":predict",
        {"signature_name": "nope", "inputs": 1},
        400,
        "'nope' not found",
    ),
    ("POST", ":predict", {"signature_name": 7, "inputs": 1}, 400, "must be a string"),
    ("POST", ":predict", {"instances": [[0, 0]] * 9}, 400, "too many instances"),
    ("POST", ":predict", {"instances": "x" * 500}, 413, "max_body_bytes"),
    ("GET", ":predict", None, 405, "takes POST"),
    ("POST", "", {}, 405, "takes GET"),
    ("POST", ":classify", {}, 400, ":predict only"),
    ("GET", "/extra/path", None, 404, "Malformed request"),
]
REPEAT_BAD = [
    ([{"text": "a"}], 400, "missing ['times']"),
    ([{"text": 5, "times": 1}], 400, "expected a string"),
    ([{"text": ["a"], "times": 1}], 400, "rank 1"),
    ([{"text": "a", "times": 1}, {"text": "b", "times": 2}], 400, "same value"),
    ([{"text": "a", "times": 1.5}], 400, "expected an integer"),
    ([{"text": "a", "times": True}], 400, "received the boolean True"),
    ([{"text": "a", "times": 2**40}], 400, "out of range for int32"),
    ([{"text": "é" * 51, "times": 1}], 400, "102 bytes is longer than"),
    ([{"text": {"b64": "not base64!"}, "times": 1}], 400, "not valid base64"),
    (["a", "b"], 400, "object keyed by input name"),
]


def test_bad_requests_get_json_4xx_and_the_server_keeps_serving(toy_base):
    server = ModelServer(
        toy_base, max_batch_size=8, max_body_bytes=400, max_string_length=100
    )
    requests = [
        (method, f"/v1/models/toy{suffix}", body)
        for method, suffix, body, *_ in BAD_REQUESTS
    ]
    requests += [
        ("POST", "/v1/models/toy:predict", {"signature_name": "repeat", "instances": i})
        for i, *_ in REPEAT_BAD
    ]
    requests.append(("GET", "/", None))
    requests.append(("POST", "/v1/models/toy:predict", {"instances": [[1, 2]]}))
    *answers, good = send(server, *requests)
    expected = [(s, w) for *_, s, w in BAD_REQUESTS] + [
        (s, w) for _, s, w in REPEAT_BAD
    ]
    expected.append((404, "Not Found: GET /"))
    for request, (status, words), answer in zip(requests, expected, answers):
        assert answer[:2] == (status, "application/json"), (request, answer)
        assert list(answer[2]) == ["error"], answer
        assert words in answer[2]["error"], (request, answer)
    assert good == (200, "application/json", {"predictions": [[2.0, 4.0]]})
    assert server.stats["client_errors"] == len(answers)
    assert server.stats["server_errors"] == 0


def test_model_failure_is_a_500_and_only_fails_its_own_request(toy_base):
    server = ModelServer(toy_base, max_batch_size=3, batch_timeout_ms=LONG_MS)

    def repeat(text, times=1):
        body = {
            "signature_name": "repeat",
            "instances": [{"text": text, "times": times}],
        }
        return ("POST", _predict_url("toy"), body)

    # "boom" fails the shared call; the batch is rerun request by request.
    ok_a, boom, ok_b = send(server, repeat("a"), repeat("boom"), repeat("b"))
    [negative] = send(
        server,
        (
            "POST",
            _predict_url("toy"),
            {"signature_name": "repeat", "inputs": {"text": ["c"] * 3, "times": -1}},
        ),
    )
    assert boom[:2] == (500, "application/json")
    assert (
        "boom" in boom[2]["error"] and "signature 'repeat' failed" in boom[2]["error"]
    )
    # The graph's own input check (InvalidArgumentError) is a 400, as in
    # TensorFlow Serving: the client's fault.
    assert negative[0] == 400 and "times < 0" in negative[2]["error"]
    assert "rejected the input" in negative[2]["error"]
    assert server.stats == {"requests": 4, "client_errors": 1, "server_errors": 1}
    assert ok_a[2] == {"predictions": [{"text": "a", "batch_rows": 1}]}
    assert ok_b[2] == {"predictions": [{"text": "b", "batch_rows": 1}]}
    [after] = send(server, ("POST", _predict_url("toy"), {"inputs": [[1, 2]] * 3}))
    assert after == (200, "application/json", {"outputs": [[2.0, 4.0]] * 3})


def test_metrics_count_requests_and_model_calls(toy_base):
    server = ModelServer(toy_base, max_batch_size=3, batch_timeout_ms=LONG_MS)
    body = {"instances": [[1, 2]]}
    *_, (status, kind, _) = send(server, *[("POST", _predict_url("toy"), body)] * 3)

    async def metrics():
        async with TestClient(TestServer(server.app())) as client:
            response = await client.get("/monitoring/prometheus/metrics")
            return await response.text()

    text = asyncio.run(metrics())
    assert 'keras_attn_serving_model_calls_total{model="toy",version="3"} 1' in text
    assert 'keras_attn_serving_rows_total{model="toy",version="3"} 3' in text
    assert 'keras_attn_serving_requests_total{model="toy",version="3"} 3' in text


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_serve_blocks_and_answers_over_http(toy_base):
    """`serve()` as the CLI calls it, in its own process, stopped by SIGTERM."""
    port = _free_port()
    code = (
        "import sys; from keras_attn.serving import serve; "
        "serve(sys.argv[1], model_name='toy', port=int(sys.argv[2]))"
    )
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(
        [sys.executable, "-c", code, toy_base, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}/v1/models/toy"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = _http("GET", url)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.stdout.read()) from None
                time.sleep(0.2)
        assert status == 200 and body["model_version_status"][0]["version"] == "3"
        assert _http("POST", url + ":predict", {"inputs": [[1, 1]]}) == (
            200,
            {"outputs": [[2.0, 2.0]]},
        )
        assert _http("POST", url + ":predict", {"inputs": "x"})[0] == 400
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"REST API at http://127.0.0.1:{port}/v1/models/toy" in output


# --- Client faults are 4xx, counted apart from server faults ---------------


@pytest.fixture(scope="module")
def gpt_base(tmp_path_factory):
    from keras_attn.data import tokenizers
    from keras_attn.export import export_gpt_generator
    from keras_attn.models import GPTBackbone
    from keras_attn.models import GPTCausalLM

    tokenizer = tokenizers.byte_tokenizer()
    backbone = GPTBackbone(
        tokenizer.vocabulary_size(),
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=16,
    )
    base = tmp_path_factory.mktemp("gpt") / "gpt"
    export_gpt_generator(GPTCausalLM(backbone), tokenizer, str(base / "1"))
    return str(base)


def generate_body(**settings):
    inputs = {
        "prompt": ["Hi"],
        "max_new_tokens": 3,
        "temperature": 1.0,
        "top_k": 0,
        "top_p": 1.0,
        "seed": 1,
    }
    return {"signature_name": "generate", "inputs": {**inputs, **settings}}


BAD_GENERATE = [
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(max_new_tokens=-1), "max_new_tokens"),
    (dict(top_p=0.0), "top_p"),
    (dict(top_p=1.5), "top_p"),
    (dict(top_p=float("nan")), "top_p"),
    (dict(temperature=-1.0), "temperature"),
    (dict(temperature=float("nan")), "temperature"),
    (dict(top_k=-1), "top_k"),
    (dict(prompt=[""]), "empty prompt"),
    (dict(prompt=["x" * 40]), "max_sequence_length"),
    (dict(prompt=["a", "b"], top_p=[0.5, 0.5, 0.5]), "one per prompt"),
]


def test_bad_generate_settings_are_400s_with_one_log_line(gpt_base, caplog):
    server = ModelServer(gpt_base, batch_timeout_ms=0)
    requests = [
        ("POST", _predict_url("gpt"), generate_body(**settings))
        for settings, _ in BAD_GENERATE
    ]
    with caplog.at_level("INFO", logger="keras_attn.serving"):
        *answers, good = send(
            server, *requests, ("POST", _predict_url("gpt"), generate_body())
        )
    for (settings, words), answer in zip(BAD_GENERATE, answers):
        assert answer[0] == 400, (settings, answer)
        assert words in answer[2]["error"], (settings, answer)
    assert good[0] == 200 and good[2]["outputs"]["text"][0].startswith("Hi")
    assert server.stats["client_errors"] == len(BAD_GENERATE)
    assert server.stats["server_errors"] == 0
    records = [r for r in caplog.records if r.name == "keras_attn.serving"]
    assert len(records) == len(BAD_GENERATE)  # One line each ...
    assert not any(r.exc_info for r in records)  # ... and no traceback.


async def _raw(host, port, data, close=False):
    """Send raw bytes on a fresh connection; the response (or None)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(data)
    await writer.drain()
    if close:  # An upload aborted mid-body.
        writer.close()
        await asyncio.sleep(0.5)
        return None
    response = await asyncio.wait_for(reader.read(4096), 10)
    writer.close()
    return response


def test_malformed_uploads_are_client_faults(toy_base, caplog):
    server = ModelServer(toy_base, max_body_bytes=400)
    head = b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\n"
    body = b'{"instances": [[1, 2]]}'

    async def main():
        test_server = TestServer(server.app())
        await test_server.start_server()
        host, port = test_server.host, test_server.port
        start = time.monotonic()
        huge = await _raw(host, port, head + b"Content-Length: 1000000000000\r\n\r\n")
        huge_seconds = time.monotonic() - start
        gzip = await _raw(
            host,
            port,
            head
            + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body)
            + body,
        )
        await _raw(host, port, head + b"Content-Length: 300\r\n\r\n" + body, True)
        good = await _raw(
            host, port, head + b"Content-Length: %d\r\n\r\n" % len(body) + body
        )
        await test_server.close()
        return huge, huge_seconds, gzip, good

    with caplog.at_level("INFO", logger="keras_attn.serving"):
        huge, huge_seconds, gzip, good = asyncio.run(main())
    assert huge.startswith(b"HTTP/1.1 413") and b"max_body_bytes=400" in huge
    assert huge_seconds < 5  # Answered at once, not after waiting for a body.
    assert gzip.startswith(b"HTTP/1.1 400") and b"Content-Encoding" in gzip
    assert good.startswith(b"HTTP/1.1 200")
    assert server.stats == {"requests": 4, "client_errors": 3, "server_errors": 0}
    assert not any(r.exc_info for r in caplog.records)
    assert not any(r.levelname == "ERROR" for r in caplog.records)
