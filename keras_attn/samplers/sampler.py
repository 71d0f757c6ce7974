import keras
from keras import ops

from keras_attn.checks import check_number
from keras_attn.saving import register


def sample_from_probabilities(probabilities, uniform):
    """Inverse-CDF sampling: one draw per row from `(B, C)` probabilities.

    Row `b` picks the first class whose cumulative probability exceeds
    `uniform[b] * total`, so a class of probability 0 is never picked and
    one uniform number per row is all the randomness a draw needs (which
    lets a decoding loop take its random numbers from a table drawn once).

    Args:
        probabilities: `(B, C)` non-negative, not necessarily normalized.
        uniform: `(B,)` numbers in `[0, 1)`.

    Returns:
        `(B,)` int32 class indices.
    """
    cumulative = ops.cumsum(ops.cast(probabilities, "float32"), axis=-1)  # (B, C)
    threshold = ops.cast(uniform, "float32") * cumulative[:, -1]  # (B,)
    below = ops.cast(cumulative <= threshold[:, None], "int32")  # (B, C)
    index = ops.sum(below, axis=-1)  # (B,)
    return ops.minimum(index, ops.shape(probabilities)[-1] - 1)


@register
class Sampler:
    """Base of the token samplers: turns `(B, V)` logits into `(B,)` ids.

    A sampler divides the logits by `temperature` and picks one token per
    row; subclasses say how in `sample`. The random part of a draw is one
    uniform number per row: `next_token(logits, uniform)` takes them as a
    tensor, so a compiled decoding loop can slice them from a table drawn
    once per call (`GPTCausalLM.generate` does), with no random state in
    the loop; `__call__(logits, seed)` draws them with `keras.random`.
    `temperature=0` means greedy decoding (argmax).

    The base class samples from the whole softmax distribution.

    Args:
        temperature: float >= 0; below 1 sharpens the distribution, above
            1 flattens it, 0 picks the most likely token.

    Call arguments:
        logits: `(B, V)` scores of the next token.
        seed: int, `keras.random.SeedGenerator` or None (see
            `keras.random.uniform`).

    Returns:
        `(B,)` int32 token ids.

    Example:

    >>> import numpy as np
    >>> from keras_attn.samplers import Sampler
    >>> logits = np.log(np.array([[0.0, 1.0, 0.0]]) + 1e-9)
    >>> [int(t) for t in Sampler()(logits, seed=1)]
    [1]
    """

    def __init__(self, temperature=1.0):
        # NaN or inf would make every logit NaN (a row of padding ids).
        self.temperature = check_number(temperature, "temperature", low=0)

    def __call__(self, logits, seed=None):
        logits = ops.convert_to_tensor(logits)
        uniform = keras.random.uniform(ops.shape(logits)[:1], seed=seed)
        return self.next_token(logits, uniform)

    def next_token(self, logits, uniform):
        """`(B, V)` logits and `(B,)` uniforms in [0, 1) -> `(B,)` int32 ids."""
        logits = ops.cast(logits, "float32")
        if self.temperature == 0.0:
            return ops.cast(ops.argmax(logits, axis=-1), "int32")
        return ops.cast(self.sample(logits / self.temperature, uniform), "int32")

    def sample(self, logits, uniform):
        """Pick `(B,)` ids from temperature-scaled float32 logits."""
        return sample_from_probabilities(ops.softmax(logits, axis=-1), uniform)

    def get_config(self):
        return {"temperature": self.temperature}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
