from keras import ops

from keras_attn.samplers.sampler import Sampler
from keras_attn.samplers.sampler import sample_from_probabilities
from keras_attn.saving import register


@register
class TopKSampler(Sampler):
    """Sample among the `k` most likely tokens (Fan et al. 2018).

    The logits outside the `k` largest are dropped; the rest are
    renormalized (after dividing by `temperature`) and sampled.

    Args:
        k: how many candidates to keep, >= 1 (capped at the vocabulary).
        temperature: see `Sampler`.

    Call arguments:
        logits: `(B, V)` scores of the next token.
        seed: int, `keras.random.SeedGenerator` or None.

    Returns:
        `(B,)` int32 token ids.

    Example:

    >>> import numpy as np
    >>> from keras_attn.samplers import TopKSampler
    >>> logits = np.array([[5.0, 0.0, 4.0, -1.0]])
    >>> int(TopKSampler(k=2, temperature=0.5)(logits, seed=3)[0]) in (0, 2)
    True

    References:
        Fan et al., "Hierarchical Neural Story Generation", ACL 2018.
    """

    def __init__(self, k=10, temperature=1.0):
        super().__init__(temperature=temperature)
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"`k` must be an integer >= 1; received {k!r}.")
        self.k = k

    def sample(self, logits, uniform):
        k = min(self.k, logits.shape[-1])
        values, indices = ops.top_k(logits, k)  # (B, k), sorted descending
        choice = sample_from_probabilities(ops.softmax(values, axis=-1), uniform)
        return ops.take_along_axis(indices, choice[:, None], axis=-1)[:, 0]

    def get_config(self):
        return {"k": self.k, **super().get_config()}
