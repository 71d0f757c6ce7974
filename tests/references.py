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


def greedy_decode(forward, source, max_length, start_id, end_id):
    """Greedy decoding by full, uncached forward passes:
    `forward(source, target) -> (B, T, V)` logits. Never emits padding (0)
    before `end_id`; pads after it."""
    batch = source.shape[0]
    target = np.full((batch, 1), start_id, "int32")
    done = np.zeros(batch, bool)
    out = np.zeros((batch, max_length), "int32")
    for i in range(max_length):
        logits = np.asarray(forward(source, target))[:, -1]
        token = np.where(done, 0, logits[:, 1:].argmax(-1) + 1)  # Never pad.
        out[:, i] = token
        done |= token == end_id
        target = np.concatenate([target, np.maximum(token, 1)[:, None]], 1)
    return out


def beam_decode(
    forward, source, max_length, start_id, end_id, beam_size, length_penalty
):
    """Beam search over explicit hypotheses and uncached forward passes
    (`forward` as for `greedy_decode`): the best beam of each source row by
    summed log-probability over `length ** length_penalty`, length counted
    through `end_id`."""
    results = []
    for row in source:
        beams = [((), 0.0, False)]  # (tokens, log-prob, finished)
        for _ in range(max_length):
            candidates = []
            for tokens, score, finished in beams:
                if finished:
                    candidates.append((tokens + (0,), score, True))
                    continue
                target = np.array([(start_id,) + tokens], "int32")
                logits = np.asarray(forward(row[None], target))[0, -1]
                log_probs = logits - np.log(np.exp(logits - logits.max()).sum())
                log_probs -= logits.max()
                for token, lp in enumerate(log_probs[1:], start=1):  # Never pad.
                    candidates.append((tokens + (token,), score + lp, token == end_id))
            candidates.sort(key=lambda c: -c[1])
            beams = candidates[:beam_size]

        def normalized(beam):
            tokens, score, _ = beam
            length = next(
                (i + 1 for i, t in enumerate(tokens) if t == end_id), len(tokens)
            )
            return score / length**length_penalty

        results.append(max(beams, key=normalized)[0])
    return np.array(results, "int32")
