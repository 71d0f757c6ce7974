"""Short NumPy references, written from the papers, not from keras_attn."""

import numpy as np


def softmax(x, mask=None):
    """Softmax over the last axis; masked positions get 0, all-masked rows 0."""
    x = np.asarray(x, np.float64)
    if mask is not None:
        x = np.where(mask, x, -np.inf)
    peak = np.max(x, axis=-1, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    e = np.exp(x - peak)
    total = e.sum(-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def dot_product_attention(q, k, v, mask=None):
    """q (B, T, H), k (B, S, H), v (B, S, Hv), mask (B, T, S) -> out, weights."""
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    weights = softmax(scores, mask)
    return weights @ v, weights


def multi_head_attention(
    query, value, wq, bq, wk, bk, wv, bv, wo, bo, heads, mask=None
):
    """Projections as (D, N*H) matrices; returns (B, T, Do), (B, N, T, S)."""

    def split(x):  # (B, L, N*H) -> (B, N, L, H)
        b, n = x.shape[0], x.shape[1]
        return x.reshape(b, n, heads, -1).transpose(0, 2, 1, 3)

    q, k, v = split(query @ wq + bq), split(value @ wk + bk), split(value @ wv + bv)
    m = None if mask is None else mask[:, None]
    out, w = dot_product_attention(q, k, v, m)
    b, _, t, _ = out.shape
    out = out.transpose(0, 2, 1, 3).reshape(b, t, -1)
    return out @ wo + bo, w


def bahdanau(query, keys, wq, bq, wk, v, mask=None):
    """query (B, T, Dq), keys (B, S, Dk) -> context, weights (Bahdanau 2015)."""
    hidden = np.tanh((query @ wq + bq)[:, :, None, :] + (keys @ wk)[:, None])
    scores = (hidden @ v)[..., 0]  # (B, T, S)
    m = None if mask is None else mask[:, None, :]
    weights = softmax(scores, m)
    return weights @ keys, weights


def luong(query, keys, w=None, mask=None):
    """'dot' (w None) or 'general' scores: q·k or q·(W k)."""
    projected = keys if w is None else keys @ w
    scores = query @ np.swapaxes(projected, -1, -2)
    m = None if mask is None else mask[:, None, :]
    weights = softmax(scores, m)
    return weights @ keys, weights


def sinusoidal_positions(length, width, max_wavelength=10000):
    """Vaswani et al. 2017, section 3.5, with sin on even and cos on odd."""
    pe = np.zeros((length, width))
    for pos in range(length):
        for i in range(0, width, 2):
            angle = pos / max_wavelength ** (i / width)
            pe[pos, i] = np.sin(angle)
            if i + 1 < width:
                pe[pos, i + 1] = np.cos(angle)
    return pe
