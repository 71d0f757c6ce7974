"""Registration of keras_attn objects for `.keras` saving and loading."""

import keras


def register(obj):
    """Register a class or function for `.keras` loading, under `keras_attn>`."""
    return keras.saving.register_keras_serializable(package="keras_attn")(obj)
