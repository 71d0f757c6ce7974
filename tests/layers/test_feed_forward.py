import math

import keras
import numpy as np

from keras_attn.layers import FeedForward
from tests.test_case import assert_close
from tests.test_case import run_layer_test
from tests.test_case import to_numpy

INPUTS = np.random.RandomState(0).randn(2, 5, 8).astype("float32")


def test_layer_harness():
    run_layer_test(
        FeedForward,
        {"intermediate_dim": 16, "dropout": 0.1},
        {"inputs": INPUTS},
        expected_output_shapes=[(2, 5, 8)],
        expected_num_trainable_weights=4,
        expected_num_params=(8 + 1) * 16 + (16 + 1) * 8,
    )


def test_matches_numpy_reference():
    layer = FeedForward(intermediate_dim=16, activation="gelu")
    out = layer(INPUTS)
    w1, b1 = layer.intermediate_dense.get_weights()
    w2, b2 = layer.output_dense.get_weights()
    hidden = INPUTS @ w1 + b1
    # Exact (erf) GELU, the Keras default.
    erf = np.vectorize(math.erf)
    hidden = 0.5 * hidden * (1 + erf(hidden / np.sqrt(2)))
    assert_close(out, hidden @ w2 + b2)


def test_relu_by_default():
    layer = FeedForward(intermediate_dim=16)
    out = layer(INPUTS)
    w1, b1 = layer.intermediate_dense.get_weights()
    w2, b2 = layer.output_dense.get_weights()
    assert_close(out, np.maximum(INPUTS @ w1 + b1, 0) @ w2 + b2)


def test_dropout_only_when_training():
    layer = FeedForward(intermediate_dim=16, dropout=0.5)
    inference = to_numpy(layer(INPUTS, training=False))
    training = to_numpy(layer(INPUTS, training=True))
    assert_close(layer(INPUTS), inference)
    dropped = training == 0
    assert dropped.any()
    # Kept units are rescaled by 1 / (1 - rate).
    assert_close(training[~dropped], 2 * inference[~dropped])


def test_passes_the_keras_mask_through():
    ids = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(10, 8, mask_zero=True)(ids)
    assert FeedForward(16)(embedded)._keras_mask is not None


def reference_gelu_tanh(x):
    """The tanh-approximated GELU of GPT-2, in float64, and its derivative."""
    x = np.asarray(x, "float64")
    c = math.sqrt(2.0 / math.pi)
    u = c * (x + 0.044715 * x**3)
    t = np.tanh(u)
    value = 0.5 * x * (1.0 + t)
    slope = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t**2) * c * (1.0 + 3 * 0.044715 * x**2)
    return value, slope


def test_gelu_approximate_matches_the_tanh_formula_and_its_slope():
    from keras import ops

    from keras_attn.layers import gelu_approximate

    x = np.linspace(-12.0, 12.0, 20001).astype("float32")
    value, slope = reference_gelu_tanh(x)
    assert_close(gelu_approximate(x), value, atol=1e-6)
    # The slope through the backend's autodiff, as training sees it.
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        v = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(v)
            y = ops.sum(gelu_approximate(v))
        grad = tape.gradient(y, v)
    else:
        import jax

        grad = jax.grad(lambda v: ops.sum(gelu_approximate(v)))(x)
    assert_close(grad, slope, atol=1e-5)
    # Huge inputs: x^3 overflows to +-inf, the sigmoid saturates, no NaN.
    huge = np.array([-1e30, -1e13, 1e13, 1e30], "float32")
    assert_close(gelu_approximate(huge), [0.0, 0.0, 1e13, 1e30], rtol=1e-6)
    bf16 = gelu_approximate(ops.cast(x, "bfloat16"))
    assert_close(ops.cast(bf16, "float32"), value, atol=0.05)
    # Integers are computed in floatx (their dtype, symbolic inputs and the
    # name round trip: tests/test_saving.py, for every registered function).
    ints = gelu_approximate(np.array([-2, 0, 3], "int32"))
    assert_close(ints, reference_gelu_tanh([-2, 0, 3])[0], atol=1e-6)
