"""Registration of keras_attn objects for `.keras` saving and loading."""

import inspect

import keras


def register(obj):
    """Register a class or function for `.keras` loading, under `keras_attn>`."""
    return keras.saving.register_keras_serializable(package="keras_attn")(obj)


def constructor_config(obj):
    """`get_config` of an object whose constructor arguments are stored as
    attributes of the same names (`self.num_layers = num_layers`).

    Keras objects (a backbone, an initializer, a registered activation) are
    serialized; a `dtype` argument is saved as the object's dtype policy.
    The inverse is `from_constructor_config`.
    """
    config = {"name": obj.name, "trainable": obj.trainable}
    for name, parameter in inspect.signature(type(obj).__init__).parameters.items():
        if name == "self" or parameter.kind in (
            parameter.VAR_POSITIONAL,
            parameter.VAR_KEYWORD,
        ):
            continue
        if name == "dtype":
            config[name] = keras.dtype_policies.serialize(obj.dtype_policy)
            continue
        value = getattr(obj, name)
        if value is not None and not isinstance(value, (bool, int, float, str)):
            value = keras.saving.serialize_keras_object(value)
        config[name] = value
    return config


def from_constructor_config(cls, config):
    """The object `constructor_config` describes."""
    config = dict(config)
    for name, value in config.items():
        if isinstance(value, dict) and "class_name" in value:
            if name == "dtype":
                config[name] = keras.dtype_policies.deserialize(value)
            else:
                config[name] = keras.saving.deserialize_keras_object(value)
    return cls(**config)
