import keras
from keras import ops

from keras_attn.layers.attention_utils import compute_attention_mask
from keras_attn.layers.attention_utils import keras_mask_of
from keras_attn.layers.attention_utils import masked_softmax
from keras_attn.layers.attention_utils import register
from keras_attn.layers.multi_head_attention import MultiHeadAttention


@register
class MultiHeadSelfAttention(MultiHeadAttention):
    """Multi-head self-attention: queries, keys and values from one sequence.

    A `MultiHeadAttention` whose three input projections are fused into one
    matrix multiplication (one `(D, 3·N·H)` kernel instead of three); masks,
    cache and outputs behave the same. Without a cache (training, encoders)
    on backends other than TensorFlow it projects straight to the head-major
    `(B, N, T, H)` layout with one einsum over the kernel viewed as
    `(D, 3, N, H)` and attends with batched matrix products, which avoids
    slicing the fused projection and transposing to and from `(B, T, N, H)`.
    That is faster on JAX; on TensorFlow the sliced fused projection and
    `ops.dot_product_attention` measured faster (see docs/benchmarks.md).

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
        if cache is None and keras.backend.backend() != "tensorflow":
            # Measured faster on JAX; TensorFlow's fused path is faster there.
            return self._attend_head_major(
                inputs, mask, attention_mask, return_attention_scores, training
            )
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

    def _attend_head_major(
        self, inputs, mask, attention_mask, return_attention_scores, training
    ):
        # B: batch, T: length, D: width, N: heads, H: head size.
        heads, size = self.num_heads, self.key_dim
        kernel = ops.reshape(self.qkv_dense.kernel, (-1, 3, heads, size))
        kernel = ops.cast(kernel, inputs.dtype)  # (D, 3, N, H)
        qkv = ops.einsum("btd,dcnh->cbnth", inputs, kernel)  # (3, B, N, T, H)
        if self.use_bias:
            bias = ops.reshape(self.qkv_dense.bias, (3, 1, heads, 1, size))
            qkv = qkv + ops.cast(bias, qkv.dtype)
        query, key, value = qkv[0], qkv[1], qkv[2]  # (B, N, T, H)
        query = query * ops.cast(1.0 / size**0.5, query.dtype)
        scores = ops.einsum("bnth,bnsh->bnts", query, key)  # (B, N, T, S)
        allowed = compute_attention_mask(
            inputs,
            inputs,
            query_mask=mask,
            key_mask=mask,
            attention_mask=attention_mask,
            causal=self.causal,
        )  # (B, T, S) or None
        if allowed is not None:
            allowed = ops.expand_dims(allowed, 1)  # (B, 1, T, S)
        weights = masked_softmax(scores, allowed)  # (B, N, T, S)
        dropped = self.dropout_layer(weights, training=training)
        output = ops.einsum("bnts,bnsh->bnth", dropped, value)  # (B, N, T, H)
        kernel = ops.reshape(self.output_dense.kernel, (heads, size, -1))
        output = ops.einsum(
            "bnth,nhd->btd", output, ops.cast(kernel, output.dtype)
        )  # (B, T, D)
        if self.use_bias:
            output = output + ops.cast(self.output_dense.bias, output.dtype)
        return (output, weights) if return_attention_scores else output

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape[:-1]) + (self.output_dim or inputs_shape[-1],)

    def get_config(self):
        config = super().get_config()
        del config["value_dim"]
        config["causal"] = self.causal
        return config
