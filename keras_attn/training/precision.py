"""Mixed precision for every entry point: one call before building models."""

import keras

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def set_precision(policy="float32"):
    """Set the global Keras dtype policy that new layers and models take.

    Call it before building the model: a model keeps the policy it was built
    with. `"mixed_bfloat16"` computes in bfloat16 (TPUs, recent GPUs and
    CPUs), `"mixed_float16"` in float16 (GPUs); both keep the variables in
    float32. With `"mixed_float16"`, `model.compile` wraps the optimizer in
    `keras.optimizers.LossScaleOptimizer`, which multiplies the loss by a
    dynamic scale before the gradients are taken, divides the gradients by
    it, and skips the steps whose gradients overflow: small float16
    gradients would otherwise flush to zero. Keras computes the losses in
    float32.

    Args:
        policy: one of `PRECISIONS`.

    Returns:
        The `keras.DTypePolicy` now in force.

    Example:

    >>> import keras
    >>> from keras_attn import training
    >>> training.set_precision("mixed_float16").name
    'mixed_float16'
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> type(model.optimizer).__name__
    'LossScaleOptimizer'
    >>> training.set_precision("float32").name
    'float32'
    """
    if policy not in PRECISIONS:
        raise ValueError(
            f"Unknown precision {policy!r}; expected one of {list(PRECISIONS)}."
        )
    keras.config.set_dtype_policy(policy)
    return keras.config.dtype_policy()
