import keras
import numpy as np
import pytest

from keras_attn.layers import PositionalEmbedding
from tests import references
from tests.test_case import assert_close
from tests.test_case import run_layer_test
from tests.test_case import to_numpy

INPUTS = np.random.RandomState(0).rand(2, 5, 8).astype("float32")


def test_sinusoidal_harness():
    run_layer_test(
        PositionalEmbedding,
        {"sequence_length": 10},
        {"inputs": INPUTS},
        expected_output_shapes=[(2, 5, 8)],
        expected_num_trainable_weights=0,
        expected_num_params=0,
    )


def test_learned_harness():
    run_layer_test(
        PositionalEmbedding,
        {"sequence_length": 10, "mode": "learned"},
        {"inputs": INPUTS},
        expected_output_shapes=[(2, 5, 8)],
        expected_num_trainable_weights=1,
        expected_num_params=10 * 8,
    )


@pytest.mark.parametrize(
    "length, width, max_wavelength", [(12, 10, 10000), (7, 9, 10000), (6, 4, 100)]
)
def test_sinusoidal_matches_reference(length, width, max_wavelength):
    layer = PositionalEmbedding(sequence_length=16, max_wavelength=max_wavelength)
    out = to_numpy(layer(np.zeros((2, length, width), "float32")))
    expected = references.sinusoidal_positions(length, width, max_wavelength)
    # Identical for every batch row: positions do not depend on the values.
    assert_close(out, np.broadcast_to(expected, out.shape))


def test_sinusoidal_start_index_offsets_positions():
    layer = PositionalEmbedding(sequence_length=16)
    out = layer(np.zeros((1, 4, 6), "float32"), start_index=3)
    assert_close(out[0], references.sinusoidal_positions(7, 6)[3:])


def test_learned_start_index_offsets_positions():
    layer = PositionalEmbedding(sequence_length=8, mode="learned")
    layer(INPUTS)
    table = to_numpy(layer.position_embeddings)
    out = to_numpy(layer(INPUTS[:, :2], start_index=3))
    assert_close(out, np.broadcast_to(table[3:5], out.shape))


def test_learned_mode_trains_only_the_positions_it_sees():
    layer = PositionalEmbedding(sequence_length=8, mode="learned")
    inputs = keras.Input((5, 4))
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    before = to_numpy(layer.position_embeddings)
    x = np.zeros((4, 5, 4), "float32")
    target = references.sinusoidal_positions(5, 4)[None].repeat(4, 0)
    history = model.fit(x, target, epochs=10, batch_size=4, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    after = to_numpy(layer.position_embeddings)
    assert not np.allclose(after[:5], before[:5])
    # Positions 5..7 were never looked up, so got no gradient.
    np.testing.assert_array_equal(after[5:], before[5:])


@pytest.mark.parametrize("mode", ["sinusoidal", "learned"])
def test_sequence_longer_than_table_raises(mode):
    layer = PositionalEmbedding(sequence_length=4, mode=mode)
    with pytest.raises(ValueError, match=r"length 6.*sequence_length=4"):
        layer(np.zeros((1, 6, 8), "float32"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sequence_length": 8, "mode": "rotary"}, "rotary"),
        ({"sequence_length": 0}, "sequence_length"),
        ({"sequence_length": 8.0}, "sequence_length"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PositionalEmbedding(**kwargs)


def test_passes_the_keras_mask_through():
    ids = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(10, 4, mask_zero=True)(ids)
    positions = PositionalEmbedding(sequence_length=8)(embedded)
    assert positions._keras_mask is not None
