import os

import keras
import numpy as np
import pytest

from keras_attn.models import RNNSeq2Seq
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


@pytest.mark.parametrize("kwargs", VARIANTS)
def test_greedy_steps_equal_teacher_forced_pass(kwargs):
    """The single-step decoder (RNN cells) agrees with the sequence decoder."""
    model = _model(**kwargs)
    ids, weights = model.generate(SOURCE, max_length=6)
    target_in = np.concatenate([np.full((2, 1), 2, "int32"), ids[:, :-1]], 1)
    logits = to_numpy(model({"source": SOURCE, "target_in": target_in}))
    for row in range(2):
        stop = list(ids[row]).index(3) + 1 if 3 in ids[row] else 6
        np.testing.assert_array_equal(ids[row, :stop], logits[row, :stop].argmax(-1))
        assert np.all(ids[row, stop:] == 0)
    if kwargs["attention"] is None:
        np.testing.assert_array_equal(weights, 0.0)
    else:
        # Rows sum to one over real source characters, zero over padding.
        np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
        np.testing.assert_array_equal(weights[0, :, 4:], 0.0)
        np.testing.assert_array_equal(weights[1, :, 3:], 0.0)


def test_generation_compiles_once():
    model = _model()
    model.generate(SOURCE, max_length=5)
    decoder = model.make_generate_function(5)
    traces = decoder.trace_count
    for _ in range(3):
        model.generate(SOURCE[::-1], max_length=5)
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
