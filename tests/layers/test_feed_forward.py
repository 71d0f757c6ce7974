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
