"""Starting, watching and killing the training processes of the tests.

Every wait is bounded: a process that outlives its timeout is killed and
the test fails with the end of its log.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_ports(count):
    """`count` TCP ports free on localhost right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports, index):
    """The TF_CONFIG of worker `index` of a localhost cluster."""
    return json.dumps(
        {
            "cluster": {"worker": [f"localhost:{port}" for port in ports]},
            "task": {"type": "worker", "index": index},
        }
    )


def start(configs, out, name="worker", env=None):
    """Starts `python -m tests.training.worker` on the JSON list `configs`."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"{name}.configs.json")
    with open(path, "w") as f:
        json.dump(configs, f)
    environment = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    environment.pop("TF_CONFIG", None)
    environment.update(env or {})
    log = open(os.path.join(out, f"{name}.log"), "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.training.worker", path],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    process.log_path = log.name
    return process


def log_tail(process, lines=30):
    with open(process.log_path) as f:
        return "".join(f.readlines()[-lines:])


def wait(process, timeout):
    """The exit code; kills the process and fails if it runs past `timeout`."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(process)
        raise AssertionError(
            f"process ran past {timeout} s; its log ends:\n{log_tail(process)}"
        ) from None


def wait_ok(process, timeout):
    code = wait(process, timeout)
    assert code == 0, f"exit code {code}; the log ends:\n{log_tail(process)}"


def wait_for_file(path, process, timeout):
    """Waits until `path` exists while `process` runs (bounded)."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if process.poll() is not None:
            raise AssertionError(
                f"process exited ({process.returncode}) before writing {path}:"
                f"\n{log_tail(process)}"
            )
        if time.monotonic() > deadline:
            kill(process)
            raise AssertionError(f"no {path} after {timeout} s")
        time.sleep(0.1)


def kill(process):
    """SIGKILL, as a crash or a preempted machine would."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def load(out, name, weights=True):
    """The `NAME.json` result and `NAME.npz` weights a worker wrote."""
    with open(os.path.join(out, f"{name}.json")) as f:
        result = json.load(f)
    if not weights:
        return result, None
    arrays = np.load(os.path.join(out, f"{name}.npz"))
    return result, [arrays[f"arr_{i}"] for i in range(len(arrays.files))]


def max_difference(weights, other):
    assert len(weights) == len(other)
    return max(float(np.max(np.abs(a - b))) for a, b in zip(weights, other))
