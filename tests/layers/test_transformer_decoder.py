import keras
import keras_hub
import numpy as np
import pytest

from keras_attn.layers import TransformerDecoder
from tests.layers.copy_weights import copy_hub_decoder
from tests.test_case import assert_close
from tests.test_case import run_layer_test
from tests.test_case import to_numpy

# Target length 5 != source length 7, so a cross-attention mask built from the
# wrong side (the decoder's padding) cannot even broadcast.
RNG = np.random.RandomState(0)
TARGET = RNG.rand(2, 5, 8).astype("float32")
SOURCE = RNG.rand(2, 7, 8).astype("float32")
TARGET_PADDING = np.array([[1] * 5, [1, 1, 1, 0, 0]], bool)
SOURCE_PADDING = np.array([[1] * 7, [1, 1, 1, 1, 0, 0, 0]], bool)


def _attention_params(query_width, value_width, inner):
    # query, key, value projections to N*H = inner, then back to query_width.
    return (
        (query_width + 1) * inner
        + 2 * (value_width + 1) * inner
        + (inner + 1) * query_width
    )


def _decoder_only_params(width, intermediate):
    self_attention = _attention_params(width, width, width)
    feed_forward = (width + 1) * intermediate + (intermediate + 1) * width
    return self_attention + feed_forward + 2 * 2 * width  # two LayerNorms


def test_encoder_decoder_harness():
    source = RNG.rand(2, 7, 6).astype("float32")  # encoder width 6 != 8
    run_layer_test(
        TransformerDecoder,
        {"intermediate_dim": 16, "num_heads": 2, "dropout": 0.1},
        {"decoder_sequence": TARGET, "encoder_sequence": source},
        call_kwargs={"return_attention_scores": True},
        expected_output_shapes=[(2, 5, 8), (2, 2, 5, 5), (2, 2, 5, 7)],
        # Self-attention 4 + LN 2, cross-attention 8 + LN 2, FFN 4 + LN 2.
        expected_num_trainable_weights=22,
        expected_num_params=_decoder_only_params(8, 16)
        + _attention_params(8, 6, 8)
        + 2 * 8,
    )


def test_decoder_only_harness():
    run_layer_test(
        TransformerDecoder,
        {"intermediate_dim": 16, "num_heads": 2},
        {"decoder_sequence": TARGET},
        expected_output_shapes=[(2, 5, 8)],
        expected_num_trainable_weights=12,
        expected_num_params=_decoder_only_params(8, 16),
    )


def _hub_pair(normalize_first, with_encoder=True):
    kwargs = {
        "intermediate_dim": 16,
        "num_heads": 2,
        "normalize_first": normalize_first,
    }
    hub = keras_hub.layers.TransformerDecoder(**kwargs)
    ours = TransformerDecoder(**kwargs)
    source = SOURCE if with_encoder else None
    hub(TARGET, source)
    ours(TARGET, source)
    copy_hub_decoder(hub, ours)
    return hub, ours


@pytest.mark.parametrize("normalize_first", [False, True])
def test_matches_keras_hub_with_padding(normalize_first):
    hub, ours = _hub_pair(normalize_first)
    expected = to_numpy(
        hub(
            TARGET,
            SOURCE,
            decoder_padding_mask=TARGET_PADDING,
            encoder_padding_mask=SOURCE_PADDING,
        )
    )
    out = to_numpy(
        ours(
            TARGET,
            SOURCE,
            decoder_padding_mask=TARGET_PADDING,
            encoder_padding_mask=SOURCE_PADDING,
        )
    )
    # keras-hub still attends from padded queries; ours zeros them.
    valid = TARGET_PADDING
    assert_close(out[valid], expected[valid])
    # The source padding reaches the cross-attention.
    unmasked = to_numpy(ours(TARGET, SOURCE, decoder_padding_mask=TARGET_PADDING))
    assert not np.allclose(unmasked[1][:3], out[1][:3], atol=1e-3)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_decoder_only_matches_keras_hub(normalize_first):
    hub, ours = _hub_pair(normalize_first, with_encoder=False)
    assert ours.cross_attention is None
    expected = to_numpy(hub(TARGET, decoder_padding_mask=TARGET_PADDING))
    out = to_numpy(ours(TARGET, decoder_padding_mask=TARGET_PADDING))
    assert_close(out[TARGET_PADDING], expected[TARGET_PADDING])


@pytest.mark.parametrize("with_encoder", [True, False])
def test_cached_decoding_equals_full_pass(with_encoder):
    decoder = TransformerDecoder(intermediate_dim=16, num_heads=2)
    if with_encoder:
        full = decoder(TARGET, SOURCE, encoder_padding_mask=SOURCE_PADDING)
        cross = {
            "cross_attention_cache": decoder.compute_cross_attention_cache(SOURCE),
            "encoder_padding_mask": SOURCE_PADDING,
        }
    else:
        full = decoder(TARGET)
        cross = {}
    batch, length = 2, 5
    cache = decoder.init_cache(batch, length)
    steps = []
    for index in range(length):
        out, cache = decoder(
            TARGET[:, index : index + 1],
            self_attention_cache=cache,
            self_attention_cache_update_index=index,
            **cross,
        )
        steps.append(to_numpy(out))
    assert_close(np.concatenate(steps, axis=1), full)


def test_decoder_only_with_encoder_sequence_raises():
    decoder = TransformerDecoder(intermediate_dim=16, num_heads=2)
    decoder(TARGET)
    with pytest.raises(ValueError, match="encoder_sequence"):
        decoder(TARGET, SOURCE)


def test_encoder_decoder_without_encoder_sequence_raises():
    decoder = TransformerDecoder(intermediate_dim=16, num_heads=2)
    decoder(TARGET, SOURCE)
    with pytest.raises(ValueError, match="encoder_sequence"):
        decoder(TARGET)


def test_hidden_dim_not_divisible_by_num_heads_raises():
    decoder = TransformerDecoder(intermediate_dim=16, num_heads=3)
    with pytest.raises(ValueError, match=r"hidden_dim=8.*num_heads=3"):
        decoder(TARGET, SOURCE)


def test_attention_scores():
    decoder = TransformerDecoder(intermediate_dim=16, num_heads=2)
    _, self_w, cross_w = decoder(
        TARGET,
        SOURCE,
        decoder_padding_mask=TARGET_PADDING,
        encoder_padding_mask=SOURCE_PADDING,
        return_attention_scores=True,
    )
    self_w, cross_w = to_numpy(self_w), to_numpy(cross_w)
    assert self_w.shape == (2, 2, 5, 5) and cross_w.shape == (2, 2, 5, 7)
    queries = np.broadcast_to(TARGET_PADDING[:, None], (2, 2, 5))  # (B, N, T)
    # Real queries: rows sum to one over the visible keys.
    assert_close(self_w.sum(-1)[queries], 1.0)
    assert_close(cross_w.sum(-1)[queries], 1.0)
    # Self-attention is causal; padded queries attend to nothing.
    future = np.triu(np.ones((5, 5), bool), 1)
    np.testing.assert_array_equal(self_w[:, :, future], 0.0)
    np.testing.assert_array_equal(self_w[~queries], 0.0)
    np.testing.assert_array_equal(cross_w[~queries], 0.0)
    # Cross-attention gives padded *source* positions zero weight.
    np.testing.assert_array_equal(cross_w[1, :, :, 4:], 0.0)
    assert np.all(cross_w[1, :, :3, :4] > 0)


def test_symbolic_call_returns_attention_scores():
    target, source = keras.Input((None, 8)), keras.Input((None, 8))
    outputs = TransformerDecoder(16, 2)(target, source, return_attention_scores=True)
    shapes = [tuple(o.shape) for o in outputs]
    assert shapes == [(None, None, 8), (None, 2, None, None), (None, 2, None, None)]
    out, self_w, cross_w = keras.Model([target, source], outputs).predict_on_batch(
        [TARGET, SOURCE]
    )
    assert out.shape == (2, 5, 8)
    assert self_w.shape == (2, 2, 5, 5) and cross_w.shape == (2, 2, 5, 7)


def test_implicit_keras_masks_equal_explicit_masks():
    target_ids = keras.Input((None,), dtype="int32")
    source_ids = keras.Input((None,), dtype="int32")
    target = keras.layers.Embedding(20, 8, mask_zero=True)(target_ids)
    source = keras.layers.Embedding(20, 8, mask_zero=True)(source_ids)
    decoder = TransformerDecoder(intermediate_dim=16, num_heads=2)
    decoded = decoder(target, source)
    # The output keeps the decoder's (target's) mask.
    assert decoded._keras_mask is not None
    model = keras.Model([target_ids, source_ids], [decoded, target, source])
    implicit, target_values, source_values = model.predict_on_batch(
        [np.where(TARGET_PADDING, 3, 0), np.where(SOURCE_PADDING, 5, 0)]
    )
    explicit = decoder(
        target_values,
        source_values,
        decoder_padding_mask=TARGET_PADDING,
        encoder_padding_mask=SOURCE_PADDING,
    )
    assert_close(implicit, explicit)


@pytest.mark.parametrize("with_encoder", [True, False])
def test_use_causal_mask_false_matches_keras_hub(with_encoder):
    hub, ours = _hub_pair(False, with_encoder=with_encoder)
    source = SOURCE if with_encoder else None
    kwargs = dict(decoder_padding_mask=TARGET_PADDING, use_causal_mask=False)
    expected = to_numpy(hub(TARGET, source, **kwargs))
    out = to_numpy(ours(TARGET, source, **kwargs))
    assert_close(out[TARGET_PADDING], expected[TARGET_PADDING])
    # Position 0 now sees the later positions: not the causal output.
    causal = to_numpy(ours(TARGET, source, decoder_padding_mask=TARGET_PADDING))
    assert not np.allclose(out[:, 0], causal[:, 0], atol=1e-4)
    assert_close(out[:, -1][0], causal[:, -1][0])  # the last sees all either way


def test_use_causal_mask_false_weights_are_bidirectional():
    decoder = TransformerDecoder(intermediate_dim=16, num_heads=2)
    _, scores = decoder(TARGET, use_causal_mask=False, return_attention_scores=True)
    upper = np.triu(np.ones((5, 5), bool), k=1)
    assert (to_numpy(scores)[0][:, upper] > 0).all()


def test_use_causal_mask_false_with_a_cache_raises():
    decoder = TransformerDecoder(intermediate_dim=16, num_heads=2)
    decoder(TARGET)
    cache = decoder.init_cache(2, 5)
    with pytest.raises(
        ValueError, match="cannot be used with a `self_attention_cache`"
    ):
        decoder(
            TARGET[:, :1],
            self_attention_cache=cache,
            self_attention_cache_update_index=0,
            use_causal_mask=False,
        )
