"""Dropout's random numbers with and without XLA: the cost behind a rule.

`training.fastest_config(dropout=True)` turns XLA off for TensorFlow on a
CPU. This script measures why, on the tensor a width-256, 8-head encoder's
attention dropout draws for batch 32 x 128 (32 x 8 x 128 x 128, 4.2M
numbers), each as one `tf.function` (TensorFlow) or `jax.jit` (JAX), the
seed a traced value as it is in a train step:

    keras.random.dropout   the call `keras.layers.Dropout` makes, seeded
                           from a `keras.random.SeedGenerator`
    keras.random.uniform   the same draw without the mask

and, on TensorFlow, the two generators underneath, called directly
(`StatelessRandomUniformV2` with a key from a traced seed):

    philox    what `tf.random.stateless_uniform` picks on a CPU (and so
              what Keras uses)
    threefry  the other one (JAX's default), which Keras cannot ask for
              and TensorFlow's graph kernel does not have (XLA only)

Each candidate is compiled and run twice first; the report gives the median
milliseconds of `--repeat` calls over `--rounds` rounds, and the load
average before and after.

    KERAS_BACKEND=tensorflow python benchmarks/random_numbers.py
    KERAS_BACKEND=jax python benchmarks/random_numbers.py
"""

import argparse
import os
import statistics
import sys
import time

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from layers import environment_lines  # noqa: E402


def keras_candidates(shape):
    """(label, function of x, its SeedGenerator, XLA settings) for the
    keras.random draws."""
    seed = keras.random.SeedGenerator(0)
    return [
        (
            "keras.random.dropout",
            lambda x: keras.random.dropout(x, 0.1, seed=seed),
            seed,
            (True, False),
        ),
        (
            "keras.random.uniform",
            lambda x: x * keras.random.uniform(shape, seed=seed),
            seed,
            (True, False),
        ),
    ]


def tensorflow_candidates(shape):
    """(label, function of x, None, XLA settings) for TensorFlow's two
    generators."""
    import tensorflow as tf

    seed = tf.Variable([1, 2], dtype=tf.int32)

    def draw(algorithm):
        def call(x):
            key, counter = tf.raw_ops.StatelessRandomGetKeyCounter(seed=seed)
            numbers = tf.raw_ops.StatelessRandomUniformV2(
                shape=shape, key=key, counter=counter, alg=algorithm
            )
            return x * numbers

        return call

    # TensorFlow's graph kernel has no ThreeFry: it runs under XLA only.
    return [
        ("philox (tf)", draw(1), None, (True, False)),
        ("threefry (tf)", draw(2), None, (True,)),
    ]


def compiled(function, seed, xla):
    """`function` compiled as a train step compiles it: a `tf.function`, or
    under JAX a `jax.jit` with the seed's state passed in, as Keras's JAX
    trainer passes it (`keras.StatelessScope`)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=xla)
    if backend != "jax":
        raise SystemExit(f"backend {backend!r}: expected tensorflow or jax")
    import jax

    def stateless(x, state):
        with keras.StatelessScope(state_mapping=[(seed.state, state)]):
            return function(x)

    step = jax.jit(stateless) if xla else stateless
    return lambda x: step(x, seed.state.value)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="32,8,128,128")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    shape = tuple(int(n) for n in args.shape.split(","))

    for line in environment_lines():
        print(line)
    print(
        f"config:     shape={shape} ({np.prod(shape):,} numbers) "
        f"rounds={args.rounds} repeat={args.repeat}\n"
    )

    x = keras.ops.ones(shape)
    candidates = keras_candidates(shape)
    if keras.backend.backend() == "tensorflow":
        candidates += tensorflow_candidates(shape)
    functions = {}
    for label, function, seed, xla_settings in candidates:
        for xla in xla_settings:
            step = compiled(function, seed, xla)
            for _ in range(2):
                keras.ops.convert_to_numpy(step(x))
            functions[f"{label} [{'xla' if xla else 'no xla'}]"] = step

    times = {label: [] for label in functions}
    order = list(functions)
    for r in range(args.rounds):
        for label in order if r % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            for _ in range(args.repeat):
                keras.ops.convert_to_numpy(functions[label](x))
            times[label].append((time.perf_counter() - start) / args.repeat)

    width = max(len(label) for label in functions)
    print(f"{'candidate':<{width}}  median ms")
    for label in functions:
        print(f"{label:<{width}}  {statistics.median(times[label]) * 1e3:9.1f}")
    print(f"\nload avg after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
