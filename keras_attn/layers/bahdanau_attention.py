from keras import ops

from keras_attn.checks import check_positive_int
from keras_attn.layers.rnn_attention import RNNAttention
from keras_attn.saving import register


@register
class BahdanauAttention(RNNAttention):
    """Additive attention, `vᵀ tanh(W_q q + W_k k)`, for RNN encoder–decoders.

    The score of Bahdanau et al. (2015) with its learned projections. Core
    Keras's `keras.layers.AdditiveAttention` computes `vᵀ tanh(q + k)` with
    no `W_q`/`W_k`, so query and keys must already live in one space of one
    width; this layer learns both projections, so a decoder state of any
    width can attend over encoder outputs of any other width.

    Args:
        units: width of the space the query and keys are projected to.
        kernel_initializer: initializer of the three kernels (each gets its
            own clone).
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
        super().__init__(kernel_initializer=kernel_initializer, **kwargs)
        self.units = check_positive_int(units, "units")

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        # One bias is enough: W_q q + b + W_k k.
        self.query_dense = self._dense(
            self.units, "query_dense", query_shape, use_bias=True
        )
        self.key_dense = self._dense(self.units, "key_dense", key_shape)
        self.score_dense = self._dense(1, "score_dense", (None, None, None, self.units))

    def _score(self, query, key):
        query = self.query_dense(query)[:, :, None, :]  # (B, T, 1, U)
        key = self.key_dense(key)[:, None, :, :]  # (B, 1, S, U)
        return ops.squeeze(self.score_dense(ops.tanh(query + key)), -1)  # (B, T, S)

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        return config
