import keras

from keras_attn.saving import constructor_config
from keras_attn.saving import from_constructor_config


class BaseModel(keras.Model):
    """What `Backbone` and `Task` share: the config round trip, and a
    `predict` that leaves the model usable after an error.

    Config: a subclass stores every constructor argument under its own name
    (`self.num_layers = num_layers`); `get_config` reads them back through
    `keras_attn.saving.constructor_config`.

    `predict`: Keras 3.15's JAX trainer detaches the variables' values from
    the model before it traces the predict function and reattaches them
    after the loop; an exception in between (a bad input shape, say) leaves
    every variable empty, and the next call fails with `'NoneType' object is
    not callable`. This `predict` keeps references to the values (no copy)
    and puts them back when `predict` raises, on every backend. Plain Keras
    models keep the Keras behaviour (see docs/concepts.md).
    """

    def predict(self, *args, **kwargs):
        values = [variable.value for variable in self.variables]
        try:
            return super().predict(*args, **kwargs)
        except Exception:
            for variable, value in zip(self.variables, values):
                variable.assign(value)
            raise

    def get_config(self):
        return constructor_config(self)

    @classmethod
    def from_config(cls, config):
        return from_constructor_config(cls, config)
