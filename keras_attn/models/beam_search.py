"""Beam search over any cached decoding step, in `keras.ops` only.

It runs inside a compiled function (`ops.fori_loop`), so the number of steps
is fixed (`max_length`) and finished beams are extended with padding (id 0)
at no cost; unfinished beams never produce padding. Greedy decoding is the
special case `beam_size=1`.
"""

import keras
from keras import ops

_DEAD = -1e9  # Score of beams that must never win (finite: no inf - inf).


def beam_search(
    step_fn,
    state,
    batch_size,
    beam_size,
    max_length,
    start_id,
    end_id,
    length_penalty=1.0,
):
    """Decode `max_length` tokens, keeping the `beam_size` best prefixes.

    Shapes: B batch, K beams, V vocabulary, L `max_length`. Every tensor of
    the decoding state has `B * K` rows, beam-major within each batch row
    (row `b * K + k`), and is reordered with the beams at each step.

    Args:
        step_fn: `step_fn(token, index, state) -> (logits, state)`, with
            `token` `(B * K,)` the last ids, `index` the step, `logits`
            `(B * K, V)`.
        state: nested structure of `(B * K, ...)` tensors (caches, and any
            history the caller wants reordered with the beams, e.g.
            attention weights written at `index`).
        batch_size: B.
        beam_size: K; 1 is greedy decoding.
        max_length: L, the number of steps.
        start_id, end_id: first input token; the token that ends a beam.
        length_penalty: the final ranking divides a beam's summed
            log-probability by `length ** length_penalty` (0: no
            normalisation, which favours short outputs).

    Returns:
        `(ids, state)`: `(B, L)` ids of the best beam (0 after `end_id`) and
        the state rows of that beam (`(B, ...)`).
    """
    rows = batch_size * beam_size
    token = ops.full((rows,), start_id, "int32")
    ids = ops.zeros((rows, max_length), "int32")
    # Only the first beam of each row is alive at the start: the others
    # would duplicate it.
    scores = ops.tile(
        ops.convert_to_tensor([[0.0] + [_DEAD] * (beam_size - 1)]), (batch_size, 1)
    )  # (B, K)
    finished = ops.zeros((rows,), "bool")
    lengths = ops.zeros((rows,), "float32")
    batch_offsets = ops.arange(batch_size, dtype="int32")[:, None] * beam_size

    def reorder(x, rows_index):
        return ops.take(x, rows_index, axis=0)

    def body(index, carry):
        token, ids, scores, finished, lengths, state = carry
        logits, state = step_fn(token, index, state)
        log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        vocabulary_size = ops.shape(log_probs)[-1]
        # A finished beam may only continue with padding, at no cost; an
        # unfinished one never produces padding.
        is_pad = ops.arange(vocabulary_size) == 0  # (V,)
        pad_only = ops.where(is_pad, 0.0, _DEAD)
        log_probs = ops.where(is_pad[None, :], _DEAD, log_probs)
        log_probs = ops.where(finished[:, None], pad_only[None, :], log_probs)
        candidates = ops.reshape(
            ops.reshape(scores, (rows, 1)) + log_probs, (batch_size, -1)
        )  # (B, K * V)
        scores, flat_choice = ops.top_k(candidates, beam_size)  # (B, K)
        flat_choice = ops.cast(flat_choice, "int32")
        parent = flat_choice // vocabulary_size  # (B, K)
        token = ops.reshape(flat_choice % vocabulary_size, (rows,))  # (B * K,)
        rows_index = ops.reshape(batch_offsets + parent, (rows,))  # (B * K,)

        was_finished = reorder(finished, rows_index)
        ids = ops.slice_update(reorder(ids, rows_index), [0, index], token[:, None])
        lengths = reorder(lengths, rows_index) + ops.cast(
            ops.logical_not(was_finished), "float32"
        )
        finished = ops.logical_or(was_finished, token == end_id)
        state = keras.tree.map_structure(lambda x: reorder(x, rows_index), state)
        return token, ids, scores, finished, lengths, state

    carry = (token, ids, scores, finished, lengths, state)
    _, ids, scores, _, lengths, state = ops.fori_loop(0, max_length, body, carry)

    lengths = ops.reshape(lengths, (batch_size, beam_size))
    normalized = scores / ops.power(ops.maximum(lengths, 1.0), length_penalty)
    best = ops.reshape(
        batch_offsets[:, 0] + ops.cast(ops.argmax(normalized, axis=-1), "int32"),
        (batch_size,),
    )  # (B,)
    state = keras.tree.map_structure(lambda x: reorder(x, best), state)
    return reorder(ids, best), state
