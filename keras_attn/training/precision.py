"""Mixed precision for every entry point: one call before building models."""

import keras

from keras_attn_cli.recipe_flags import PRECISIONS  # noqa: F401


def set_precision(policy="float32"):
    """Set the global Keras dtype policy that new layers and models take.

    Call it before building the model: a model keeps the policy it was built
    with. `"auto"` picks the fastest policy for this machine
    (`training.fastest_config`) and prints what it picked.
    `"mixed_bfloat16"` computes in bfloat16 (TPUs, recent GPUs and
    CPUs), `"mixed_float16"` in float16 (GPUs); both keep the variables in
    float32. With `"mixed_float16"`, `model.compile` wraps the optimizer in
    `keras.optimizers.LossScaleOptimizer`, which multiplies the loss by a
    dynamic scale before the gradients are taken, divides the gradients by
    it, and skips the steps whose gradients overflow: small float16
    gradients would otherwise flush to zero. Keras computes the losses in
    float32.

    Args:
        policy: one of `PRECISIONS`, or `"auto"`.

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
    if policy == "auto":
        from keras_attn.training.hardware import describe
        from keras_attn.training.hardware import fastest_config

        config = fastest_config()
        print(describe(config, xla=False), flush=True)  # it sets no XLA
        policy = config.precision
    if policy not in PRECISIONS:
        raise ValueError(
            f"Unknown precision {policy!r}; expected one of "
            f"{list(PRECISIONS) + ['auto']}."
        )
    keras.config.set_dtype_policy(policy)
    return keras.config.dtype_policy()
