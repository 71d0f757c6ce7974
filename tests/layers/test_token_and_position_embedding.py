import math

import keras
import numpy as np
import pytest

from keras_attn.layers import TokenAndPositionEmbedding
from keras_attn.layers import TransformerEncoder
from tests import references
from tests.test_case import assert_close
from tests.test_case import run_layer_test
from tests.test_case import to_numpy

TOKEN_IDS = np.array([[4, 9, 3, 7, 2], [5, 1, 8, 0, 0]], "int32")
SEGMENT_IDS = np.array([[0, 0, 1, 1, 1], [0, 1, 1, 0, 0]], "int32")
PADDING = TOKEN_IDS != 0


def _layer(**kwargs):
    return TokenAndPositionEmbedding(
        vocabulary_size=20, sequence_length=10, hidden_dim=8, **kwargs
    )


def test_layer_harness():
    run_layer_test(
        TokenAndPositionEmbedding,
        {
            "vocabulary_size": 20,
            "sequence_length": 10,
            "hidden_dim": 8,
            "num_segments": 2,
            "mask_zero": True,
        },
        {"token_ids": TOKEN_IDS, "segment_ids": SEGMENT_IDS},
        expected_output_shapes=[(2, 5, 8)],
        expected_num_trainable_weights=3,
        # token table + position table + segment table.
        expected_num_params=20 * 8 + 10 * 8 + 2 * 8,
    )


@pytest.mark.parametrize("position_mode", ["learned", "sinusoidal"])
@pytest.mark.parametrize("scale_embeddings", [False, True])
def test_matches_numpy_sum_of_tables(position_mode, scale_embeddings):
    layer = _layer(
        num_segments=2,
        position_mode=position_mode,
        scale_embeddings=scale_embeddings,
    )
    out = to_numpy(layer(TOKEN_IDS, SEGMENT_IDS))
    tokens = to_numpy(layer.token_embedding.embeddings)[TOKEN_IDS]  # (B, T, D)
    if scale_embeddings:
        tokens = tokens * math.sqrt(8)
    if position_mode == "learned":
        positions = to_numpy(layer.position_embedding.position_embeddings)[:5]
    else:
        positions = references.sinusoidal_positions(5, 8)
    segments = to_numpy(layer.segment_embedding.embeddings)[SEGMENT_IDS]
    assert_close(out, tokens + positions[None] + segments)


def test_scale_embeddings_multiplies_tokens_by_sqrt_hidden_dim():
    plain, scaled = _layer(), _layer(scale_embeddings=True)
    plain(TOKEN_IDS)
    scaled(TOKEN_IDS)
    scaled.set_weights(plain.get_weights())
    positions = to_numpy(plain.position_embedding(np.zeros((2, 5, 8), "float32")))
    tokens = to_numpy(plain(TOKEN_IDS)) - positions
    assert_close(to_numpy(scaled(TOKEN_IDS)) - positions, math.sqrt(8) * tokens)


def test_start_index_offsets_positions():
    layer = _layer()
    layer(TOKEN_IDS)
    out = to_numpy(layer(TOKEN_IDS[:, 2:4], start_index=2))
    assert_close(out, to_numpy(layer(TOKEN_IDS))[:, 2:4])


def test_mask_zero_sets_a_mask_that_propagates():
    ids = keras.Input((None,), dtype="int32")
    embedded = _layer(mask_zero=True)(ids)
    assert embedded._keras_mask is not None
    encoder = TransformerEncoder(intermediate_dim=16, num_heads=2)
    encoded = encoder(embedded)
    assert encoded._keras_mask is not None
    model = keras.Model(ids, [encoded, embedded])
    implicit, embedded_values = model.predict_on_batch(TOKEN_IDS)
    # The encoder really received the padding: same as passing it explicitly,
    # different from passing nothing.
    assert_close(implicit, encoder(embedded_values, mask=PADDING))
    unmasked = to_numpy(encoder(embedded_values))
    assert not np.allclose(implicit[PADDING], unmasked[PADDING], atol=1e-3)


def test_compute_mask():
    np.testing.assert_array_equal(
        to_numpy(_layer(mask_zero=True).compute_mask(TOKEN_IDS)), PADDING
    )
    assert _layer().compute_mask(TOKEN_IDS) is None


def test_missing_segment_ids_raises():
    with pytest.raises(ValueError, match="segment_ids"):
        _layer(num_segments=2)(TOKEN_IDS)


def test_sequence_longer_than_table_raises():
    layer = TokenAndPositionEmbedding(20, sequence_length=3, hidden_dim=8)
    with pytest.raises(ValueError, match=r"length 5.*sequence_length=3"):
        layer(TOKEN_IDS)
