"""Load test of the REST server: latency and throughput, batching on and off.

    python benchmarks/serving.py                  # 1,000 requests, 16 clients
    python benchmarks/serving.py --quick          # a smoke run, 100 requests

For each mode the server (`keras_attn.serving.serve`) runs in its own
process on a free loopback port, serving the date converter SavedModel:
`outputs/date_seq2seq/saved_model` when `make demo` has exported a trained
one, otherwise a demo-size (GRU 128, Bahdanau attention) untrained model
exported to a temporary folder; latency does not depend on the weights.

The client (this process, aiohttp) computes the expected answer of every
date with the SavedModel called directly, then warms the server up (one
request of each padded batch size 1, 2, 4, ... `--max-batch-size`, since
the graph is specialised for each batch size on first sight; then
`--warmup` concurrent requests), then sends
`--requests` predict requests (`{"instances": [one date]}`) from
`--clients` concurrent connections, each sending its next request when the
last one is answered. An error is a non-200 answer or a prediction that
differs from the SavedModel's; the run fails if there is any. Reported: p50
and p99 latency, requests/s, the mean requests per SavedModel call (from
the server's Prometheus counters) and the server's CPU seconds per 1,000
requests, with the load average before and after: client and server share
the machine, and so do other processes.
"""

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Run from a checkout without `pip install -e .`: import the package beside us.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from benchmarks.layers import cpu_model  # noqa: E402
from benchmarks.layers import loadavg  # noqa: E402
from benchmarks.layers import package_version  # noqa: E402

TRAINED = os.path.join(ROOT, "outputs", "date_seq2seq", "saved_model")


def _export_untrained(folder):
    from keras_attn.data import dates
    from keras_attn.export import export_date_converter
    from keras_attn.models import RNNSeq2Seq

    model = RNNSeq2Seq(
        vocabulary_size=len(dates.VOCABULARY),
        embedding_dim=32,
        hidden_dim=128,
        attention="bahdanau",
        start_id=dates.START_ID,
        end_id=dates.END_ID,
    )
    return export_date_converter(model, os.path.join(folder, "dates", "1"))


def _expected(path, texts):
    import tensorflow as tf

    convert = tf.saved_model.load(path).signatures["convert"]
    iso = convert(dates=tf.constant(texts))["iso"].numpy()
    return [s.decode("utf-8") for s in iso]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid):
    """User + system CPU seconds of a process, from /proc (Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


class _Server:
    """`serve()` in a child process, stopped with SIGTERM."""

    def __init__(self, path, max_batch_size, batch_timeout_ms):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        code = (
            "import sys; from keras_attn.serving import serve; "
            "serve(sys.argv[1], model_name='dates', port=int(sys.argv[2]), "
            "max_batch_size=int(sys.argv[3]), batch_timeout_ms=float(sys.argv[4]))"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, path, str(self.port)]
            + [str(max_batch_size), str(batch_timeout_ms)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=ROOT),
        )

    async def wait_ready(self, session, timeout=120):
        import aiohttp

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the server exited:\n" + self.process.stdout.read())
            try:
                async with session.get(self.url + "/v1/models/dates") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        raise RuntimeError(f"the server did not answer within {timeout} s")

    async def counters(self, session):
        url = self.url + "/monitoring/prometheus/metrics"
        async with session.get(url) as response:
            text = await response.text()
        values = {}
        for line in text.splitlines():
            if line.startswith("keras_attn_serving_"):
                name = line.split("{")[0][len("keras_attn_serving_") : -len("_total")]
                values[name] = float(line.rsplit(" ", 1)[1])
        return values

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()


# Client mistakes mixed into the load (--bad-every): (method, body, extra
# headers, the status the server must answer).
BAD_REQUESTS = [
    ("POST", '{"instances": [', {}, 400),  # malformed JSON
    ("POST", '{"instances": [5]}', {}, 400),  # a number, not a date string
    ("POST", json.dumps({"instances": ["x" * 5000]}), {}, 400),  # over-long
    ("POST", '{"signature_name": "nope", "instances": ["a"]}', {}, 400),
    ("POST", '{"instances": ["a"]}', {"Content-Encoding": "gzip"}, 400),
    ("GET", None, {}, 405),
]


def _is_bad(i, bad_every):
    return bad_every and i % bad_every == bad_every - 1


async def _load(session, url, texts, expected, num_requests, clients, bad_every=0):
    """Send num_requests from `clients` workers; returns latencies (of the
    good requests) and errors (wrong answers, good or bad)."""
    latencies, errors = [], []
    counter = iter(range(num_requests))

    async def worker():
        for i in counter:
            j = i % len(texts)
            method, body, headers, want = "POST", None, {}, 200
            body = json.dumps({"instances": [texts[j]]})
            if _is_bad(i, bad_every):
                method, body, headers, want = BAD_REQUESTS[
                    (i // bad_every) % len(BAD_REQUESTS)
                ]
            start = time.perf_counter()
            try:
                async with session.request(
                    method, url, data=body, headers=headers
                ) as response:
                    payload = await response.json(content_type=None)
                    status = response.status
            except Exception as error:  # A refused or broken connection.
                errors.append(f"{type(error).__name__}: {error}")
                continue
            if want != 200:
                if status != want or "error" not in payload:
                    errors.append(f"bad request got {status}: {str(payload)[:200]}")
                continue
            latencies.append(time.perf_counter() - start)
            if status != 200 or payload != {"predictions": [expected[j]]}:
                errors.append(f"{status}: {str(payload)[:200]}")

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies, errors, time.perf_counter() - start


async def _run_mode(path, texts, expected, args, batch_timeout_ms):
    import aiohttp

    server = _Server(path, args.max_batch_size, batch_timeout_ms)
    try:
        connector = aiohttp.TCPConnector(limit=args.clients)
        async with aiohttp.ClientSession(connector=connector) as session:
            await server.wait_ready(session)
            url = server.url + "/v1/models/dates:predict"
            # Warm-up: the graph is specialised for each batch size on its
            # first call (the server pads batches to powers of two), then a
            # concurrent burst as in the timed run.
            sizes = sorted({min(1 << i, args.max_batch_size) for i in range(7)})
            for n in sizes:
                body = {"instances": texts[:n]}
                async with session.post(url, json=body) as response:
                    answer = await response.json(content_type=None)
                if answer != {"predictions": expected[:n]}:
                    raise RuntimeError(f"warm-up with {n} rows: {str(answer)[:200]}")
            _, errors, _ = await _load(
                session, url, texts, expected, args.warmup, args.clients
            )
            if errors:
                raise RuntimeError(f"warm-up errors: {errors[:3]}")
            before = await server.counters(session)
            cpu_before = _cpu_seconds(server.process.pid)
            load_before = loadavg()
            latencies, errors, seconds = await _load(
                session,
                url,
                texts,
                expected,
                args.requests,
                args.clients,
                args.bad_every,
            )
            cpu = _cpu_seconds(server.process.pid) - cpu_before
            after = await server.counters(session)
    finally:
        server.stop()
    calls = after["model_calls"] - before["model_calls"]
    bad = sum(bool(_is_bad(i, args.bad_every)) for i in range(args.requests))
    client_errors = after["client_errors"] - before["client_errors"]
    server_errors = after["server_errors"] - before["server_errors"]
    if client_errors != bad or server_errors:
        errors.append(
            f"the server counted {client_errors:g} client and {server_errors:g} "
            f"server errors; {bad} bad requests were sent"
        )
    good = args.requests - bad
    ms = np.array(latencies) * 1000
    return {
        "mode": (
            "batching off"
            if batch_timeout_ms == 0
            else f"batching ≤{args.max_batch_size} rows, {batch_timeout_ms:g} ms"
        ),
        "requests": args.requests,
        "bad_requests": bad,
        "client_errors": client_errors,
        "server_errors": server_errors,
        "errors": len(errors),
        "first_errors": errors[:3],
        "p50_ms": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
        "p99_ms": float(np.percentile(ms, 99)) if len(ms) else float("nan"),
        "requests_per_s": args.requests / seconds,
        # One row per good request; the rows counter includes padding.
        "requests_per_call": good / calls if calls else float("nan"),
        "server_cpu_s_per_1000": 1000 * cpu / args.requests,
        "load_before": load_before,
        "load_after": loadavg(),
    }


def _print_header(path, trained):
    import aiohttp
    import tensorflow as tf

    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    print(f"cpu:         {cpu_model()} ({cores} cores, {usable} usable)")
    print(f"python:      {platform.python_version()}")
    print(
        f"versions:    tensorflow {tf.__version__}, aiohttp {aiohttp.__version__}, "
        f"keras {package_version('keras')}"
    )
    kind = (
        "given"
        if trained is None
        else "trained (make demo)"
        if trained
        else "untrained, demo size (GRU 128)"
    )
    print(f"saved model: {path} ({kind})")
    print(f"load avg:    {loadavg()} (1, 5, 15 min) at the start")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--warmup", type=int, default=64, help="requests before timing")
    p.add_argument("--max-batch-size", type=int, default=32)
    p.add_argument(
        "--batch-timeout-ms",
        type=float,
        nargs="+",
        default=[0, 2],
        help="one run per value; 0 is batching off",
    )
    p.add_argument(
        "--saved-model",
        default=None,
        help=f"SavedModel to serve (default: {TRAINED} if it exists)",
    )
    p.add_argument(
        "--bad-every",
        type=int,
        default=10,
        help="every Nth timed request is a client mistake that must get its 4xx "
        "(0: none)",
    )
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--quick", action="store_true", help="100 requests, 4 clients")
    args = p.parse_args(argv)
    if args.quick:
        args.requests, args.clients, args.warmup = 100, 4, 8
    return args


def main(argv=None):
    args = parse_args(argv)
    from keras_attn.data import dates

    with tempfile.TemporaryDirectory() as tmp:
        path, trained = args.saved_model, None
        if path is None:
            trained = os.path.isdir(TRAINED)
            path = TRAINED if trained else _export_untrained(tmp)
        pairs, _ = dates.train_test_pairs(256, 1, seed=1)
        texts = [source for source, _ in pairs]
        expected = _expected(path, texts)
        _print_header(path, trained)
        print(
            f"load:        {args.requests} requests, {args.clients} clients, "
            f"one date per request, every {args.bad_every}th a client mistake"
            if args.bad_every
            else f"load:        {args.requests} requests, {args.clients} clients, "
            "one date per request"
        )
        results = []
        for timeout in args.batch_timeout_ms:
            result = asyncio.run(_run_mode(path, texts, expected, args, timeout))
            results.append(result)
            print(
                f"{result['mode']:<28} errors {result['errors']}  "
                f"4xx {result['client_errors']:g}/{result['bad_requests']} bad  "
                f"5xx {result['server_errors']:g}  "
                f"p50 {result['p50_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms  "
                f"{result['requests_per_s']:.0f} req/s  "
                f"{result['requests_per_call']:.1f} requests/call  "
                f"server CPU {result['server_cpu_s_per_1000']:.2f} s/1k req  "
                f"load {result['load_before']} -> {result['load_after']}",
                flush=True,
            )
            for error in result["first_errors"]:
                print("   ", error)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if any(r["errors"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
