import keras
import numpy as np
import pytest

from keras_attn.layers import MultiHeadAttention
from keras_attn.layers import MultiHeadSelfAttention
from tests import references
from tests.layers.copy_weights import copy_keras_mha
from tests.test_case import assert_close
from tests.test_case import run_layer_test
from tests.test_case import to_numpy

RNG = np.random.RandomState(0)
QUERY = RNG.rand(2, 5, 16).astype("float32")
VALUE = RNG.rand(2, 7, 12).astype("float32")
SOURCE_PADDING = np.array([[1] * 7, [1, 1, 1, 1, 0, 0, 0]], bool)
TARGET_PADDING = np.array([[1] * 5, [1, 1, 1, 0, 0]], bool)


def _mha_params(d_q, d_v, heads, key_dim, d_out):
    inner = heads * key_dim
    return (d_q + 1) * inner + 2 * (d_v + 1) * inner + (inner + 1) * d_out


def test_cross_attention_harness():
    run_layer_test(
        MultiHeadAttention,
        {"num_heads": 2, "key_dim": 4, "dropout": 0.1},
        {"query": QUERY, "value": VALUE},
        call_kwargs={"return_attention_scores": True},
        expected_output_shapes=[(2, 5, 16), (2, 2, 5, 7)],
        expected_num_trainable_weights=8,
        expected_num_params=_mha_params(16, 12, 2, 4, 16),
    )


def test_same_width_cross_attention_harness():
    # Query, key and value kernels of one shape: the harness checks that
    # they start different (one shared initializer made them equal).
    run_layer_test(
        MultiHeadAttention,
        {"num_heads": 2, "key_dim": 4},
        {"query": QUERY, "value": QUERY[:, :3]},
        expected_output_shapes=[(2, 5, 16)],
        expected_num_trainable_weights=8,
        expected_num_params=_mha_params(16, 16, 2, 4, 16),
    )


def test_projections_get_their_own_initializer():
    initializer = keras.initializers.GlorotUniform()  # one instance, no seed
    layer = MultiHeadAttention(num_heads=2, key_dim=8, kernel_initializer=initializer)
    layer(QUERY, QUERY)
    kernels = [to_numpy(d.kernel) for d in (layer.query_dense, layer.key_dense)]
    kernels.append(to_numpy(layer.value_dense.kernel))
    assert not np.array_equal(kernels[0], kernels[1])
    assert not np.array_equal(kernels[1], kernels[2])
    # The config still holds the initializer the user gave.
    assert layer.get_config()["kernel_initializer"]["class_name"] == "GlorotUniform"


def test_self_attention_value_dim_is_its_key_dim():
    layer = MultiHeadSelfAttention(num_heads=2, key_dim=4)
    config = layer.get_config()
    assert config["value_dim"] == 4  # the parent's config, not popped
    assert MultiHeadSelfAttention.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="value_dim=6"):
        MultiHeadSelfAttention(num_heads=2, key_dim=4, value_dim=6)


def test_self_attention_harness():
    run_layer_test(
        MultiHeadSelfAttention,
        {"num_heads": 4, "key_dim": 4, "causal": True},
        {"inputs": QUERY},
        expected_output_shapes=[(2, 5, 16)],
        expected_num_trainable_weights=4,
        expected_num_params=_mha_params(16, 16, 4, 4, 16),
    )


def _keras_pair(ours_cls, **kwargs):
    reference = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    ours = ours_cls(num_heads=2, key_dim=4, **kwargs)
    return reference, ours


@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_matches_keras_mha(causal):
    reference, ours = _keras_pair(MultiHeadSelfAttention, causal=causal)
    reference(QUERY, QUERY)
    ours(QUERY)
    copy_keras_mha(reference, ours)
    mask = TARGET_PADDING[:, None, :] & TARGET_PADDING[:, :, None]
    expected, expected_w = reference(
        QUERY,
        QUERY,
        attention_mask=mask,
        use_causal_mask=causal,
        return_attention_scores=True,
    )
    out, w = ours(QUERY, mask=TARGET_PADDING, return_attention_scores=True)
    # Keras gives padded queries uniform weights; ours zeros: compare the rest.
    valid = TARGET_PADDING
    assert_close(to_numpy(out)[valid], to_numpy(expected)[valid])
    assert_close(
        to_numpy(w).transpose(0, 2, 1, 3)[valid],
        to_numpy(expected_w).transpose(0, 2, 1, 3)[valid],
    )


def test_cross_attention_matches_keras_mha_with_source_padding():
    reference, ours = _keras_pair(MultiHeadAttention)
    reference(QUERY, VALUE)
    ours(QUERY, VALUE)
    copy_keras_mha(reference, ours)
    expected = reference(QUERY, VALUE, attention_mask=SOURCE_PADDING[:, None, :])
    out = ours(QUERY, VALUE, value_mask=SOURCE_PADDING)
    assert_close(out, expected)


def test_matches_numpy_reference():
    layer = MultiHeadAttention(num_heads=2, key_dim=3, output_dim=6)
    out, w = layer(
        QUERY, VALUE, value_mask=SOURCE_PADDING, return_attention_scores=True
    )
    weights = [to_numpy(x) for x in layer.weights]
    mask = np.broadcast_to(SOURCE_PADDING[:, None], (2, 5, 7))
    expected, expected_w = references.multi_head_attention(
        QUERY, VALUE, *weights, heads=2, mask=mask
    )
    assert_close(out, expected)
    assert_close(w, expected_w)


def test_implicit_keras_masks_equal_explicit_masks():
    target = keras.Input((None,), dtype="int32")
    source = keras.Input((None,), dtype="int32")
    t = keras.layers.Embedding(20, 16, mask_zero=True)(target)
    s = keras.layers.Embedding(20, 12, mask_zero=True)(source)
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    model = keras.Model([target, source], [layer(t, s), t, s])
    target_ids = np.where(TARGET_PADDING, 3, 0)
    source_ids = np.where(SOURCE_PADDING, 5, 0)
    implicit, t_emb, s_emb = model.predict_on_batch([target_ids, source_ids])
    explicit = layer(t_emb, s_emb, query_mask=TARGET_PADDING, value_mask=SOURCE_PADDING)
    assert_close(implicit, explicit)
    # The output keeps the query's (target's) mask.
    out = layer(t, s)
    assert out._keras_mask is not None


def test_fully_masked_query_row_is_zero_before_output_projection():
    layer = MultiHeadAttention(num_heads=2, key_dim=4, use_bias=False)
    mask = np.zeros((2, 7), bool)
    out = to_numpy(layer(QUERY, VALUE, value_mask=mask))
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out, 0.0)


@pytest.mark.parametrize("step_size", [1, 2])
def test_cached_self_attention_equals_full_pass(step_size):
    layer = MultiHeadSelfAttention(num_heads=2, key_dim=4, causal=True)
    x = np.random.rand(2, 6, 8).astype("float32")
    full = to_numpy(layer(x))
    cache = layer.init_cache(batch_size=2, max_length=6)
    steps = []
    for index in range(0, 6, step_size):
        out, cache = layer(
            x[:, index : index + step_size], cache=cache, cache_update_index=index
        )
        steps.append(to_numpy(out))
    assert_close(np.concatenate(steps, 1), full)


def test_cached_cross_attention_equals_full_pass():
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    full = layer(QUERY, VALUE, value_mask=SOURCE_PADDING)
    cache = layer.compute_cache(VALUE)
    out, _ = layer(QUERY, VALUE, value_mask=SOURCE_PADDING, cache=cache)
    assert_close(out, full)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_heads": 0, "key_dim": 4}, "num_heads"),
        ({"num_heads": 2, "key_dim": 2.5}, "key_dim"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MultiHeadAttention(**kwargs)


def test_wrong_padding_mask_length_raises():
    with pytest.raises(ValueError, match="key_mask"):
        MultiHeadAttention(2, 4)(QUERY, VALUE, value_mask=np.ones((2, 5), bool))


def _twins(cls, **kwargs):
    """The default layer and a `flash_attention=True` copy with its weights."""
    default = cls(num_heads=2, key_dim=4, **kwargs)
    config = default.get_config()
    config["flash_attention"] = True
    fused = cls.from_config(config)
    return default, fused


@pytest.mark.parametrize("causal", [False, True])
def test_flash_attention_route_matches_the_default_path(causal):
    default, fused = _twins(MultiHeadSelfAttention, causal=causal)
    default(QUERY)
    fused(QUERY)
    fused.set_weights(default.get_weights())
    assert fused._fused(False, None, None) and not default._fused(False, None, None)
    assert_close(fused(QUERY, mask=TARGET_PADDING), default(QUERY, mask=TARGET_PADDING))
    assert_close(fused(QUERY), default(QUERY))  # causal-only mask, or none


def test_flash_attention_route_cross_attention_and_empty_rows():
    default, fused = _twins(MultiHeadAttention)
    default(QUERY, VALUE)
    fused(QUERY, VALUE)
    fused.set_weights(default.get_weights())
    assert_close(
        fused(QUERY, VALUE, value_mask=SOURCE_PADDING),
        default(QUERY, VALUE, value_mask=SOURCE_PADDING),
    )
    no_keys = np.zeros((2, 7), bool)
    out = to_numpy(fused(QUERY, VALUE, value_mask=no_keys))
    np.testing.assert_array_equal(
        out, to_numpy(default(QUERY, VALUE, value_mask=no_keys))
    )


def test_flash_attention_only_where_the_call_allows_it():
    layer = MultiHeadSelfAttention(num_heads=2, key_dim=4, flash_attention=True)
    dropping = MultiHeadSelfAttention(2, 4, dropout=0.5, flash_attention=True)
    cache = (np.zeros((2, 2, 5, 4), "float32"),) * 2
    assert layer._fused(False, None, True)  # no dropout to apply
    assert not layer._fused(True, None, None)  # weights asked for
    assert not layer._fused(False, cache, None)  # a decoding step
    assert not dropping._fused(False, None, True)  # dropout on the weights
    assert dropping._fused(False, None, False)  # inference
    out, weights = layer(QUERY, return_attention_scores=True)
    assert tuple(weights.shape) == (2, 2, 5, 5)


def test_flash_attention_is_a_boolean_off_by_default():
    assert MultiHeadSelfAttention(2, 4).get_config()["flash_attention"] is False
    with pytest.raises(TypeError, match="flash_attention"):
        MultiHeadAttention(2, 4, flash_attention="yes")
