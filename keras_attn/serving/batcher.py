"""Batching of concurrent requests into one model call."""

import asyncio
import collections

import numpy as np

from keras_attn.checks import check_positive_int


class _Batch:
    """Requests that will run together: their inputs, rows and futures."""

    def __init__(self, batch_inputs, run):
        self.batch_inputs = batch_inputs
        self.run = run
        self.items = []  # (inputs, rows, future)
        self.rows = 0
        self.timer = None
        self.expired = False


class Batcher:
    """Concatenate concurrent requests along the batch axis, run once, split.

    Requests with the same `key` (the caller makes it from the signature,
    the trailing shapes of the batch-major inputs and the values of the
    other inputs) are gathered in an open batch: concatenated along axis 0
    of their `batch_inputs`, up to `max_batch_size` rows, and run in ONE
    call of `run`; each request then gets its own rows of every output.

    When does a batch run? As soon as it is full, or once `timeout_ms` has
    passed since its first request, provided one of the
    `max_concurrent_batches` slots is free. While every slot is busy, an
    expired batch keeps filling (up to `max_batch_size`), so under load the
    batches grow instead of queueing up small. A request that would
    overflow the open batch closes it and opens the next one. Full batches
    run first, then expired ones, oldest first.

    With `pad_batches`, a batch's rows are padded to the next power of two
    (at most `max_batch_size`) by repeating its last row, and the padding
    rows' outputs are dropped, as TF Serving's `allowed_batch_sizes` does:
    a SavedModel specialises (and, with XLA, compiles) its graph for every
    new batch size on first sight, so few distinct sizes keep those stalls
    to a handful.

    If a batch of several requests fails, each request is rerun alone, so
    one bad request only fails itself.

    Args:
        max_batch_size: most rows in one call.
        timeout_ms: how long the first request of a batch waits for others.
        max_concurrent_batches: most batches running at once (match it to
            the worker threads that run the model).
        pad_batches: pad every batch to a power of two rows.

    Example:

    >>> import asyncio
    >>> import numpy as np
    >>> from keras_attn.serving import Batcher
    >>> calls = []
    >>> async def double(inputs):
    ...     calls.append(len(inputs["x"]))  # 3 rows, padded to 4
    ...     return {"y": inputs["x"] * 2}
    >>> async def main():
    ...     batcher = Batcher(max_batch_size=8, timeout_ms=50)
    ...     requests = [{"x": np.array([i])} for i in range(3)]
    ...     return await asyncio.gather(*(
    ...         batcher.submit("k", r, rows=1, batch_inputs=["x"], run=double)
    ...         for r in requests))
    >>> [int(out["y"][0]) for out in asyncio.run(main())], calls
    ([0, 2, 4], [4])
    """

    def __init__(
        self, max_batch_size, timeout_ms, max_concurrent_batches=1, pad_batches=True
    ):
        check_positive_int(max_batch_size, "max_batch_size")
        check_positive_int(max_concurrent_batches, "max_concurrent_batches")
        if (
            isinstance(timeout_ms, bool)
            or not isinstance(timeout_ms, (int, float))
            or not timeout_ms >= 0
        ):
            raise ValueError(
                f"timeout_ms must be a number >= 0; received {timeout_ms!r}"
            )
        self.max_batch_size = max_batch_size
        self.timeout_ms = timeout_ms
        self.max_concurrent_batches = max_concurrent_batches
        self.pad_batches = bool(pad_batches)
        self._open = {}  # key -> _Batch still accepting requests, oldest first
        self._full = collections.deque()  # closed batches waiting for a slot
        self._running = 0

    async def submit(self, key, inputs, rows, batch_inputs, run):
        """Queue one request and wait for its share of the outputs.

        Args:
            key: hashable; only requests with equal keys share a call.
            inputs: dict of input name -> NumPy array.
            rows: the request's batch size.
            batch_inputs: names of the inputs to concatenate along axis 0;
                the others are taken from the first request (equal keys
                guarantee they are equal).
            run: coroutine function `inputs -> dict of output arrays`; the
                one of the first request runs the batch.

        Returns:
            dict of output name -> this request's rows.
        """
        loop = asyncio.get_running_loop()
        batch = self._open.get(key)
        if batch is not None and batch.rows + rows > self.max_batch_size:
            self._close(key)
            batch = None
        if batch is None:
            batch = self._open[key] = _Batch(batch_inputs, run)
            batch.timer = loop.call_later(self.timeout_ms / 1000, self._expire, batch)
        future = loop.create_future()
        batch.items.append((inputs, rows, future))
        batch.rows += rows
        if batch.rows >= self.max_batch_size:
            self._close(key)
        self._dispatch()
        return await future

    def _close(self, key):
        """Stop filling the open batch for `key`; it runs when a slot frees."""
        batch = self._open.pop(key)
        batch.timer.cancel()
        self._full.append(batch)

    def _expire(self, batch):
        batch.expired = True
        self._dispatch()

    def _dispatch(self):
        """Start full batches, then expired ones, while slots are free."""
        while self._running < self.max_concurrent_batches:
            if self._full:
                batch = self._full.popleft()
            else:
                key = next((k for k, b in self._open.items() if b.expired), None)
                if key is None:
                    return
                batch = self._open.pop(key)
            self._running += 1
            task = asyncio.get_running_loop().create_task(self._run_batch(batch))
            task.add_done_callback(self._finished)

    def _finished(self, task):
        self._running -= 1
        self._dispatch()

    async def _run_batch(self, batch):
        items = batch.items
        try:
            pieces = await self._call(batch, items)
        except Exception as error:
            if len(items) == 1:
                if not items[0][2].done():
                    items[0][2].set_exception(error)
                return
            # Rerun each request alone so only the culprit fails.
            await asyncio.gather(
                *(self._resolve(item[2], self._call_one(batch, item)) for item in items)
            )
            return
        for (_, _, future), piece in zip(items, pieces):
            if not future.done():
                future.set_result(piece)

    async def _call(self, batch, items):
        """One call of `run` on the items' rows; returns each item's outputs."""
        sizes = [rows for _, rows, _ in items]
        total = sum(sizes)
        padded = self._padded_size(total)
        first = items[0][0]
        inputs = {}
        for name, value in first.items():
            if name not in batch.batch_inputs:
                inputs[name] = value
                continue
            rows = [item[0][name] for item in items]
            if padded > total:  # Repeat the last row: always a valid row.
                rows.append(np.repeat(rows[-1][-1:], padded - total, axis=0))
            inputs[name] = np.concatenate(rows) if len(rows) > 1 else rows[0]
        outputs = await batch.run(inputs)
        pieces = self._split(outputs, sizes + [padded - total], padded)
        return pieces[: len(items)]

    async def _call_one(self, batch, item):
        return (await self._call(batch, [item]))[0]

    def _padded_size(self, rows):
        """`rows` rounded up to a power of two (at most `max_batch_size`)."""
        if not self.pad_batches or rows >= self.max_batch_size:
            return rows
        return min(1 << (rows - 1).bit_length(), self.max_batch_size)

    @staticmethod
    def _split(outputs, sizes, total):
        for name, value in outputs.items():
            if np.ndim(value) == 0 or np.shape(value)[0] != total:
                raise ValueError(
                    f"output {name!r} has shape {np.shape(value)} for a batch of "
                    f"{total} rows; it cannot be split back into requests"
                )
        bounds = np.cumsum(sizes)[:-1]
        split = {name: np.split(value, bounds) for name, value in outputs.items()}
        return [{name: split[name][i] for name in outputs} for i in range(len(sizes))]

    @staticmethod
    async def _resolve(future, coroutine):
        try:
            result = await coroutine
        except Exception as error:
            if not future.done():
                future.set_exception(error)
        else:
            if not future.done():
                future.set_result(result)
