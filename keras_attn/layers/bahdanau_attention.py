import keras
from keras import ops

from keras_attn.layers.attention_utils import compute_attention_mask
from keras_attn.layers.attention_utils import masked_softmax
from keras_attn.layers.attention_utils import register


@register
class BahdanauAttention(keras.layers.Layer):
    """Additive attention, `vᵀ tanh(W_q q + W_k k)`, for RNN encoder–decoders.

    The score of Bahdanau et al. (2015) with its learned projections. Core
    Keras's `keras.layers.AdditiveAttention` computes `vᵀ tanh(q + k)` with
    no `W_q`/`W_k`, so query and keys must already live in one space of one
    width; this layer learns both projections, so a decoder state of any
    width can attend over encoder outputs of any other width.

    Args:
        units: width of the space the query and keys are projected to.
        kernel_initializer: initializer of the three kernels.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        query: `(B, Dq)` one decoder step, or `(B, T, Dq)` a whole decoder
            sequence.
        value: `(B, S, Dv)` encoder outputs.
        key: `(B, S, Dk)` scored against the query; `value` by default.
        value_mask: `(B, S)` boolean padding mask of the encoder outputs.
            Filled in from the Keras mask of `value` (e.g. set by
            `Embedding(mask_zero=True)` before the encoder) when not given.

    Returns:
        `(context, weights)`: `context` is `(B, Dv)` or `(B, T, Dv)` (shaped
        like the query), `weights` is `(B, S)` or `(B, T, S)`; each row sums
        to one over the unmasked encoder positions, and is all zeros when
        every position is masked.

    Example:

    >>> import numpy as np
    >>> from keras_attn.layers import BahdanauAttention
    >>> attention = BahdanauAttention(units=16)
    >>> decoder_state = np.random.rand(2, 32).astype("float32")
    >>> encoder_outputs = np.random.rand(2, 7, 24).astype("float32")
    >>> context, weights = attention(decoder_state, encoder_outputs)
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 24), (2, 7))

    References:
        Bahdanau, Cho & Bengio, "Neural Machine Translation by Jointly
        Learning to Align and Translate", ICLR 2015.
    """

    def __init__(self, units, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"`units` must be a positive integer; received {units!r}.")
        self.units = units
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True

    def _dense(self, units, name, use_bias=False):
        return keras.layers.Dense(
            units,
            use_bias=use_bias,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        # One bias is enough: W_q q + b + W_k k.
        self.query_dense = self._dense(self.units, "query_dense", True)
        self.query_dense.build(query_shape)
        self.key_dense = self._dense(self.units, "key_dense")
        self.key_dense.build(key_shape)
        self.score_dense = self._dense(1, "score_dense")
        self.score_dense.build((None, None, None, self.units))

    def _score(self, query, key):
        """`(B, T, Dq), (B, S, Dk) -> (B, T, S)` unnormalised scores."""
        query = self.query_dense(query)[:, :, None, :]  # (B, T, 1, U)
        key = self.key_dense(key)[:, None, :, :]  # (B, 1, S, U)
        return ops.squeeze(self.score_dense(ops.tanh(query + key)), -1)

    def call(self, query, value, key=None, value_mask=None, training=None):
        if len(value.shape) != 3:
            raise ValueError(
                "`value` must be (batch, source_length, features); received "
                f"shape {tuple(value.shape)}."
            )
        if len(query.shape) not in (2, 3):
            raise ValueError(
                "`query` must be (batch, features) or (batch, target_length, "
                f"features); received shape {tuple(query.shape)}."
            )
        key = value if key is None else key
        single_step = len(query.shape) == 2
        if single_step:
            query = ops.expand_dims(query, 1)  # (B, 1, Dq)
        mask = compute_attention_mask(query, key, key_mask=value_mask)
        weights = masked_softmax(self._score(query, key), mask)  # (B, T, S)
        context = ops.einsum("bts,bsd->btd", weights, value)  # (B, T, Dv)
        if single_step:
            return ops.squeeze(context, 1), ops.squeeze(weights, 1)
        return context, weights

    def compute_mask(self, inputs, previous_mask=None):
        # Keras passes the query and its mask: both outputs are per query
        # position, so both keep the query's mask.
        return previous_mask, previous_mask

    def compute_output_shape(self, query_shape, value_shape, key_shape=None):
        context = tuple(query_shape[:-1]) + (value_shape[-1],)
        weights = tuple(query_shape[:-1]) + (value_shape[1],)
        return context, weights

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
