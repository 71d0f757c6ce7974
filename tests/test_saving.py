"""`keras_attn.saving.load_model`: damaged `.keras` files are named as such."""

import keras
import numpy as np
import pytest

from keras_attn.saving import load_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = tmp_path_factory.mktemp("model") / "model.keras"
    model.save(path)
    return model, path


def test_loads_a_good_file(saved):
    model, path = saved
    x = np.ones((1, 3), "float32")
    np.testing.assert_allclose(load_model(path).predict(x, verbose=0), model(x))


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.5, 0.99])
def test_truncated_file_is_called_damaged(saved, tmp_path, fraction):
    data = saved[1].read_bytes()
    path = tmp_path / "cut.keras"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ValueError, match="is damaged: not a complete .keras"):
        load_model(path)


def test_flipped_byte_is_called_damaged(saved, tmp_path):
    data = bytearray(saved[1].read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside a member: its CRC no longer matches
    path = tmp_path / "flipped.keras"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="is damaged"):
        load_model(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No model file"):
        load_model(tmp_path / "absent.keras")
