from keras import ops

from keras_attn.layers.rnn_attention import RNNAttention
from keras_attn.saving import register

SCORES = ("dot", "general")


@register
class LuongAttention(RNNAttention):
    """Multiplicative (Luong) attention: `qᵀ k` or `qᵀ W k`.

    The same call, masks and outputs as `BahdanauAttention` (both are
    `RNNAttention`s); only the score differs. `"dot"` needs query and keys
    of the same width and has no weights; `"general"` learns `W` and
    accepts any widths.

    Args:
        score: `"dot"` or `"general"`.
        kernel_initializer: initializer of `W` (`"general"` only).
        **kwargs: base layer arguments.

    Call arguments:
        query: `(B, Dq)` or `(B, T, Dq)`.
        value: `(B, S, Dv)` encoder outputs.
        key: `(B, S, Dk)`, `value` by default.
        value_mask: `(B, S)` padding mask, from the Keras mask of `value` when
            not given.

    Returns:
        `(context, weights)`, shaped as in `BahdanauAttention`.

    Example:

    >>> import numpy as np
    >>> from keras_attn.layers import LuongAttention
    >>> attention = LuongAttention(score="general")
    >>> decoder_states = np.random.rand(2, 4, 32).astype("float32")
    >>> encoder_outputs = np.random.rand(2, 7, 24).astype("float32")
    >>> context, weights = attention(decoder_states, encoder_outputs)
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 4, 24), (2, 4, 7))

    References:
        Luong, Pham & Manning, "Effective Approaches to Attention-based
        Neural Machine Translation", EMNLP 2015.
    """

    def __init__(self, score="dot", kernel_initializer="glorot_uniform", **kwargs):
        if score not in SCORES:
            raise ValueError(f"`score` must be one of {SCORES}; received {score!r}.")
        super().__init__(kernel_initializer=kernel_initializer, **kwargs)
        self.score = score

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        if self.score == "dot":
            if query_shape[-1] != key_shape[-1]:
                raise ValueError(
                    "The 'dot' score needs query and key of the same width; "
                    f"received query width {query_shape[-1]} and key width "
                    f"{key_shape[-1]}. Use score='general' to learn a map."
                )
            return
        self.key_dense = self._dense(query_shape[-1], "key_dense", key_shape)

    def _score(self, query, key):
        if self.score == "general":
            key = self.key_dense(key)  # (B, S, Dq)
        return ops.einsum("btd,bsd->bts", query, key)

    def get_config(self):
        config = super().get_config()
        config["score"] = self.score
        return config
