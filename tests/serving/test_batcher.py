"""Batcher: who shares a call, and that every request gets its own rows."""

import asyncio
import time

import numpy as np
import pytest

from keras_attn.serving import Batcher


def _run_all(batcher, requests):
    """Submit `(key, values)` requests concurrently; returns (results, calls)."""
    calls = []

    async def model(inputs):
        calls.append(inputs["x"].tolist())
        await asyncio.sleep(0)
        if np.any(inputs["x"] < 0):
            raise ValueError("negative input")
        return {"y": inputs["x"] * 10, "scale": np.full(len(inputs["x"]), inputs["k"])}

    async def one(key, values):
        inputs = {"x": np.array(values), "k": np.array(key)}
        try:
            return await batcher.submit(key, inputs, len(values), ["x"], model)
        except ValueError as error:
            return error

    async def main():
        return await asyncio.gather(*(one(k, v) for k, v in requests))

    return asyncio.run(main()), calls


def test_full_batches_run_at_once_and_rows_go_back_in_order():
    requests = [(1, [1]), (1, [2, 3, 4]), (1, [5, 6]), (1, [7, 8])]
    start = time.monotonic()
    results, calls = _run_all(
        Batcher(max_batch_size=4, timeout_ms=20_000, pad_batches=False), requests
    )
    # Both batches are full, so neither waits for the 20 s timeout.
    assert time.monotonic() - start < 10
    assert calls == [[1, 2, 3, 4], [5, 6, 7, 8]]
    for (_, values), result in zip(requests, results):
        np.testing.assert_array_equal(result["y"], np.array(values) * 10)


def test_a_request_that_would_overflow_starts_the_next_batch():
    requests = [(1, [1, 2, 3]), (1, [4, 5]), (1, [6])]
    results, calls = _run_all(
        Batcher(max_batch_size=4, timeout_ms=20, pad_batches=False), requests
    )
    assert calls == [[1, 2, 3], [4, 5, 6]]
    for (_, values), result in zip(requests, results):
        np.testing.assert_array_equal(result["y"], np.array(values) * 10)


def test_only_equal_keys_share_a_call_and_failures_stay_local():
    requests = [(1, [1]), (2, [2]), (1, [-3]), (1, [4]), (2, [5])]
    results, calls = _run_all(
        Batcher(max_batch_size=8, timeout_ms=20, pad_batches=False), requests
    )
    # Key 1: [1, -3, 4] fails together, then each request runs alone.
    assert sorted(calls) == sorted([[1, -3, 4], [2, 5], [1], [-3], [4]])
    assert isinstance(results[2], ValueError)
    for i in (0, 1, 3, 4):
        values = requests[i][1]
        np.testing.assert_array_equal(results[i]["y"], np.array(values) * 10)
        np.testing.assert_array_equal(results[i]["scale"], [requests[i][0]])


def test_batches_keep_filling_while_every_slot_is_busy():
    """Past its timeout, a batch waits for a free slot and grows meanwhile."""
    calls = []

    async def slow_model(inputs):
        calls.append(inputs["x"].tolist())
        await asyncio.sleep(0.2)
        return {"y": inputs["x"] * 10}

    async def main():
        batcher = Batcher(
            max_batch_size=8, timeout_ms=1, max_concurrent_batches=1, pad_batches=False
        )

        def submit(values):
            x = {"x": np.array(values)}
            return batcher.submit("k", x, len(values), ["x"], slow_model)

        first = asyncio.ensure_future(submit([1]))
        await asyncio.sleep(0.05)  # [1] is running now; the next ones wait.
        rest = await asyncio.gather(submit([2]), submit([3, 4]), submit([5]))
        return [await first] + rest

    results = asyncio.run(main())
    assert calls == [[1], [2, 3, 4, 5]]
    for values, result in zip([[1], [2], [3, 4], [5]], results):
        np.testing.assert_array_equal(result["y"], np.array(values) * 10)


def test_batches_are_padded_to_a_power_of_two_by_repeating_the_last_row():
    requests = [(1, [1]), (1, [2, 3])]  # 3 rows -> 4; 5 rows -> 6 (the max)
    results, calls = _run_all(Batcher(max_batch_size=6, timeout_ms=20), requests)
    assert calls == [[1, 2, 3, 3]]
    for (_, values), result in zip(requests, results):
        np.testing.assert_array_equal(result["y"], np.array(values) * 10)
    results, calls = _run_all(
        Batcher(max_batch_size=6, timeout_ms=20), [(1, [1, 2]), (1, [3, 4, 5])]
    )
    assert calls == [[1, 2, 3, 4, 5, 5]]  # 8 would pass max_batch_size: 6.
    # A failing padded batch: each request is rerun alone (and padded alone).
    results, calls = _run_all(
        Batcher(max_batch_size=8, timeout_ms=20), [(1, [1, 2, 3]), (1, [-1])]
    )
    assert calls == [[1, 2, 3, -1], [1, 2, 3, 3], [-1]]
    np.testing.assert_array_equal(results[0]["y"], [10, 20, 30])
    assert isinstance(results[1], ValueError)


def test_large_requests_run_alone():
    results, calls = _run_all(
        Batcher(max_batch_size=2, timeout_ms=20, pad_batches=False),
        [(1, [1, 2]), (1, [3])],
    )
    assert sorted(calls) == [[1, 2], [3]]
    np.testing.assert_array_equal(results[0]["y"], [10, 20])


@pytest.mark.parametrize(
    "kwargs",
    [{"max_batch_size": 0, "timeout_ms": 1}, {"max_batch_size": 2, "timeout_ms": -1}],
)
def test_bad_settings_raise(kwargs):
    with pytest.raises(ValueError, match="received"):
        Batcher(**kwargs)
