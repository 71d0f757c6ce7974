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


def load_model(path, **kwargs):
    """`keras.saving.load_model`, with a clear error for a damaged file.

    Keras answers a truncated or corrupted `.keras` archive with "File not
    found", which sends the user looking in the wrong place. This checks
    that the file exists and is a readable zip archive (every member's CRC
    included) first.

    Args:
        path: a `.keras` file.
        **kwargs: passed to `keras.saving.load_model` (e.g. `compile`).

    Returns:
        The model.

    Raises:
        FileNotFoundError: there is no file at `path`.
        ValueError: the file is not a complete `.keras` archive.

    Example:

    >>> import keras
    >>> from keras_attn.saving import load_model
    >>> path = str(getfixture("tmp_path") / "damaged.keras")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"PK\\x03\\x04 cut short")
    >>> load_model(path)
    Traceback (most recent call last):
    ...
    ValueError: ... is damaged: not a complete .keras (zip) archive ...
    """
    import os
    import zipfile

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No model file at {path!r}.")
    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        broken = f"{type(error).__name__}: {error}"
    if broken is not None:
        raise ValueError(
            f"{path!r} is damaged: not a complete .keras (zip) archive "
            f"({broken}). Was it truncated while being written or copied? "
            "Save the model again."
        )
    return keras.saving.load_model(path, **kwargs)
