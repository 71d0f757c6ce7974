import math

import keras
from keras import ops

from keras_attn.checks import check_positive_int
from keras_attn.saving import register

MODES = ("sinusoidal", "learned")


def check_sequence_length(length, sequence_length, name):
    """Raise when a static `length` exceeds the position table."""
    if length is not None and length > sequence_length:
        raise ValueError(
            f"{name} received a sequence of length {length}, longer than its "
            f"`sequence_length={sequence_length}` position table. Truncate "
            "the input or build the layer with a larger `sequence_length`."
        )


@register
class PositionalEmbedding(keras.layers.Layer):
    """Position embeddings, sinusoidal or learned, shaped like the inputs.

    Returns only the position part, to be added to token embeddings (see
    `TokenAndPositionEmbedding`). In `"sinusoidal"` mode, as in Vaswani et
    al. (2017), even features are `sin(p / w^(2i/D))` and odd features
    `cos(p / w^(2i/D))`, with no weights. In `"learned"` mode each of the
    `sequence_length` positions has a trained vector.

    Args:
        sequence_length: the longest sequence the layer accepts.
        mode: `"sinusoidal"` or `"learned"`.
        max_wavelength: `w` of the sinusoidal mode.
        initializer: initializer of the learned table.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `(B, T, D)` embeddings, used for their shape.
        start_index: position of the first element (for cached decoding).
            A Python int is checked against `sequence_length`; a traced
            index must keep `start_index + T <= sequence_length`.

    Returns:
        `(B, T, D)` position embeddings.

    Example:

    >>> import numpy as np
    >>> from keras_attn.layers import PositionalEmbedding
    >>> layer = PositionalEmbedding(sequence_length=50)
    >>> tokens = np.zeros((2, 10, 16), "float32")
    >>> positions = layer(tokens)
    >>> tuple(positions.shape), float(positions[0, 0, 1])
    ((2, 10, 16), 1.0)
    """

    def __init__(
        self,
        sequence_length,
        mode="sinusoidal",
        max_wavelength=10000,
        initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}; received {mode!r}.")
        check_positive_int(sequence_length, "sequence_length")
        self.sequence_length = sequence_length
        self.mode = mode
        self.max_wavelength = max_wavelength
        self.initializer = keras.initializers.get(initializer)
        self.supports_masking = True

    def build(self, inputs_shape):
        if self.mode == "learned":
            self.position_embeddings = self.add_weight(
                name="embeddings",
                shape=(self.sequence_length, inputs_shape[-1]),
                initializer=self.initializer,
            )

    def call(self, inputs, start_index=0):
        last = inputs.shape[1]
        if last is not None and isinstance(start_index, int):
            last += start_index  # A traced index is the caller's to keep in range.
        check_sequence_length(last, self.sequence_length, self.name)
        shape = ops.shape(inputs)
        length, width = shape[1], inputs.shape[-1]
        positions = ops.arange(length, dtype="int32") + start_index  # (T,)
        if self.mode == "learned":
            table = ops.convert_to_tensor(self.position_embeddings)
            embeddings = ops.take(table, positions, axis=0)  # (T, D)
        else:
            embeddings = self._sinusoids(positions, width)  # (T, D)
        embeddings = ops.cast(embeddings, self.compute_dtype)
        return ops.broadcast_to(embeddings[None], shape)  # (B, T, D)

    def _sinusoids(self, positions, width):
        feature = ops.arange(width, dtype="float32")
        # Features 2i and 2i + 1 share the frequency 1 / w^(2i / D).
        frequency = ops.exp(
            -math.log(self.max_wavelength) * 2.0 * ops.floor(feature / 2) / width
        )
        angles = ops.cast(positions, "float32")[:, None] * frequency[None]
        is_even = ops.cast(ops.arange(width) % 2 == 0, "float32")
        return is_even * ops.sin(angles) + (1 - is_even) * ops.cos(angles)

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "mode": self.mode,
                "max_wavelength": self.max_wavelength,
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config
