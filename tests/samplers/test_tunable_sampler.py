import numpy as np
import pytest

from keras_attn import samplers
from keras_attn.samplers import TunableSampler
from tests.samplers.test_samplers import DRAWS
from tests.samplers.test_samplers import LOGITS
from tests.samplers.test_samplers import check_frequencies
from tests.samplers.test_samplers import reference_top_k
from tests.samplers.test_samplers import reference_top_p
from tests.samplers.test_samplers import softmax
from tests.test_case import to_numpy


def reference_probabilities(logits, temperature, top_k, top_p):
    """The distribution `TunableSampler` draws from, over tokens sorted from
    most to least likely, written out with a Python loop; plus that order."""
    order = np.argsort(-logits, kind="stable")
    if temperature == 0:
        probabilities = np.zeros(len(logits))
        probabilities[0] = 1.0
        return probabilities, order
    probabilities = softmax(logits[order] / temperature)
    if top_k:
        probabilities[top_k:] = 0.0
    probabilities /= probabilities.sum()
    if top_p < 1:
        mass = 0.0
        for i, p in enumerate(probabilities):
            if mass >= top_p:
                probabilities[i] = 0.0
            mass += p
        probabilities /= probabilities.sum()
    return probabilities, order


def reference_token(logits, uniform, temperature, top_k, top_p):
    """Inverse CDF over the sorted reference distribution."""
    probabilities, order = reference_probabilities(logits, temperature, top_k, top_p)
    cumulative = np.cumsum(probabilities)
    index = min(int(np.sum(cumulative <= uniform * cumulative[-1])), len(order) - 1)
    return order[index]


# Per-row settings: (temperature, top_k, top_p).
SETTINGS = [
    (1.0, 0, 1.0),
    (0.7, 3, 1.0),
    (1.5, 0, 0.8),
    (1.0, 4, 0.6),
    (0.0, 5, 0.5),  # temperature 0: greedy whatever top_k and top_p say
    (2.0, 1, 1.0),  # top_k 1: greedy too
    (0.5, 0, 1e-6),  # a tiny nucleus keeps only the most likely token
    (1.0, 100, 1.0),  # top_k above the vocabulary: no filter
]


def test_per_row_settings_match_the_reference_token_by_token():
    rng = np.random.default_rng(0)
    rows = 400
    logits = rng.normal(size=(rows, 30)).astype("float32") * 2
    uniform = rng.random(rows, dtype="float32")
    settings = [SETTINGS[i % len(SETTINGS)] for i in range(rows)]
    temperature, top_k, top_p = (np.array(column) for column in zip(*settings))
    tokens = to_numpy(
        TunableSampler().next_token(
            logits,
            uniform,
            temperature=temperature.astype("float32"),
            top_k=top_k.astype("int32"),
            top_p=top_p.astype("float32"),
        )
    )
    expected = [
        reference_token(row, u, *setting)
        for row, u, setting in zip(logits, uniform, settings)
    ]
    np.testing.assert_array_equal(tokens, expected)


def test_constructor_settings_are_the_defaults_and_scalars_broadcast():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(64, 20)).astype("float32")
    uniform = rng.random(64, dtype="float32")
    sampler = TunableSampler(temperature=0.8, top_k=6, top_p=0.9)
    from_config = to_numpy(sampler.next_token(logits, uniform))
    scalars = to_numpy(
        TunableSampler().next_token(
            logits, uniform, temperature=0.8, top_k=6, top_p=0.9
        )
    )
    expected = [reference_token(row, u, 0.8, 6, 0.9) for row, u in zip(logits, uniform)]
    np.testing.assert_array_equal(from_config, expected)
    np.testing.assert_array_equal(scalars, expected)


@pytest.mark.parametrize(
    "temperature, top_k, top_p, expected",
    [
        (0.7, 0, 1.0, softmax(LOGITS / 0.7)),
        (1.0, 3, 1.0, reference_top_k(LOGITS, 3, 1.0)),
        (1.0, 0, 0.8, reference_top_p(LOGITS, 0.8, 1.0)),
    ],
)
def test_frequencies_match_the_single_filter_samplers(
    temperature, top_k, top_p, expected
):
    rows = np.repeat(LOGITS[None].astype("float32"), DRAWS, axis=0)
    uniform = np.random.default_rng(2).random(DRAWS, dtype="float32")
    sampler = TunableSampler(temperature, top_k, top_p)
    check_frequencies(to_numpy(sampler.next_token(rows, uniform)), expected)


def test_serialization_and_get():
    sampler = TunableSampler(temperature=0.5, top_k=7, top_p=0.95)
    restored = samplers.get(samplers.serialize(sampler))
    assert type(restored) is TunableSampler
    assert restored.get_config() == {"temperature": 0.5, "top_k": 7, "top_p": 0.95}
    assert isinstance(samplers.get("tunable"), TunableSampler)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": -0.1}, "temperature"),
        ({"top_k": -1}, "`top_k` must be an integer >= 0"),
        ({"top_k": 2.5}, "`top_k` must be an integer >= 0"),
        ({"top_p": 0.0}, r"`top_p` must be a finite number in \(0, 1\]"),
        ({"top_p": 1.5}, r"`top_p` must be a finite number in \(0, 1\]"),
    ],
)
def test_bad_settings_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TunableSampler(**kwargs)
