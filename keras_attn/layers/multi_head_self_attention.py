from keras import ops

from keras_attn.checks import check_positive_int
from keras_attn.layers.attention_utils import keras_mask_of
from keras_attn.layers.multi_head_attention import MultiHeadAttention
from keras_attn.layers.multi_head_attention import check_sequences
from keras_attn.saving import register


@register
class MultiHeadSelfAttention(MultiHeadAttention):
    """Multi-head self-attention: queries, keys and values from one sequence.

    A `MultiHeadAttention` whose three input projections are fused into one
    matrix multiplication (one `(D, 3·N·H)` kernel, `qkv_dense`, instead of
    three), split in three along the features and into heads. It
    overrides only the projection: masks, the cache, the attention path and
    the outputs are the parent's. (Measured against indexing one stacked
    `(3, B, N, T, H)` tensor and against attending in the `(B, T, N, H)`
    layout: as fast or faster in float32 and bfloat16, with and without
    XLA, on both backends; see docs/benchmarks.md.)

    Args:
        num_heads: number of heads.
        key_dim: size of each head, for query, key and value.
        value_dim: `key_dim` or None; accepted so the parent's config
            round-trips (the fused kernel needs one head size).
        causal: whether calls use a causal mask by default (decoder-only
            models); a call's `use_causal_mask` overrides it.
        dropout, use_bias, output_dim, kernel_initializer: as in
            `MultiHeadAttention`.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `(B, T, D)`.
        mask: `(B, T)` padding mask; taken from the Keras mask of `inputs`
            when not given.
        attention_mask: `(B, T, T)` (or `(B, S)` with a cache) boolean mask.
        use_causal_mask: whether query `i` only sees keys up to `i`; None
            (the default) means the layer's `causal`.
        cache, cache_update_index: key/value cache, as in
            `MultiHeadAttention`: a `(key, value)` pair of `(B, N, S_max, H)`
            tensors from `init_cache`.
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
    >>> cache = layer.init_cache(batch_size=2, max_length=6)
    >>> out, cache = layer(x[:, :1], cache=cache, cache_update_index=0)
    >>> tuple(out.shape), tuple(cache[0].shape)
    ((2, 1, 32), (2, 4, 6, 8))
    """

    def __init__(self, num_heads, key_dim, value_dim=None, causal=False, **kwargs):
        check_positive_int(key_dim, "key_dim")
        check_positive_int(value_dim, "value_dim", allow_none=True)
        if value_dim not in (None, key_dim):
            raise ValueError(
                "MultiHeadSelfAttention fuses query, key and value into one "
                "kernel, so `value_dim` must equal `key_dim` (or be None); "
                f"received key_dim={key_dim} and value_dim={value_dim}. Use "
                "MultiHeadAttention(query=x, value=x) for another value size."
            )
        super().__init__(num_heads, key_dim, value_dim=value_dim, **kwargs)
        self.causal = causal

    def build(self, inputs_shape):
        width = 3 * self.num_heads * self.key_dim
        self.qkv_dense = self._dense(width, "qkv_dense", inputs_shape)
        self._build_output(inputs_shape)

    def call(
        self,
        inputs,
        mask=None,
        attention_mask=None,
        use_causal_mask=None,
        cache=None,
        cache_update_index=None,
        return_attention_scores=False,
        training=None,
    ):
        # B: batch, T: length, D: width, N: heads, H: head size.
        causal = self.causal if use_causal_mask is None else use_causal_mask
        check_sequences(inputs=inputs)
        mask = keras_mask_of(inputs) if mask is None else mask
        batch, length = ops.shape(inputs)[0], ops.shape(inputs)[1]
        # One 2-D GEMM over the B * T tokens (see `MultiHeadAttention._project`),
        # split along the features: the gradient of a split is one concat,
        # where indexing a stacked (3, ...) tensor costs TensorFlow a
        # zero-filled StridedSliceGrad per part (1.7x slower train steps
        # without XLA, see docs/benchmarks.md).
        qkv = self.qkv_dense(ops.reshape(inputs, (-1, inputs.shape[-1])))
        query, key, value = (
            self._heads(x, batch, length, self.key_dim)  # (B, N, T, H)
            for x in ops.split(qkv, 3, axis=-1)  # (B * T, N * H) each
        )
        return self._attend(
            query,
            key,
            value,
            query_mask=mask,
            key_mask=mask,
            attention_mask=attention_mask,
            causal=causal,
            cache=cache,
            cache_update_index=cache_update_index,
            return_attention_scores=return_attention_scores,
            training=training,
        )

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape[:-1]) + (self.output_dim or inputs_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config["causal"] = self.causal
        return config
