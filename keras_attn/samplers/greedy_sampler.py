from keras import ops

from keras_attn.samplers.sampler import Sampler
from keras_attn.saving import register


@register
class GreedySampler(Sampler):
    """Always the most likely token (argmax); no randomness, no temperature.

    Call arguments:
        logits: `(B, V)` scores of the next token.
        seed: ignored.

    Returns:
        `(B,)` int32 token ids.

    Example:

    >>> import numpy as np
    >>> from keras_attn.samplers import GreedySampler
    >>> [int(t) for t in GreedySampler()(np.array([[0.1, 2.0, 0.3]]))]
    [1]
    """

    def __init__(self):
        super().__init__(temperature=0.0)

    def next_token(self, logits, uniform):
        return ops.cast(ops.argmax(ops.cast(logits, "float32"), axis=-1), "int32")

    def get_config(self):
        return {}
