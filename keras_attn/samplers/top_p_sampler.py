from keras import ops

from keras_attn.checks import check_number
from keras_attn.samplers.sampler import Sampler
from keras_attn.samplers.sampler import sample_from_probabilities
from keras_attn.saving import register


@register
class TopPSampler(Sampler):
    """Nucleus sampling: the smallest set of tokens holding probability `p`.

    After dividing the logits by `temperature`, tokens are sorted by
    probability and kept while the probability of the tokens before them
    is below `p` (so the most likely token is always kept); the nucleus is
    renormalized and sampled.

    Args:
        p: probability mass of the nucleus, in (0, 1].
        temperature: see `Sampler`.

    Call arguments:
        logits: `(B, V)` scores of the next token.
        seed: int, `keras.random.SeedGenerator` or None.

    Returns:
        `(B,)` int32 token ids.

    Example:

    >>> import numpy as np
    >>> from keras_attn.samplers import TopPSampler
    >>> logits = np.log(np.array([[0.7, 0.2, 0.06, 0.04]]))
    >>> int(TopPSampler(p=0.8)(logits, seed=0)[0]) in (0, 1)
    True

    References:
        Holtzman et al., "The Curious Case of Neural Text Degeneration",
        ICLR 2020.
    """

    def __init__(self, p=0.9, temperature=1.0):
        super().__init__(temperature=temperature)
        self.p = check_number(p, "p", low=0, high=1, low_open=True)

    def sample(self, logits, uniform):
        values, indices = ops.top_k(logits, logits.shape[-1])  # (B, V) sorted
        probabilities = ops.softmax(values, axis=-1)  # (B, V)
        mass_before = ops.cumsum(probabilities, axis=-1) - probabilities
        nucleus = ops.where(mass_before < self.p, probabilities, 0.0)  # (B, V)
        choice = sample_from_probabilities(nucleus, uniform)
        return ops.take_along_axis(indices, choice[:, None], axis=-1)[:, 0]

    def get_config(self):
        return {"p": self.p, **super().get_config()}
