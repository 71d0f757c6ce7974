from keras import ops

from keras_attn.checks import check_number
from keras_attn.samplers.sampler import Sampler
from keras_attn.samplers.sampler import sample_from_probabilities
from keras_attn.saving import register


@register
class TunableSampler(Sampler):
    """Temperature, top-k and top-p in one sampler, tunable per call and row.

    The settings given to the constructor are defaults; `next_token` also
    takes them as tensors, a scalar or one value per row, so one traced
    decoding loop serves every setting (the exported `generate` signature
    passes them in as serving inputs). Each row is sampled as follows:

    1. `temperature == 0`: greedy, the argmax (top-k and top-p are then
       irrelevant). Otherwise the logits are divided by `temperature`.
    2. `top_k >= 1` keeps the `k` most likely tokens; `top_k == 0` keeps all.
    3. Of what is left, renormalized, `top_p < 1` keeps the smallest set of
       most likely tokens holding probability `p` (a token is kept while the
       mass of the tokens before it is below `p`, so the most likely one
       always is); `top_p == 1` keeps all.
    4. One token is drawn from the renormalized survivors by inverse CDF over
       the tokens sorted from most to least likely, with one uniform number.

    With `top_k=0, top_p=1.0` this is plain sampling at `temperature`; with
    `top_p=1.0` it draws like `TopKSampler`, with `top_k=0` like
    `TopPSampler`.

    Args:
        temperature: float >= 0, 0 means greedy.
        top_k: int >= 0, 0 means no top-k filter.
        top_p: float in (0, 1], 1 means no nucleus filter.

    Call arguments:
        logits: `(B, V)` scores of the next token.
        seed: int, `keras.random.SeedGenerator` or None.

    Returns:
        `(B,)` int32 token ids.

    Example:

    >>> import numpy as np
    >>> from keras_attn.samplers import TunableSampler
    >>> logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]] * 3, "float32"))
    >>> sampler = TunableSampler(temperature=1.0, top_k=0, top_p=1.0)
    >>> uniform = np.array([0.9, 0.9, 0.9], "float32")
    >>> # Row 0 samples freely, row 1 keeps the top 2, row 2 is greedy.
    >>> ids = sampler.next_token(logits, uniform, temperature=[1.0, 1.0, 0.0],
    ...                          top_k=[0, 2, 0])
    >>> [int(i) for i in ids]
    [2, 1, 0]
    """

    def __init__(self, temperature=1.0, top_k=0, top_p=1.0):
        super().__init__(temperature=temperature)
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 0:
            raise ValueError(
                f"`top_k` must be an integer >= 0 (0: no top-k filter); "
                f"received {top_k!r}."
            )
        self.top_k = top_k
        self.top_p = check_number(top_p, "top_p", low=0, high=1, low_open=True)

    def next_token(self, logits, uniform, temperature=None, top_k=None, top_p=None):
        """`(B, V)` logits, `(B,)` uniforms in [0, 1) and optional settings
        (scalars or `(B,)` tensors; None uses the constructor's) -> `(B,)`
        int32 ids."""
        # B: batch, V: vocabulary.
        logits = ops.cast(logits, "float32")
        batch, vocabulary_size = ops.shape(logits)[0], ops.shape(logits)[1]

        def per_row(value, default, dtype):
            value = default if value is None else value
            return ops.broadcast_to(ops.cast(value, dtype), (batch,))

        temperature = per_row(temperature, self.temperature, "float32")  # (B,)
        top_k = per_row(top_k, self.top_k, "int32")  # (B,)
        top_p = per_row(top_p, self.top_p, "float32")  # (B,)

        greedy = temperature <= 0.0
        argmax = ops.cast(ops.argmax(logits, axis=-1), "int32")  # (B,)

        def sample():
            scaled = logits / ops.where(greedy, 1.0, temperature)[:, None]  # (B, V)
            values, indices = ops.top_k(scaled, vocabulary_size)  # (B, V) sorted
            rank = ops.arange(vocabulary_size, dtype="int32")[None, :]  # (1, V)
            keep = ops.where(top_k > 0, top_k, vocabulary_size)  # (B,)
            probabilities = ops.softmax(values, axis=-1)  # (B, V)
            probabilities = ops.where(rank < keep[:, None], probabilities, 0.0)
            probabilities = probabilities / ops.sum(probabilities, -1, keepdims=True)
            mass_before = ops.cumsum(probabilities, axis=-1) - probabilities  # (B, V)
            in_nucleus = (mass_before < top_p[:, None]) | (top_p[:, None] >= 1.0)
            probabilities = ops.where(in_nucleus, probabilities, 0.0)  # (B, V)
            choice = sample_from_probabilities(probabilities, uniform)  # (B,)
            sampled = ops.take_along_axis(indices, choice[:, None], axis=-1)[:, 0]
            return ops.cast(ops.where(greedy, argmax, sampled), "int32")

        # A batch that is all greedy skips the sort over the vocabulary
        # (the exported `generate` with temperature 0 ran 10% slower than
        # in-memory greedy decoding without this, docs/benchmarks.md).
        return ops.cond(ops.all(greedy), lambda: argmax, sample)

    def get_config(self):
        return {
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
        }
