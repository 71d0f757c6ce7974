import keras
from keras import ops

from keras_attn.checks import check_positive_int
from keras_attn.layers.attention_utils import compute_attention_mask
from keras_attn.layers.attention_utils import empty_row_filter
from keras_attn.layers.attention_utils import fused_attention
from keras_attn.layers.attention_utils import masked_softmax
from keras_attn.layers.initializers import clone_initializer
from keras_attn.saving import register


def _and(a, b):
    if a is None or b is None:
        return b if a is None else a
    return ops.logical_and(ops.cast(a, "bool"), ops.cast(b, "bool"))


@register
class MultiHeadAttention(keras.layers.Layer):
    """Multi-head scaled dot-product attention, for cross attention.

    Queries come from one sequence (e.g. the decoder), keys and values from
    another (e.g. the encoder outputs). Each of `num_heads` heads attends in
    its own `key_dim`-wide projection; the heads are concatenated and
    projected back to the query width (or `output_dim`).

    Masks (`True` = may attend) are combined once, in
    `attention_utils.compute_attention_mask`: a query may attend to a key only
    if the query's padding mask, the key/value padding masks, the explicit
    `attention_mask` and the causal mask all allow it. Padding masks are
    picked up from the Keras masks of `query`, `value` and `key`. A query
    whose keys are all masked gets a zero vector before the output projection
    (never NaN).

    The attention itself runs in one head-major `(B, N, T, H)` layout for
    every call, with or without a cache, scores or dropout: the keys and
    values of the cache are kept in that layout, so a decoding step writes
    one slice of each and attends with two batched matrix products. With
    `flash_attention`, calls that allow it go through the backend's fused
    kernel instead (see the argument).

    Args:
        num_heads: number of heads.
        key_dim: size of each head for query and key.
        value_dim: size of each head for value; `key_dim` by default.
        dropout: dropout rate on the attention weights.
        use_bias: whether the projections have biases.
        output_dim: width of the output; the query width by default.
        kernel_initializer: initializer of the projection kernels; every
            projection gets its own clone.
        flash_attention: route calls that need no weights back, no active
            dropout and no cache through `keras.ops.dot_product_attention`,
            which runs a fused flash kernel where the backend and device
            have one (cuDNN on GPUs under JAX) and its own implementation
            elsewhere. Off by default: on CPUs the batched matrix products
            of the default path are faster (docs/benchmarks.md).
        **kwargs: base layer arguments.

    Call arguments:
        query: `(B, T, Dq)`.
        value: `(B, S, Dv)`.
        key: `(B, S, Dk)`; `value` by default.
        query_mask, value_mask, key_mask: `(B, T)` / `(B, S)` padding masks.
        attention_mask: `(B, T, S)` (or `(B, S)`) boolean mask.
        use_causal_mask: query `i` only sees keys up to its position.
        cache: a `(key, value)` pair of `(B, N, S, H)` tensors (see
            `init_cache` and `compute_cache`). With `cache_update_index`,
            the new keys/values are written at that index and attention runs
            over the whole cache (causally from the index); the padding of
            past positions must then come through `attention_mask`, as
            `value_mask`/`key_mask` only describe the new positions and are
            ignored. Without an index the cache holds precomputed
            keys/values (e.g. of the encoder) and `key`/`value` are not
            projected again.
        cache_update_index: int, position of the first new query.
        return_attention_scores: also return the `(B, N, T, S)` weights.
        training: whether dropout is active.

    Returns:
        `output` of shape `(B, T, output_dim)`; then `scores` if
        `return_attention_scores`; then the updated `cache` if one was given.

    Example:

    >>> import numpy as np
    >>> from keras_attn.layers import MultiHeadAttention
    >>> layer = MultiHeadAttention(num_heads=2, key_dim=8)
    >>> decoder = np.random.rand(2, 5, 16).astype("float32")
    >>> encoder = np.random.rand(2, 9, 12).astype("float32")
    >>> output, scores = layer(decoder, encoder, return_attention_scores=True)
    >>> tuple(output.shape), tuple(scores.shape)
    ((2, 5, 16), (2, 2, 5, 9))

    References:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dim=None,
        dropout=0.0,
        use_bias=True,
        output_dim=None,
        kernel_initializer="glorot_uniform",
        flash_attention=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int(num_heads, "num_heads")
        check_positive_int(key_dim, "key_dim")
        check_positive_int(value_dim, "value_dim", allow_none=True)
        check_positive_int(output_dim, "output_dim", allow_none=True)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1); received {dropout}.")
        if not isinstance(flash_attention, bool):
            raise TypeError(
                f"`flash_attention` must be True or False; received "
                f"{flash_attention!r}."
            )
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim or key_dim
        self.dropout = dropout
        self.use_bias = use_bias
        self.output_dim = output_dim
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.flash_attention = flash_attention
        self.supports_masking = True

    # --- build -------------------------------------------------------------

    def _dense(self, units, name, input_shape):
        layer = keras.layers.Dense(
            units,
            use_bias=self.use_bias,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name=name,
        )
        layer.build(input_shape)
        return layer

    def _build_output(self, query_shape):
        width = self.output_dim or query_shape[-1]
        self.output_dense = self._dense(
            width, "output_dense", (None, None, self.num_heads * self.value_dim)
        )
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="attention_dropout"
        )

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        heads = self.num_heads
        self.query_dense = self._dense(heads * self.key_dim, "query_dense", query_shape)
        self.key_dense = self._dense(heads * self.key_dim, "key_dense", key_shape)
        self.value_dense = self._dense(
            heads * self.value_dim, "value_dense", value_shape
        )
        self._build_output(query_shape)

    # --- call --------------------------------------------------------------

    # Every projection runs as one 2-D GEMM over the `B * T` tokens: XLA on
    # CPU ran the same Dense on `(B, T, D)` inputs ~15% slower under JAX
    # (benchmarks/formulations in docs/benchmarks.md), and the 2-D form is
    # as fast as any other on TensorFlow.
    def _heads(self, projected, batch, length, head_size):
        """`(B * T, N * H)` -> `(B, N, T, H)`."""
        x = ops.reshape(projected, (batch, length, self.num_heads, head_size))
        return ops.transpose(x, (0, 2, 1, 3))

    def _project(self, dense, x, head_size):
        """`(B, T, D)` through `dense` -> `(B, N, T, H)`."""
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        projected = dense(ops.reshape(x, (-1, x.shape[-1])))  # (B * T, N * H)
        return self._heads(projected, batch, length, head_size)

    def _project_key_value(self, value, key):
        """`(B, S, Dv)`, `(B, S, Dk)` -> head-major keys and values."""
        key = self._project(self.key_dense, key, self.key_dim)  # (B, N, S, H)
        value = self._project(self.value_dense, value, self.value_dim)
        return key, value

    def call(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        use_causal_mask=False,
        cache=None,
        cache_update_index=None,
        return_attention_scores=False,
        training=None,
    ):
        # B: batch, T: query length, S: key length, N: heads, H: head size.
        key = value if key is None else key
        check_sequences(query=query, value=value, key=key)
        query_heads = self._project(
            self.query_dense, query, self.key_dim
        )  # (B, N, T, H)
        if cache is not None and cache_update_index is None:
            key_heads, value_heads = self._check_cache(cache)  # (B, N, S, H)
        else:
            key_heads, value_heads = self._project_key_value(value, key)
        return self._attend(
            query_heads,
            key_heads,
            value_heads,
            query_mask=query_mask,
            key_mask=_and(value_mask, key_mask),
            attention_mask=attention_mask,
            causal=use_causal_mask,
            cache=cache,
            cache_update_index=cache_update_index,
            return_attention_scores=return_attention_scores,
            training=training,
        )

    def _check_cache(self, cache):
        if not isinstance(cache, (tuple, list)) or len(cache) != 2:
            raise ValueError(
                "`cache` must be a (key, value) pair of (B, N, S, H) tensors "
                "(see `init_cache` and `compute_cache`); received "
                f"{type(cache).__name__}"
                + (f" of shape {tuple(cache.shape)}" if hasattr(cache, "shape") else "")
                + "."
            )
        key, value = cache
        for name, x, size in (
            ("key", key, self.key_dim),
            ("value", value, self.value_dim),
        ):
            if len(x.shape) != 4 or x.shape[1] != self.num_heads or x.shape[3] != size:
                raise ValueError(
                    f"The cached {name} must be (B, N={self.num_heads}, S, "
                    f"H={size}); received shape {tuple(x.shape)}."
                )
        return key, value

    def _attend(
        self,
        query,
        key,
        value,
        query_mask,
        key_mask,
        attention_mask,
        causal,
        cache,
        cache_update_index,
        return_attention_scores,
        training,
    ):
        """Attention over head-major `(B, N, T|S, H)` heads, then the output
        projection. The one attention path of every call."""
        causal_offset = None
        if cache is not None and cache_update_index is not None:
            key_cache, value_cache = self._check_cache(cache)
            _check_update_index(cache_update_index, key.shape[2], key_cache.shape[2])
            start = [0, 0, cache_update_index, 0]
            key = ops.slice_update(key_cache, start, key)  # (B, N, S, H)
            value = ops.slice_update(value_cache, start, value)  # (B, N, S, H)
            cache = (key, value)
            key_mask, causal_offset = None, cache_update_index
        mask = compute_attention_mask(
            query,
            key,
            query_mask=query_mask,
            key_mask=key_mask,
            attention_mask=attention_mask,
            causal=causal,
            causal_offset=causal_offset,
            axis=2,
        )  # (B, T, S) or None
        scale = 1.0 / self.key_dim**0.5
        if self._fused(return_attention_scores, cache, training):
            if mask is not None:  # (B|1, T|1, S|1) -> (B|1, T, S), as kernels want
                shape = (ops.shape(mask)[0], ops.shape(query)[2], ops.shape(key)[2])
                mask = ops.broadcast_to(mask, shape)
            # (B, N, T, H) -> (B, T, N, H), the fused kernel's layout.
            query, key, value = (
                ops.transpose(x, (0, 2, 1, 3)) for x in (query, key, value)
            )
            output = fused_attention(query, key, value, mask, scale)  # (B, T, N, H)
        else:
            output, weights = self._dot_product(
                query, key, value, mask, scale, return_attention_scores, training
            )  # (B, N, T, H), (B, N, T, S)
            output = ops.transpose(output, (0, 2, 1, 3))  # (B, T, N, H)
        batch, length = ops.shape(output)[0], ops.shape(output)[1]
        output = ops.reshape(output, (-1, self.num_heads * self.value_dim))
        output = self.output_dense(output)  # (B * T, D)
        output = ops.reshape(output, (batch, length, output.shape[-1]))  # (B, T, D)
        results = (output,)
        if return_attention_scores:
            results += (weights,)
        if cache is not None:
            results += (cache,)
        return results[0] if len(results) == 1 else results

    def _dot_product(self, query, key, value, mask, scale, return_scores, training):
        """softmax(Q Kᵀ · scale) V over head-major heads: the batched matrix
        products every call takes unless `_fused` says otherwise."""
        if mask is not None:
            mask = ops.expand_dims(mask, 1)  # (B, 1, T, S)
        query = query * ops.cast(scale, query.dtype)
        scores = ops.einsum("bnth,bnsh->bnts", query, key)  # (B, N, T, S)
        # Fully masked rows are zeroed once, on the (B, N, T, H) output
        # rather than the (B, N, T, S) weights: S / H times fewer elements
        # (GPT train steps ~1.17x faster, docs/benchmarks.md).
        weights = masked_softmax(scores, mask, zero_empty_rows=False)
        dropped = self.dropout_layer(weights, training=training)
        output = ops.einsum("bnts,bnsh->bnth", dropped, value)  # (B, N, T, H)
        if mask is not None:
            visible = empty_row_filter(mask, output.dtype)  # (B, 1, T, 1)
            output = output * visible
            weights = weights * visible if return_scores else weights
        return output, weights

    def _fused(self, return_attention_scores, cache, training):
        """Whether this call goes through `keras.ops.dot_product_attention`
        (a flash kernel where the backend and device have one, e.g. cuDNN
        under JAX): asked for by `flash_attention`, and only for a call that
        needs no weights back, no active dropout on them and no cache (a
        decoding step attends one query; there is nothing to fuse)."""
        dropout_active = self.dropout > 0 and bool(training)
        return self.flash_attention and not (
            return_attention_scores or dropout_active or cache is not None
        )

    # --- caches ------------------------------------------------------------

    def init_cache(self, batch_size, max_length):
        """An empty `(key, value)` cache of `max_length` positions, in the
        layer's compute dtype: two `(B, N, max_length, H)` zero tensors."""
        heads = self.num_heads
        return (
            ops.zeros(
                (batch_size, heads, max_length, self.key_dim), self.compute_dtype
            ),
            ops.zeros(
                (batch_size, heads, max_length, self.value_dim), self.compute_dtype
            ),
        )

    def compute_cache(self, value, key=None):
        """Project `value` (and `key`) once: a `(key, value)` pair of
        `(B, N, S, H)` tensors.

        Pass it as `cache` (without an index) to attend over the same
        encoder outputs at every decoding step without projecting them again.
        """
        return self._project_key_value(value, value if key is None else key)

    # --- shapes and config -------------------------------------------------

    def compute_output_spec(self, *args, **kwargs):
        # The number of outputs depends on call flags (`return_attention_scores`,
        # a cache) that `compute_output_shape` never sees: trace `call` instead.
        return keras.Operation.compute_output_spec(self, *args, **kwargs)

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        return tuple(query_shape[:-1]) + (self.output_dim or query_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "value_dim": self.value_dim,
                "dropout": self.dropout,
                "use_bias": self.use_bias,
                "output_dim": self.output_dim,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "flash_attention": self.flash_attention,
            }
        )
        return config


def check_sequences(**tensors):
    """Checks of the attention inputs that cost nothing in a graph: each a
    float `(B, T, D)` tensor, with equal batch sizes and, for `key` and
    `value`, equal lengths where the shapes are known. Raises a TypeError
    (int inputs would be projected and scaled in integers) or a ValueError
    naming the input, instead of an error from inside the backend."""
    tensors = {name: x for name, x in tensors.items() if x is not None}
    for name, x in tensors.items():
        if len(x.shape) != 3:
            raise ValueError(
                f"`{name}` must be a (batch, length, features) tensor; received "
                f"shape {tuple(x.shape)}."
            )
        if not keras.backend.is_float_dtype(keras.backend.standardize_dtype(x.dtype)):
            raise TypeError(
                f"`{name}` must be a float tensor; received dtype {x.dtype}. "
                "Embed token ids first (e.g. keras.layers.Embedding)."
            )
    batches = {name: x.shape[0] for name, x in tensors.items() if x.shape[0]}
    if len(set(batches.values())) > 1:
        raise ValueError(f"The inputs' batch sizes differ: {batches}.")
    key, value = tensors.get("key"), tensors.get("value")
    if (
        key is not None
        and value is not None
        and None
        not in (
            key.shape[1],
            value.shape[1],
        )
    ):
        if key.shape[1] != value.shape[1]:
            raise ValueError(
                "`key` and `value` must have the same length (one value per "
                f"key); received key {tuple(key.shape)} and value "
                f"{tuple(value.shape)}."
            )


def _check_update_index(index, new, length):
    """A Python `cache_update_index` must leave room for the `new` steps in a
    cache of `length`; a tensor index is the caller's (a decoding loop's)."""
    if isinstance(index, bool) or not isinstance(index, int):
        return
    if new is not None and length is not None and not 0 <= index <= length - new:
        raise ValueError(
            f"`cache_update_index`={index} with {new} new step(s) does not fit "
            f"a cache of length {length}; expected 0 <= index <= {length - new}."
        )
