import keras
import numpy as np
import pytest

from keras_attn import samplers
from keras_attn.samplers import GreedySampler
from keras_attn.samplers import Sampler
from keras_attn.samplers import TopKSampler
from keras_attn.samplers import TopPSampler
from keras_attn.samplers import sample_from_probabilities
from tests.test_case import to_numpy

VOCAB = 8
DRAWS = 20000
LOGITS = np.log(np.array([0.30, 0.22, 0.15, 0.12, 0.09, 0.06, 0.04, 0.02]))


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def draw(sampler, logits=LOGITS, n=DRAWS, seed=0):
    """`n` draws from one row of logits, via `next_token` with NumPy uniforms."""
    rows = np.repeat(logits[None].astype("float32"), n, axis=0)
    uniform = np.random.default_rng(seed).random(n, dtype="float32")
    return to_numpy(sampler.next_token(rows, uniform))


def check_frequencies(tokens, expected):
    """Empirical frequencies within 5 binomial standard deviations."""
    counts = np.bincount(tokens, minlength=VOCAB) / len(tokens)
    bound = 5 * np.sqrt(expected * (1 - expected) / len(tokens)) + 1e-9
    np.testing.assert_array_less(np.abs(counts - expected), bound + 1e-12)


def reference_top_k(logits, k, temperature):
    keep = np.argsort(logits)[-k:]
    probs = np.zeros_like(logits)
    probs[keep] = softmax(logits[keep] / temperature)
    return probs


def reference_top_p(logits, p, temperature):
    probs = softmax(logits / temperature)
    order = np.argsort(-probs)
    before = np.cumsum(probs[order]) - probs[order]
    nucleus = np.zeros_like(probs)
    keep = order[before < p]
    nucleus[keep] = probs[keep] / probs[keep].sum()
    return nucleus


def test_greedy_is_argmax():
    logits = np.random.default_rng(0).normal(size=(16, 50)).astype("float32")
    np.testing.assert_array_equal(
        to_numpy(GreedySampler()(logits)), np.argmax(logits, -1)
    )


def test_full_distribution_sampling():
    check_frequencies(draw(Sampler(temperature=0.7)), softmax(LOGITS / 0.7))


@pytest.mark.parametrize("k, temperature", [(1, 1.0), (3, 1.0), (5, 2.0)])
def test_top_k_stays_in_top_k_with_reference_frequencies(k, temperature):
    tokens = draw(TopKSampler(k=k, temperature=temperature))
    assert set(tokens) <= set(np.argsort(LOGITS)[-k:])
    check_frequencies(tokens, reference_top_k(LOGITS, k, temperature))


@pytest.mark.parametrize("p, temperature", [(0.5, 1.0), (0.8, 1.0), (0.9, 0.5)])
def test_top_p_stays_in_nucleus_with_reference_frequencies(p, temperature):
    shuffled = np.random.default_rng(1).permutation(LOGITS)  # order must not matter
    tokens = draw(TopPSampler(p=p, temperature=temperature), shuffled)
    expected = reference_top_p(shuffled, p, temperature)
    assert set(tokens) <= set(np.flatnonzero(expected))
    check_frequencies(tokens, expected)


@pytest.mark.parametrize(
    "sampler", [Sampler(1e-4), TopKSampler(4, 1e-4), TopPSampler(0.9, 1e-4)]
)
def test_temperature_to_zero_is_greedy(sampler):
    logits = np.random.default_rng(2).normal(size=(64, 30)).astype("float32")
    np.testing.assert_array_equal(to_numpy(sampler(logits, seed=3)), logits.argmax(-1))
    exact = type(sampler).from_config({**sampler.get_config(), "temperature": 0})
    np.testing.assert_array_equal(to_numpy(exact(logits, seed=3)), logits.argmax(-1))


def test_same_seed_same_tokens():
    logits = np.random.default_rng(4).normal(size=(32, 30)).astype("float32")
    for sampler in (Sampler(), TopKSampler(5), TopPSampler(0.9)):
        a, b = to_numpy(sampler(logits, seed=5)), to_numpy(sampler(logits, seed=5))
        np.testing.assert_array_equal(a, b)
        assert (a != to_numpy(sampler(logits, seed=6))).any()
    generator = keras.random.SeedGenerator(7)
    assert to_numpy(TopKSampler(5)(logits, seed=generator)).shape == (32,)


def test_zero_probability_is_never_drawn():
    probs = np.array([[0.0, 0.5, 0.0, 0.5, 0.0]] * 5, "float32")
    uniform = np.array([0.0, 0.25, 0.4999, 0.5, 0.9999], "float32")
    np.testing.assert_array_equal(
        to_numpy(sample_from_probabilities(probs, uniform)), [1, 1, 1, 3, 3]
    )


def test_get_and_serialization_round_trip():
    assert isinstance(samplers.get("greedy"), GreedySampler)
    assert isinstance(samplers.get("top_k"), TopKSampler)
    assert isinstance(samplers.get("top_p"), TopPSampler)
    for sampler in (GreedySampler(), TopKSampler(7, 0.5), TopPSampler(0.7, 1.5)):
        assert samplers.get(sampler) is sampler
        restored = samplers.get(samplers.serialize(sampler))
        assert type(restored) is type(sampler)
        assert restored.get_config() == sampler.get_config()


def test_bad_arguments():
    with pytest.raises(ValueError, match="sampler name"):
        samplers.get("beam")
    with pytest.raises(ValueError, match="temperature"):
        Sampler(temperature=-1)
    with pytest.raises(ValueError, match="`k`"):
        TopKSampler(k=0)
    with pytest.raises(ValueError, match="`p`"):
        TopPSampler(p=0.0)
