import math

import keras
from keras import ops

from keras_attn.checks import check_positive_int
from keras_attn.layers.initializers import clone_initializer
from keras_attn.saving import register


@register
def gelu_approximate(x):
    """GELU with the tanh approximation, the activation of BERT and GPT-2.

    `0.5 x (1 + tanh(u))` with `u = sqrt(2 / pi) (x + 0.044715 x^3)`,
    computed as the equal `x * sigmoid(2u)`: fewer element-wise ops than
    `keras.activations.gelu(x, approximate=True)`, forward and backward
    (a GPT train step 0-6% faster on a TensorFlow CPU without XLA,
    docs/benchmarks.md). Integer inputs are computed in `floatx()`; float
    inputs keep their dtype. Registered, so models that use it as an
    activation save and load.

    Example:

    >>> import numpy as np
    >>> from keras_attn.layers import gelu_approximate
    >>> x = np.array([-1.0, 0.0, 2.0], "float32")
    >>> np.round(np.asarray(gelu_approximate(x)), 4)
    array([-0.1588,  0.    ,  1.9546], dtype=float32)
    """
    if not isinstance(x, keras.KerasTensor):
        x = ops.convert_to_tensor(x)
    if not keras.backend.is_float_dtype(x.dtype):
        x = ops.cast(x, keras.config.floatx())
    # Python floats are weakly typed: bfloat16 and float16 inputs stay so.
    cubic = ops.add(x, ops.multiply(0.044715, ops.multiply(x, ops.square(x))))
    two_u = ops.multiply(2.0 * (2.0 / math.pi) ** 0.5, cubic)
    return ops.multiply(x, ops.sigmoid(two_u))


@register
class FeedForward(keras.layers.Layer):
    """The position-wise feed-forward block: `Dense(act) -> Dense -> Dropout`.

    Args:
        intermediate_dim: width of the hidden layer.
        activation: activation of the hidden layer.
        dropout: dropout rate on the output.
        kernel_initializer: initializer of the kernels (each gets its own
            clone).
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `(B, T, D)`.
        training: whether dropout is active.

    Returns:
        `(B, T, D)`, with the Keras mask of the inputs.

    Example:

    >>> import numpy as np
    >>> from keras_attn.layers import FeedForward
    >>> layer = FeedForward(intermediate_dim=64)
    >>> tuple(layer(np.zeros((2, 5, 16), "float32")).shape)
    (2, 5, 16)
    """

    def __init__(
        self,
        intermediate_dim,
        activation="relu",
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.intermediate_dim = check_positive_int(intermediate_dim, "intermediate_dim")
        self.activation = keras.activations.get(activation)
        self.dropout = dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True

    def build(self, inputs_shape):
        self.intermediate_dense = keras.layers.Dense(
            self.intermediate_dim,
            activation=self.activation,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="intermediate_dense",
        )
        self.intermediate_dense.build(inputs_shape)
        self.output_dense = keras.layers.Dense(
            inputs_shape[-1],
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="output_dense",
        )
        self.output_dense.build(tuple(inputs_shape[:-1]) + (self.intermediate_dim,))
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="dropout"
        )

    def call(self, inputs, training=None):
        # Over the flattened `(B * T, D)` tokens: one 2-D GEMM per Dense, which
        # XLA on CPU runs faster than the same Dense on `(B, T, D)` under JAX
        # (see `MultiHeadAttention._project`).
        x = ops.reshape(inputs, (-1, inputs.shape[-1]))  # (B * T, D)
        x = self.output_dense(self.intermediate_dense(x))  # (B * T, D)
        x = ops.reshape(x, ops.shape(inputs))  # (B, T, D)
        return self.dropout_layer(x, training=training)

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "intermediate_dim": self.intermediate_dim,
                "activation": keras.activations.serialize(self.activation),
                "dropout": self.dropout,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
