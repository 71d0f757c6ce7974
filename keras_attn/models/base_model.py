import keras
import numpy as np

from keras_attn.checks import check_token_ids
from keras_attn.saving import constructor_config
from keras_attn.saving import from_constructor_config


class BaseModel(keras.Model):
    """What `Backbone` and `Task` share: the config round trip, and a
    `predict` that leaves the model usable after an error.

    Config: a subclass stores every constructor argument under its own name
    (`self.num_layers = num_layers`); `get_config` reads them back through
    `keras_attn.saving.constructor_config`.

    `predict` and `evaluate`: Keras 3.15's JAX trainer detaches the
    variables' values from the model before it traces and reattaches them
    after the loop; an exception in between (a bad input shape, say) leaves
    every variable empty, and the next call fails with `'NoneType' object is
    not callable`. These keep references to the values (no copy) and put
    them back when the call raises, on every backend. `fit` is not guarded:
    restoring there would also undo the steps a failed `fit` had taken on
    TensorFlow. Plain Keras models keep the Keras behaviour (see
    docs/concepts.md).

    `predict` also checks concrete token ids (NumPy arrays, lists, eager
    tensors) of the inputs `token_id_inputs` names: integers inside the
    vocabulary, else a TypeError/ValueError. Inside a compiled graph ids
    are not checked, and the backends differ there (TensorFlow on CPU
    reads a row from the end of the table for a negative id; JAX gives
    NaN for an id past the end), so `predict` is where they are caught.
    """

    def token_id_inputs(self):
        """`{input name: vocabulary size}` of the inputs that are token
        ids, which `predict` checks; none by default."""
        return {}

    def predict(self, x, *args, **kwargs):
        if isinstance(x, dict):
            for name, size in self.token_id_inputs().items():
                ids = _concrete(x.get(name))
                if ids is not None:
                    check_token_ids(ids, size, name)
        return self._keeping_variables(super().predict, x, *args, **kwargs)

    def evaluate(self, *args, **kwargs):
        """`keras.Model.evaluate`, leaving the model usable after an error
        (as `predict` does)."""
        return self._keeping_variables(super().evaluate, *args, **kwargs)

    def _keeping_variables(self, method, *args, **kwargs):
        """`method(...)`; if it raises, the variables get back the values
        they had (no copy: references), then the error propagates."""
        values = [variable.value for variable in self.variables]
        try:
            return method(*args, **kwargs)
        except Exception:
            for variable, value in zip(self.variables, values):
                variable.assign(value)
            raise

    def get_config(self):
        return constructor_config(self)

    @classmethod
    def from_config(cls, config):
        return from_constructor_config(cls, config)


def _concrete(value):
    """`value` as a NumPy array if it is concrete data, else None (a
    dataset, a generator, a symbolic tensor)."""
    if value is None or not (
        isinstance(value, (np.ndarray, list, tuple)) or hasattr(value, "__array__")
    ):
        return None
    try:
        return np.asarray(keras.ops.convert_to_numpy(value))
    except Exception:  # noqa: BLE001 - not concrete (e.g. a traced tensor)
        return None
