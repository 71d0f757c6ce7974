"""Token samplers for autoregressive generation (`GPTCausalLM.generate`)."""

import keras

from keras_attn.samplers.greedy_sampler import GreedySampler
from keras_attn.samplers.sampler import Sampler
from keras_attn.samplers.sampler import sample_from_probabilities
from keras_attn.samplers.top_k_sampler import TopKSampler
from keras_attn.samplers.top_p_sampler import TopPSampler
from keras_attn.samplers.tunable_sampler import TunableSampler

_NAMES = {
    "greedy": GreedySampler,
    "top_k": TopKSampler,
    "top_p": TopPSampler,
    "tunable": TunableSampler,
}


def serialize(sampler):
    """A sampler as a Keras-serializable dict."""
    return keras.saving.serialize_keras_object(sampler)


def get(identifier):
    """A sampler from a name (`"greedy"`, `"top_k"`, `"top_p"`, `"tunable"`,
    with default arguments), a `serialize` dict, or a `Sampler` (returned as is)."""
    if isinstance(identifier, Sampler):
        return identifier
    if isinstance(identifier, str) and identifier in _NAMES:
        return _NAMES[identifier]()
    if isinstance(identifier, dict):
        sampler = keras.saving.deserialize_keras_object(identifier)
        if isinstance(sampler, Sampler):
            return sampler
    raise ValueError(
        f"Expected a sampler name in {sorted(_NAMES)}, a serialized sampler "
        f"or a `Sampler` instance; received {identifier!r}."
    )


__all__ = [
    "GreedySampler",
    "Sampler",
    "TopKSampler",
    "TopPSampler",
    "TunableSampler",
    "get",
    "sample_from_probabilities",
    "serialize",
]
