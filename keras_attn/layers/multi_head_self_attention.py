from keras import ops

from keras_attn.layers.attention_utils import keras_mask_of
from keras_attn.layers.attention_utils import register
from keras_attn.layers.multi_head_attention import MultiHeadAttention


@register
class MultiHeadSelfAttention(MultiHeadAttention):
    """Multi-head self-attention: queries, keys and values from one sequence.

    A `MultiHeadAttention` whose three input projections are fused into one
    matrix multiplication (one `(D, 3·N·H)` kernel instead of three), which is
    the only thing it changes; masks, cache and outputs behave the same.

    Args:
        num_heads: number of heads.
        key_dim: size of each head.
        causal: whether every call uses a causal mask (decoder-only models).
        dropout, use_bias, output_dim, kernel_initializer: as in
            `MultiHeadAttention`.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `(B, T, D)`.
        mask: `(B, T)` padding mask; taken from the Keras mask of `inputs`
            when not given.
        attention_mask: `(B, T, T)` (or `(B, S)` with a cache) boolean mask.
        cache, cache_update_index: key/value cache, as in
            `MultiHeadAttention`; `(B, 2, S_max, N, H)`.
        return_attention_scores: also return the `(B, N, T, S)` weights.
        training: whether dropout is active.

    Returns:
        `output`, then `scores` if requested, then the `cache` if given.

    Example:

    >>> import numpy as np
    >>> from keras_attn.layers import MultiHeadSelfAttention
    >>> layer = MultiHeadSelfAttention(num_heads=4, key_dim=8, causal=True)
    >>> x = np.random.rand(2, 6, 32).astype("float32")
    >>> tuple(layer(x).shape)
    (2, 6, 32)
    """

    def __init__(self, num_heads, key_dim, causal=False, **kwargs):
        kwargs.pop("value_dim", None)
        super().__init__(num_heads, key_dim, value_dim=key_dim, **kwargs)
        self.causal = causal

    def build(self, inputs_shape):
        width = 3 * self.num_heads * self.key_dim
        self.qkv_dense = self._dense(width, "qkv_dense", inputs_shape)
        self._build_attention(inputs_shape)

    def call(
        self,
        inputs,
        mask=None,
        attention_mask=None,
        cache=None,
        cache_update_index=None,
        return_attention_scores=False,
        training=None,
    ):
        mask = keras_mask_of(inputs) if mask is None else mask
        batch, length = ops.shape(inputs)[0], ops.shape(inputs)[1]
        qkv = ops.reshape(
            self.qkv_dense(inputs),
            (batch, length, 3, self.num_heads, self.key_dim),
        )  # (B, T, 3, N, H)
        query, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        return self._attend(
            query,
            key,
            value,
            query_mask=mask,
            key_mask=mask,
            attention_mask=attention_mask,
            causal=self.causal,
            cache=cache,
            cache_update_index=cache_update_index,
            return_attention_scores=return_attention_scores,
            training=training,
        )

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape[:-1]) + (self.output_dim or inputs_shape[-1],)

    def get_config(self):
        config = super().get_config()
        del config["value_dim"]
        config["causal"] = self.causal
        return config
