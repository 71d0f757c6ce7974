import keras
import numpy as np
import pytest

from keras_attn.layers import BahdanauAttention
from keras_attn.layers import LuongAttention
from tests import references
from tests.test_case import assert_close
from tests.test_case import run_layer_test
from tests.test_case import to_numpy

QUERY = np.random.RandomState(1).rand(2, 4, 6).astype("float32")
VALUE = np.random.RandomState(2).rand(2, 7, 5).astype("float32")
PADDING = np.array([[1] * 7, [1, 1, 1, 0, 0, 0, 0]], bool)


def test_layer_harness():
    run_layer_test(
        BahdanauAttention,
        {"units": 8},
        {"query": QUERY, "value": VALUE},
        expected_output_shapes=[(2, 4, 5), (2, 4, 7)],
        expected_num_trainable_weights=4,
        expected_num_params=6 * 8 + 8 + 5 * 8 + 8,
    )


def test_single_step_harness():
    run_layer_test(
        BahdanauAttention,
        {"units": 8},
        {"query": QUERY[:, 0], "value": VALUE},
        expected_output_shapes=[(2, 5), (2, 7)],
        expected_num_trainable_weights=4,
        expected_num_params=6 * 8 + 8 + 5 * 8 + 8,
    )


def _weights(layer):
    return (
        to_numpy(layer.query_dense.kernel),
        to_numpy(layer.query_dense.bias),
        to_numpy(layer.key_dense.kernel),
        to_numpy(layer.score_dense.kernel),
    )


def test_matches_numpy_reference_with_padding():
    layer = BahdanauAttention(8)
    context, weights = layer(QUERY, VALUE, value_mask=PADDING)
    expected_c, expected_w = references.bahdanau(
        QUERY, VALUE, *_weights(layer), mask=PADDING
    )
    assert_close(weights, expected_w)
    assert_close(context, expected_c)
    np.testing.assert_array_equal(to_numpy(weights)[1, :, 3:], 0.0)


def test_single_step_equals_sequence_step():
    layer = BahdanauAttention(8)
    context, weights = layer(QUERY, VALUE)
    step_c, step_w = layer(QUERY[:, 2], VALUE)
    assert_close(step_c, to_numpy(context)[:, 2])
    assert_close(step_w, to_numpy(weights)[:, 2])


def test_implicit_keras_mask_equals_explicit_mask():
    ids = np.array([[3, 4, 5, 6], [7, 8, 0, 0]])
    tokens = keras.Input((None,), dtype="int32")
    decoder = keras.Input((3, 6))
    encoded = keras.layers.Embedding(10, 5, mask_zero=True)(tokens)
    attention = BahdanauAttention(8)
    context, weights = attention(decoder, encoded)
    model = keras.Model([tokens, decoder], [context, weights, encoded])
    query = QUERY[:, :3]
    c_implicit, w_implicit, enc = model.predict_on_batch([ids, query])
    c_explicit, w_explicit = attention(query, enc, value_mask=ids != 0)
    assert_close(w_implicit, w_explicit)
    assert_close(c_implicit, c_explicit)
    np.testing.assert_array_equal(w_implicit[1, :, 2:], 0.0)


def test_fully_masked_encoder_gives_zeros():
    mask = np.zeros((2, 7), bool)
    context, weights = BahdanauAttention(4)(QUERY, VALUE, value_mask=mask)
    np.testing.assert_array_equal(to_numpy(context), 0.0)
    np.testing.assert_array_equal(to_numpy(weights), 0.0)


def test_query_mask_propagates():
    x = keras.Input((None,), dtype="int32")
    q = keras.layers.Embedding(10, 6, mask_zero=True)(x)
    context, weights = BahdanauAttention(4)(q, keras.Input((7, 5)))
    assert context._keras_mask is not None
    assert weights._keras_mask is not None


@pytest.mark.parametrize(
    "query, value, message",
    [
        (np.zeros((2, 3, 4, 5)), VALUE, "query"),
        (QUERY, np.zeros((2, 7)), "value"),
    ],
)
def test_bad_ranks_raise(query, value, message):
    with pytest.raises(ValueError, match=message):
        BahdanauAttention(4)(query, value)


def test_wrong_mask_length_raises():
    with pytest.raises(ValueError, match="key_mask"):
        BahdanauAttention(4)(QUERY, VALUE, value_mask=np.ones((2, 5), bool))


@pytest.mark.parametrize("score", ["dot", "general"])
def test_luong_matches_numpy_reference(score):
    value = VALUE if score == "general" else np.random.rand(2, 7, 6).astype("float32")
    layer = LuongAttention(score)
    context, weights = layer(QUERY, value, value_mask=PADDING)
    w = to_numpy(layer.key_dense.kernel) if score == "general" else None
    expected_c, expected_w = references.luong(QUERY, value, w, PADDING)
    assert_close(weights, expected_w)
    assert_close(context, expected_c)


def test_luong_harness():
    run_layer_test(
        LuongAttention,
        {"score": "general"},
        {"query": QUERY, "value": VALUE},
        expected_output_shapes=[(2, 4, 5), (2, 4, 7)],
        expected_num_trainable_weights=1,
        expected_num_params=5 * 6,
    )


def test_luong_dot_width_mismatch_raises():
    with pytest.raises(ValueError, match="query width 6 and key width 5"):
        LuongAttention("dot")(QUERY, VALUE)


def test_luong_unknown_score_raises():
    with pytest.raises(ValueError, match="'concat'"):
        LuongAttention("concat")
