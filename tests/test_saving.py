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


def registered_functions():
    import inspect

    import keras_attn  # noqa: F401  (registers everything)

    return {
        name: obj
        for name, obj in keras.saving.get_custom_objects().items()
        if name.startswith("keras_attn>") and inspect.isfunction(obj)
    }


def test_registered_functions_take_what_a_keras_activation_takes():
    """Every registered function (the activations) runs on a symbolic input
    (a functional model), integers (computed in floatx) and bfloat16 (kept),
    on every backend, and round-trips through its serialized name. Caught:
    `gelu_approximate` rejecting KerasTensors and integers on JAX."""
    from keras import ops

    functions = registered_functions()
    assert functions, "no registered function found"
    for name, fn in functions.items():
        symbolic = fn(keras.Input((3,)))
        assert symbolic.shape == (None, 3), name
        dtype = keras.backend.standardize_dtype
        ints = fn(np.array([[-2, 0, 3]], "int32"))
        assert dtype(ints.dtype) == keras.config.floatx(), name
        assert dtype(fn(ops.ones((2, 3), "bfloat16")).dtype) == "bfloat16", name
        restored = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(fn)
        )
        assert restored is fn, name
