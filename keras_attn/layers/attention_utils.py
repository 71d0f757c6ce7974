"""Masks and the reference attention math shared by every attention layer.

Shape legend used throughout the package:

    B: batch size          T: query (target) length
    S: key/value (source) length
    N: number of heads     H: size of one head
    D: model width

Mask convention (the Keras one): boolean, `True` means "may attend". All the
masks a layer receives are combined by `compute_attention_mask` into a single
`(B, T, S)` mask, so precedence is simple: a position is attended to only if
*every* mask given allows it.
"""

from keras import ops

try:  # Keras keeps the mask of a tensor in a backend-specific side table.
    from keras.src.backend import get_keras_mask as _get_keras_mask
except ImportError:  # pragma: no cover - very old or very new Keras

    def _get_keras_mask(x):
        return getattr(x, "_keras_mask", None)


def keras_mask_of(x):
    """The Keras mask attached to `x` (e.g. by `Embedding(mask_zero=True)`)."""
    return None if x is None else _get_keras_mask(x)


def _check_mask(mask, name, batch_and_last, rank_options):
    if mask is None:
        return None
    if len(mask.shape) not in rank_options:
        raise ValueError(
            f"`{name}` must have rank {' or '.join(map(str, rank_options))} "
            f"with shape {batch_and_last}; received shape {tuple(mask.shape)}."
        )
    return ops.cast(mask, "bool")


def _check_last_dim(mask, name, expected, what):
    got = mask.shape[-1]
    if got is not None and expected is not None and got != expected:
        raise ValueError(
            f"`{name}` has last dimension {got} but the {what} has length "
            f"{expected}; received mask shape {tuple(mask.shape)}."
        )


def causal_mask(query_length, key_length, offset=None):
    """A `(1, T, S)` mask where query `i` sees keys `j <= offset + i`.

    `offset` is the absolute position of the first query. It defaults to
    `S - T`, which aligns the last query with the last key (the usual causal
    mask when `T == S`). With a key/value cache, `offset` is the cache index.
    """
    if offset is None:
        offset = key_length - query_length
    rows = ops.expand_dims(ops.arange(query_length, dtype="int32"), 1)
    cols = ops.expand_dims(ops.arange(key_length, dtype="int32"), 0)
    mask = cols <= rows + ops.cast(offset, "int32")  # (T, S)
    return ops.expand_dims(mask, 0)  # (1, T, S)


def compute_attention_mask(
    query,
    key,
    query_mask=None,
    key_mask=None,
    attention_mask=None,
    causal=False,
    causal_offset=None,
    axis=1,
):
    """Combine padding, explicit and causal masks into one `(B, T, S)` mask.

    Args:
        query: `(B, T, ...)` tensor, used for its length.
        key: `(B, S, ...)` tensor, used for its length.
        query_mask: `(B, T)` padding mask of the queries, or None.
        key_mask: `(B, S)` padding mask of the keys/values, or None.
        attention_mask: `(B, T, S)` mask, or `(B, S)` which applies to every
            query, or None.
        causal: whether query `i` may only see keys up to its own position.
        causal_offset: absolute position of the first query (see
            `causal_mask`); used with a key/value cache.
        axis: the axis of `query` and `key` that holds the length (2 for
            head-major `(B, N, T, H)` tensors).

    Returns:
        A boolean tensor broadcastable to `(B, T, S)`, or None when nothing
        is masked.
    """
    query_length = ops.shape(query)[axis]
    key_length = ops.shape(key)[axis]
    static_t, static_s = query.shape[axis], key.shape[axis]
    query_mask = _check_mask(query_mask, "query_mask", "(B, T)", (2,))
    key_mask = _check_mask(key_mask, "key_mask", "(B, S)", (2,))
    attention_mask = _check_mask(
        attention_mask, "attention_mask", "(B, T, S) or (B, S)", (2, 3)
    )
    mask = None
    if query_mask is not None:
        _check_last_dim(query_mask, "query_mask", static_t, "query")
        mask = ops.expand_dims(query_mask, -1)  # (B, T, 1)
    if key_mask is not None:
        _check_last_dim(key_mask, "key_mask", static_s, "key")
        key_mask = ops.expand_dims(key_mask, 1)  # (B, 1, S)
        mask = key_mask if mask is None else ops.logical_and(mask, key_mask)
    if attention_mask is not None:
        _check_last_dim(attention_mask, "attention_mask", static_s, "key")
        if len(attention_mask.shape) == 2:
            attention_mask = ops.expand_dims(attention_mask, 1)  # (B, 1, S)
        elif (
            attention_mask.shape[1] is not None
            and static_t is not None
            and attention_mask.shape[1] not in (1, static_t)
        ):
            raise ValueError(
                "`attention_mask` must have shape (B, T, S) with T equal to "
                f"the query length {static_t}; received shape "
                f"{tuple(attention_mask.shape)}."
            )
        mask = attention_mask if mask is None else ops.logical_and(mask, attention_mask)
    if causal:
        c = causal_mask(query_length, key_length, causal_offset)
        mask = c if mask is None else ops.logical_and(mask, c)
    return mask


def masked_softmax(scores, mask=None, axis=-1, zero_empty_rows=True):
    """Softmax over `axis` that ignores masked positions.

    float16 scores are computed in float32 (they overflow easily); float32
    and bfloat16 ones in their own dtype, as core Keras and keras-hub do:
    bfloat16 has float32's exponent range, and a float32 copy of the
    `(B, N, T, S)` scores and its gradient cost ~9% of a
    `MultiHeadSelfAttention` train step in mixed_bfloat16 without XLA
    (docs/benchmarks.md). TensorFlow's bfloat16 softmax kernel computes in
    float32 inside, so its weights equal the float32 ones rounded; on JAX
    the exponentials are taken in bfloat16, which about doubles the error
    against exact weights (still of the size that rounding the scores to
    bfloat16 already causes). Masked positions get exactly zero weight
    (their `exp` of a score 1e9 below the row's maximum underflows to 0),
    and a row whose positions are all masked gets all-zero weights instead
    of NaN.

    Args:
        scores: the scores, any float dtype.
        mask: boolean, broadcastable to `scores`; True means "may attend".
        axis: the axis to normalise over (the keys).
        zero_empty_rows: zero the rows whose positions are all masked
            (they would otherwise be uniform). A caller that zeroes those
            rows later, on a smaller tensor, passes False (the attention
            core multiplies its `(B, N, T, H)` output instead of the
            `(B, N, T, S)` weights: `empty_row_filter`).
    """
    dtype = scores.dtype
    compute = "float32" if dtype == "float16" else dtype
    scores = ops.cast(scores, compute)
    if mask is None:
        return ops.cast(ops.softmax(scores, axis=axis), dtype)
    weights = ops.softmax(ops.where(mask, scores, -1e9), axis=axis)
    if zero_empty_rows:
        weights = weights * empty_row_filter(mask, compute, axis)
    return ops.cast(weights, dtype)


def empty_row_filter(mask, dtype, axis=-1):
    """1 where a row of `mask` has any key to attend to, 0 where it has
    none, with `axis` kept (size 1) so it broadcasts over the rows."""
    return ops.cast(ops.any(mask, axis=axis, keepdims=True), dtype)


def attention_weights(query, key, mask=None, scale=None):
    """Scaled dot-product attention weights.

    Args:
        query: `(B, T, N, H)`.
        key: `(B, S, N, H)`.
        mask: boolean, broadcastable to `(B, T, S)`.
        scale: factor applied to the scores; `1 / sqrt(H)` by default.

    Returns:
        `(B, N, T, S)` weights that sum to one over `S` on unmasked rows.
    """
    if scale is None:
        scale = 1.0 / float(query.shape[-1]) ** 0.5
    query = query * ops.cast(scale, query.dtype)
    scores = ops.einsum("btnh,bsnh->bnts", query, key)  # (B, N, T, S)
    if mask is not None:
        mask = ops.expand_dims(mask, 1)  # (B, 1, T, S)
    return masked_softmax(scores, mask)


def scaled_dot_product_attention(
    query,
    key,
    value,
    mask=None,
    causal=False,
    scale=None,
    return_attention_scores=False,
):
    """softmax(Q Kᵀ / √H + mask) V, for one or many heads.

    Args:
        query: `(B, T, N, H)`, or `(B, T, H)` for a single head.
        key: `(B, S, N, H)`, or `(B, S, H)`.
        value: `(B, S, N, Hv)`, or `(B, S, Hv)`.
        mask: boolean, `(B, T, S)` or `(B, S)` (padding of the keys); True
            means "may attend".
        causal: also apply a causal mask (query `i` sees keys `j <= i`,
            aligned at the end when `T != S`).
        scale: score scale, `1 / sqrt(H)` by default.
        return_attention_scores: also return the `(B, N, T, S)` weights
            (`(B, T, S)` for rank-3 inputs).

    Returns:
        The attended values, shaped like `query` with `Hv` as last axis, and
        the weights if requested. Rows whose keys are all masked are zeros.

    Example:

    >>> import numpy as np
    >>> from keras_attn.layers import scaled_dot_product_attention
    >>> q = np.random.rand(2, 3, 8).astype("float32")
    >>> kv = np.random.rand(2, 5, 8).astype("float32")
    >>> out, w = scaled_dot_product_attention(
    ...     q, kv, kv, mask=np.array([[1, 1, 1, 0, 0]] * 2, bool),
    ...     return_attention_scores=True)
    >>> tuple(out.shape), tuple(w.shape)
    ((2, 3, 8), (2, 3, 5))
    """
    query, key, value = (ops.convert_to_tensor(x) for x in (query, key, value))
    single_head = len(query.shape) == 3
    if len(query.shape) not in (3, 4):
        raise ValueError(
            "`query` must be (B, T, H) or (B, T, N, H); received shape "
            f"{tuple(query.shape)}."
        )
    if len(key.shape) != len(query.shape) or len(value.shape) != len(query.shape):
        raise ValueError(
            "`query`, `key` and `value` must have the same rank; received "
            f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}."
        )
    if (
        query.shape[-1] is not None
        and key.shape[-1] is not None
        and query.shape[-1] != key.shape[-1]
    ):
        raise ValueError(
            "`query` and `key` must have the same last dimension; received "
            f"query {tuple(query.shape)} and key {tuple(key.shape)}."
        )
    if single_head:
        query, key, value = (ops.expand_dims(x, 2) for x in (query, key, value))
    mask = compute_attention_mask(query, key, attention_mask=mask, causal=causal)
    if return_attention_scores:
        weights = attention_weights(query, key, mask, scale)
        output = ops.einsum("bnts,bsnh->btnh", weights, value)
    else:
        weights = None
        output = fused_attention(query, key, value, mask, scale)
    if single_head:
        output = ops.squeeze(output, 2)
        weights = None if weights is None else ops.squeeze(weights, 1)
    return (output, weights) if return_attention_scores else output


def fused_attention(query, key, value, mask=None, scale=None):
    """`keras.ops.dot_product_attention`, with fully masked rows set to zero.

    The backend op is the fast path (cuDNN / flash kernels where they exist),
    but it turns a fully masked row into the mean of the values; multiplying
    by "any key visible" restores the package-wide "zeros, never NaN or junk"
    rule exactly.
    """
    if mask is None:
        return ops.dot_product_attention(query, key, value, scale=scale)
    mask4 = ops.expand_dims(mask, 1)  # (B, 1, T, S)
    output = ops.dot_product_attention(
        query, key, value, mask=mask4, scale=scale
    )  # (B, T, N, H)
    visible = ops.any(mask, axis=-1)  # (B, T)
    visible = ops.cast(visible[:, :, None, None], output.dtype)  # (B, T, 1, 1)
    return output * visible
