import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from keras import ops

from keras_attn.layers import causal_mask
from keras_attn.layers import compute_attention_mask
from keras_attn.layers import masked_softmax
from keras_attn.layers import scaled_dot_product_attention
from tests import references
from tests.test_case import assert_close
from tests.test_case import to_numpy


def test_causal_mask_with_offset_matches_definition():
    mask = to_numpy(causal_mask(2, 5, offset=2))[0]
    expected = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], bool)
    np.testing.assert_array_equal(mask, expected)
    # Default offset aligns the last query with the last key.
    np.testing.assert_array_equal(
        to_numpy(causal_mask(3, 3))[0], np.tril(np.ones((3, 3), bool))
    )


def test_masks_of_different_ranks_agree():
    q, k = np.zeros((2, 3, 4)), np.zeros((2, 5, 4))
    padding = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    from_key_mask = compute_attention_mask(q, k, key_mask=padding)
    from_rank2 = compute_attention_mask(q, k, attention_mask=padding)
    from_rank3 = compute_attention_mask(
        q, k, attention_mask=np.repeat(padding[:, None], 3, axis=1)
    )
    full = np.broadcast_to(padding[:, None], (2, 3, 5))
    for m in (from_key_mask, from_rank2, from_rank3):
        np.testing.assert_array_equal(np.broadcast_to(to_numpy(m), (2, 3, 5)), full)


def test_masks_combine_by_and():
    q, k = np.zeros((1, 3, 4)), np.zeros((1, 3, 4))
    query_mask = np.array([[1, 1, 0]], bool)
    key_mask = np.array([[1, 0, 1]], bool)
    mask = to_numpy(compute_attention_mask(q, k, query_mask, key_mask, causal=True))
    expected = (
        query_mask[:, :, None] & key_mask[:, None] & np.tril(np.ones((3, 3), bool))
    )
    np.testing.assert_array_equal(np.broadcast_to(mask, (1, 3, 3)), expected)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"key_mask": np.ones((2, 4), bool)}, "key_mask"),
        ({"query_mask": np.ones((2, 3, 1), bool)}, "rank 2"),
        ({"attention_mask": np.ones((2, 2, 5), bool)}, "query length 3"),
        ({"attention_mask": np.ones((2, 3, 5, 1), bool)}, "rank 2 or 3"),
    ],
)
def test_wrong_mask_shapes_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compute_attention_mask(np.zeros((2, 3, 4)), np.zeros((2, 5, 4)), **kwargs)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_fully_masked_row_is_zero_not_nan(dtype):
    scores = ops.cast(np.random.randn(2, 3, 4) * 100, dtype)
    mask = np.ones((2, 3, 4), bool)
    mask[0, 1] = False
    weights = to_numpy(ops.cast(masked_softmax(scores, mask), "float32"))
    assert np.all(np.isfinite(weights))
    np.testing.assert_array_equal(weights[0, 1], 0.0)
    np.testing.assert_allclose(weights[1].sum(-1), 1.0, rtol=1e-2)


@pytest.mark.parametrize("return_scores", [False, True])
def test_fully_masked_rows_in_both_paths(return_scores):
    q = np.random.rand(2, 3, 8).astype("float32")
    kv = np.random.rand(2, 4, 8).astype("float32")
    mask = np.ones((2, 3, 4), bool)
    mask[1, 2] = False
    out = scaled_dot_product_attention(
        q, kv, kv, mask=mask, return_attention_scores=return_scores
    )
    out = to_numpy(out[0] if return_scores else out)
    np.testing.assert_array_equal(out[1, 2], 0.0)
    expected, _ = references.dot_product_attention(q, kv, kv, mask)
    assert_close(out, expected)


def test_query_key_width_mismatch_raises():
    with pytest.raises(ValueError, match="same last dimension"):
        scaled_dot_product_attention(
            np.zeros((1, 2, 4)), np.zeros((1, 3, 5)), np.zeros((1, 3, 5))
        )


# Under JAX each new shape compiles every op (~1.3 s an example in CI); the
# TensorFlow run, where an example costs milliseconds, takes 25.
EXAMPLES = 25 if keras.backend.backend() == "tensorflow" else 8


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    batch=st.integers(1, 3),
    t=st.integers(1, 6),
    s=st.integers(1, 6),
    heads=st.integers(1, 3),
    head_size=st.sampled_from([1, 4, 8]),
    causal=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_matches_numpy_reference(batch, t, s, heads, head_size, causal, seed):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(batch, t, heads, head_size)).astype("float32")
    k = rng.normal(size=(batch, s, heads, head_size)).astype("float32")
    v = rng.normal(size=(batch, s, heads, head_size)).astype("float32")
    mask = rng.random((batch, t, s)) > 0.3
    out_fast = scaled_dot_product_attention(q, k, v, mask=mask, causal=causal)
    out_ref, weights = scaled_dot_product_attention(
        q, k, v, mask=mask, causal=causal, return_attention_scores=True
    )
    full_mask = mask & np.tril(np.ones((t, s), bool), k=s - t)[None] if causal else mask
    to_heads = lambda x: x.transpose(0, 2, 1, 3)  # noqa: E731
    expected, expected_w = references.dot_product_attention(
        to_heads(q), to_heads(k), to_heads(v), full_mask[:, None]
    )
    assert_close(out_fast, to_heads(expected), atol=1e-5)
    assert_close(out_ref, to_heads(expected), atol=1e-5)
    assert_close(weights, expected_w, atol=1e-5)
