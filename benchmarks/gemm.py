"""The machine's GEMM rate: the limit the roofline column is measured against.

Times bare matrix products at the shapes of the encoder block benchmarked in
`layers.py` (tokens x width @ width x width for the attention projections,
tokens x width @ width x intermediate and back for the feed-forward), in
float32 and bfloat16, through the backend's two paths: eager/graph ops
(TensorFlow's oneDNN kernels; for JAX, op-by-op dispatch) and XLA
(`jit_compile=True` / `jax.jit`). Each (dtype, path) gets one rate, the
FLOP-weighted mean over the shapes of one train step, in GFLOP/s. Those
rates are what a layer benchmark in the same mode can at best reach.

    KERAS_BACKEND=tensorflow python benchmarks/gemm.py
    KERAS_BACKEND=jax python benchmarks/gemm.py --quick

A product is `2 * m * k * n` FLOPs. The operands are made once, outside the
timed loop; each timed call multiplies `--repeat` independent pairs so the
dispatch cost of one call is spread over several products.
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from layers import environment_lines  # noqa: E402


def step_shapes(batch, length, width, intermediate):
    """The (m, k, n) of every GEMM of one encoder train step (forward and
    the two backward products of each), with the attention products
    batched as `B * N` small GEMMs counted separately (not here)."""
    tokens = batch * length
    forward = [
        (tokens, width, 3 * width),  # fused q, k, v
        (tokens, width, width),  # output projection
        (tokens, width, intermediate),  # feed-forward in
        (tokens, intermediate, width),  # feed-forward out
    ]
    shapes = []
    for m, k, n in forward:
        shapes += [(m, k, n), (m, n, k), (k, m, n)]  # y = xW, dx = dy Wᵀ, dW = xᵀdy
    return shapes


def _median_seconds(run, pairs, steps, rounds):
    """Median seconds of one `run(pairs)` call over `rounds` of `steps`;
    `float` of the result waits for the device."""
    float(run(pairs))  # traces and compiles
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            out = run(pairs)
        float(out)
        times.append((time.perf_counter() - start) / steps)
    return statistics.median(times)


def _backend_tf(dtype, jit):
    """(array maker, timed function) of TensorFlow for one dtype and path."""
    import tensorflow as tf

    @tf.function(jit_compile=jit)
    def run(pairs):
        return tf.add_n([tf.reduce_sum(tf.matmul(a, b)) for a, b in pairs])

    return lambda x: tf.constant(x, dtype=dtype), run


def _backend_jax(dtype, jit):
    """(array maker, timed function) of JAX for one dtype and path."""
    import jax
    import jax.numpy as jnp

    def run(pairs):
        return sum(jnp.sum(a @ b) for a, b in pairs)

    return lambda x: jnp.asarray(x, dtype=dtype), jax.jit(run) if jit else run


def _timed_shapes(backend, shapes, dtype, jit, repeat, steps, rounds):
    """[(FLOPs, median seconds)] of one call per shape: `repeat` products."""
    array, run = backend(dtype, jit)
    rng = np.random.default_rng(0)
    results = []
    for m, k, n in shapes:
        pairs = [
            tuple(
                array(rng.standard_normal(shape, np.float32))
                for shape in ((m, k), (k, n))
            )
            for _ in range(repeat)
        ]
        seconds = _median_seconds(run, pairs, steps, rounds)
        results.append((2 * m * k * n * repeat, seconds))
    return results


def gemm_rates(batch, length, width, intermediate, repeat=4, steps=5, rounds=3):
    """{(dtype, path): GFLOP/s} for dtype in float32/bfloat16 and path in
    "ops"/"xla", on the current Keras backend."""
    import keras

    backend = keras.backend.backend()
    make = {"tensorflow": _backend_tf, "jax": _backend_jax}.get(backend)
    if make is None:
        raise SystemExit(f"gemm.py supports tensorflow and jax, not {backend}.")
    shapes = step_shapes(batch, length, width, intermediate)
    rates = {}
    for dtype in ("float32", "bfloat16"):
        for path in ("ops", "xla"):
            timed = _timed_shapes(
                make, shapes, dtype, path == "xla", repeat, steps, rounds
            )
            flops = sum(f for f, _ in timed)
            seconds = sum(s for _, s in timed)
            rates[(dtype, path)] = flops / seconds / 1e9
    return rates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--intermediate-dim", type=int, default=1024)
    parser.add_argument("--quick", action="store_true", help="tiny, seconds")
    args = parser.parse_args(argv)
    sizes = (args.batch, args.length, args.width, args.intermediate_dim)
    options = {}
    if args.quick:
        sizes, options = (2, 16, 32, 64), dict(repeat=1, steps=1, rounds=1)
    for line in environment_lines():
        print(line)
    print(f"shapes:     the GEMMs of an encoder train step at {sizes}")
    print()
    for (dtype, path), value in gemm_rates(*sizes, **options).items():
        print(f"gemm {dtype:<8} {path:<3}  {value:8.1f} GFLOP/s")


if __name__ == "__main__":
    main()
