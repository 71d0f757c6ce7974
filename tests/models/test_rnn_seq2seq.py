import os

import keras
import numpy as np
import pytest

from keras_attn.models import RNNSeq2Seq
from tests import references
from tests.test_case import assert_close
from tests.test_case import to_numpy

SOURCE = np.array([[5, 6, 7, 8, 0, 0], [9, 10, 11, 0, 0, 0]], "int32")
TARGET_IN = np.array([[2, 4, 5, 6], [2, 7, 8, 9]], "int32")
VARIANTS = [
    {"attention": "bahdanau"},
    {"attention": "dot", "cell": "lstm"},
    {"attention": "general", "bidirectional": True, "num_layers": 2},
    {"attention": None},
]


def _model(**kwargs):
    return RNNSeq2Seq(vocabulary_size=16, embedding_dim=8, hidden_dim=12, **kwargs)


@pytest.mark.parametrize("kwargs", VARIANTS)
def test_forward_config_and_keras_round_trip(kwargs, tmp_path):
    model = _model(**kwargs)
    inputs = {"source": SOURCE, "target_in": TARGET_IN}
    logits = to_numpy(model(inputs))
    assert logits.shape == (2, 4, 16)
    config = model.get_config()
    assert RNNSeq2Seq.from_config(config).get_config() == config
    path = os.path.join(tmp_path, "model.keras")
    model.generate(SOURCE, 5)  # A built decoder must not disturb saving.
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, RNNSeq2Seq)
    assert_close(loaded(inputs), logits)
    for a, b in zip(loaded.generate(SOURCE, 5), model.generate(SOURCE, 5)):
        assert_close(a, b)


def forward(model):
    """`(source, target) -> (B, T, V)` logits of teacher-forced passes."""
    return lambda source, target: to_numpy(
        model({"source": source, "target_in": target})
    )


@pytest.mark.parametrize("kwargs", VARIANTS)
def test_greedy_steps_equal_teacher_forced_passes(kwargs):
    """The single-step decoder (RNN cells) agrees with the sequence decoder."""
    model = _model(**kwargs)
    ids, weights = model.generate(SOURCE, max_length=6)
    expected = references.greedy_decode(forward(model), SOURCE, 6, 2, 3)
    np.testing.assert_array_equal(ids, expected)
    if kwargs["attention"] is None:
        np.testing.assert_array_equal(weights, 0.0)
    else:
        # Rows sum to one over real source characters, zero over padding.
        np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
        np.testing.assert_array_equal(weights[0, :, 4:], 0.0)
        np.testing.assert_array_equal(weights[1, :, 3:], 0.0)


def _peaked_model(**kwargs):
    # Few classes and sharp logits, so beams end at different lengths.
    model = RNNSeq2Seq(
        vocabulary_size=6,
        embedding_dim=8,
        hidden_dim=12,
        start_id=1,
        end_id=2,
        **kwargs,
    )
    rng = np.random.default_rng(1)
    model.set_weights([w + rng.normal(0, 0.7, w.shape) for w in model.get_weights()])
    return model


# Both length penalties on one variant, the other attention variants once:
# the reference runs many eager passes (about 20 s a case on JAX).
BEAM_CASES = [(VARIANTS[0], 0.0), (VARIANTS[0], 1.0)]
BEAM_CASES += [(kwargs, 1.0) for kwargs in VARIANTS[1:3]]


@pytest.mark.parametrize("kwargs, length_penalty", BEAM_CASES)
def test_beam_search_equals_reference(kwargs, length_penalty):
    model = _peaked_model(**kwargs)
    source = np.array([[3, 4, 5, 0], [5, 5, 0, 0]], "int32")
    ids, weights = model.generate(
        source, max_length=4, beam_size=3, length_penalty=length_penalty
    )
    expected = references.beam_decode(
        forward(model), source, 4, 1, 2, 3, length_penalty
    )
    np.testing.assert_array_equal(ids, expected)
    # The weights are the teacher-forced decoder's along the chosen beam
    # (which reads padding after its end, as the loop does).
    target = np.concatenate([np.ones((2, 1), "int32"), ids[:, :-1]], 1)
    encoder_outputs, states, source_mask = model.encode(source)
    _, expected_weights = model.decode(target, encoder_outputs, source_mask, states)
    assert_close(weights, expected_weights)


def test_beam_size_one_is_greedy():
    model = _peaked_model()
    greedy, _ = model.generate(SOURCE % 6, max_length=5)
    beam, _ = model.generate(SOURCE % 6, max_length=5, beam_size=1, length_penalty=0.0)
    np.testing.assert_array_equal(greedy, beam)


def test_generation_compiles_once_per_setting():
    model = _model()
    for beam_size in (1, 2):
        model.generate(SOURCE, max_length=5, beam_size=beam_size)
        decoder = model.make_generate_function(5, beam_size)
        traces = decoder.trace_count
        for _ in range(3):
            model.generate(SOURCE[::-1], max_length=5, beam_size=beam_size)
        assert decoder.trace_count == traces


def test_fit_reduces_loss_on_a_copy_task():
    rng = np.random.default_rng(0)
    source = rng.integers(4, 16, size=(2048, 5)).astype("int32")
    target_out = np.concatenate([source, np.full((2048, 1), 3, "int32")], 1)
    target_in = np.concatenate([np.full((2048, 1), 2, "int32"), source], 1)
    model = _model()
    model.compile(
        keras.optimizers.Adam(1e-2),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(
        {"source": source, "target_in": target_in},
        target_out,
        epochs=6,
        batch_size=64,
        verbose=0,
    )
    losses = history.history["loss"]
    assert losses[-1] < 0.25 * losses[0], losses


@pytest.mark.parametrize(
    "kwargs, message",
    [({"cell": "rnn"}, "`cell`"), ({"attention": "concat"}, "`attention`")],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _model(**kwargs)
