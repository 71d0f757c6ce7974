"""SavedModels and an HTTP client for the serving tests."""

import asyncio

import numpy as np


def save_toy_model(path):
    """A small `tf.Module` SavedModel with two signatures.

    `serving_default` (`double`): `x` float32 (N, 2) -> `y` = 2x.
    `repeat`: `text` string (N,) and `times` int32 scalar -> `text` (each
    string repeated `times` times) and `batch_rows` (N copies of N, the
    batch size the SavedModel call saw). Its input check fails (an
    `InvalidArgumentError`, the client's fault) when `times` < 0; the model
    itself fails (a `NotFoundError`, reading a file it lacks) when a text is
    "boom".
    `scale`: `x` float32 (N,) and `factor` float32 of unknown rank (one value,
    or one per row, like the sampler settings of a GPT `generate` export) ->
    `y` = x * factor and `batch_rows`.
    """
    import tensorflow as tf

    class Toy(tf.Module):
        @tf.function(
            input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")],
            autograph=False,
        )
        def double(self, x):
            return {"y": 2.0 * x}

        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.string, name="text"),
                tf.TensorSpec([], tf.int32, name="times"),
            ],
            autograph=False,
        )
        def repeat(self, text, times):
            boom = tf.cond(
                tf.reduce_any(tf.equal(text, "boom")),
                lambda: tf.io.read_file("/nonexistent/boom"),
                lambda: tf.constant(""),
            )
            checks = [
                tf.debugging.assert_non_negative(times, message="times < 0"),
                boom,
            ]
            with tf.control_dependencies(checks):
                rows = tf.shape(text)[0]
                repeated = tf.repeat(text[:, None], times, axis=1)  # (N, times)
                return {
                    "text": tf.strings.reduce_join(repeated, axis=1),
                    "batch_rows": tf.fill([rows], rows),
                }

        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.float32, name="x"),
                tf.TensorSpec(None, tf.float32, name="factor"),
            ],
            autograph=False,
        )
        def scale(self, x, factor):
            rows = tf.shape(x)[0]
            factor = tf.broadcast_to(tf.reshape(factor, [-1]), [rows])
            return {"y": x * factor, "batch_rows": tf.fill([rows], rows)}

    toy = Toy()
    signatures = {"serving_default": toy.double, "repeat": toy.repeat}
    signatures["scale"] = toy.scale
    tf.saved_model.save(toy, path, signatures=signatures)
    return path


def save_date_converter(path):
    """The date converter of `keras_attn.export`, on a tiny untrained model."""
    from keras_attn.data import dates
    from keras_attn.export import export_date_converter
    from keras_attn.models import RNNSeq2Seq

    model = RNNSeq2Seq(
        vocabulary_size=len(dates.VOCABULARY),
        embedding_dim=8,
        hidden_dim=16,
        start_id=dates.START_ID,
        end_id=dates.END_ID,
    )
    export_date_converter(model, path)
    return path


def call_saved_model(path, signature, **inputs):
    """Call a SavedModel signature directly (the reference for the server)."""
    import tensorflow as tf

    function = tf.saved_model.load(path).signatures[signature]
    outputs = function(**{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in outputs.items()}


def send(server, *requests):
    """Send requests concurrently to a fresh app of `server` over loopback.

    Each request is `(method, path)` or `(method, path, body)`; a dict or
    list body is sent as JSON, bytes or str as they are. Returns a list of
    `(status, content_type, json_body)` in request order.
    """
    from aiohttp.test_utils import TestClient
    from aiohttp.test_utils import TestServer

    async def one(client, method, path, body=None):
        if isinstance(body, (bytes, str)):
            kwargs = {"data": body}
        elif body is not None:
            kwargs = {"json": body}
        else:
            kwargs = {}
        response = await client.request(method, path, **kwargs)
        payload = await response.json(content_type=None)
        return response.status, response.content_type, payload

    async def main():
        async with TestClient(TestServer(server.app())) as client:
            return await asyncio.gather(*(one(client, *r) for r in requests))

    return asyncio.run(main())


def decoded(values):
    return [v.decode("utf-8") for v in np.asarray(values).tolist()]
