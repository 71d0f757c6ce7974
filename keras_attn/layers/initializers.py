"""Initializer helpers shared by the layers."""

import keras


def clone_initializer(initializer):
    """A fresh copy of `initializer` for one sublayer.

    A Keras 3 initializer without an explicit seed draws its seed once, when
    it is created, so one instance shared by several same-shaped weights
    (query, key and value kernels) gives them identical starting values.
    Every sublayer therefore gets its own copy; a copy of an unseeded
    initializer draws a new seed, a copy of a seeded one keeps the seed (the
    caller asked for it).
    """
    initializer = keras.initializers.get(initializer)
    if not isinstance(initializer, keras.initializers.Initializer):
        return initializer  # A plain function: nothing to clone.
    return initializer.__class__.from_config(initializer.get_config())
