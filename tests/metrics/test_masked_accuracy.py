import keras
import numpy as np
import pytest

from keras_attn.metrics import MaskedAccuracy
from tests.test_case import to_numpy


def reference(y_true, y_pred, ignore_class, sample_weight=None):
    """NumPy: weighted mean of (argmax == label) over labels != ignore_class."""
    weight = np.ones(y_true.shape) if sample_weight is None else sample_weight
    weight = np.broadcast_to(
        weight.reshape(weight.shape + (1,) * (y_true.ndim - weight.ndim)),
        y_true.shape,
    )
    if ignore_class is not None:
        weight = weight * (y_true != ignore_class)
    right = y_pred.argmax(-1) == y_true
    return (right * weight).sum() / weight.sum()


@pytest.mark.parametrize("ignore_class", [0, -1, None])
def test_matches_numpy(ignore_class):
    rng = np.random.RandomState(0)
    y_true = rng.randint(-1, 4, (6, 7))
    y_pred = rng.normal(size=(6, 7, 4)).astype("float32")
    y_pred[..., 0] += 0.5  # some right answers on class 0, to be skipped
    metric = MaskedAccuracy(ignore_class=ignore_class)
    metric.update_state(y_true, y_pred)
    expected = reference(y_true, y_pred, ignore_class)
    np.testing.assert_allclose(to_numpy(metric.result()), expected, rtol=1e-6)
    if ignore_class is not None:  # The skipped label changes the answer.
        assert not np.isclose(expected, reference(y_true, y_pred, None))


def test_sample_weight_and_accumulation():
    rng = np.random.RandomState(1)
    metric = MaskedAccuracy(ignore_class=0)
    batches = []
    for _ in range(3):
        y_true = rng.randint(0, 5, (4, 3))
        y_pred = rng.normal(size=(4, 3, 5)).astype("float32")
        weight = rng.rand(4).astype("float32")  # per sequence
        metric.update_state(y_true, y_pred, sample_weight=weight)
        batches.append((y_true, y_pred, weight))
    y_true, y_pred, weight = (np.concatenate(x) for x in zip(*batches))
    expected = reference(y_true, y_pred, 0, weight)
    np.testing.assert_allclose(to_numpy(metric.result()), expected, rtol=1e-5)
    metric.reset_state()
    assert float(to_numpy(metric.result())) == 0.0


def test_labels_with_trailing_axis():
    metric = MaskedAccuracy(ignore_class=-1)
    y_pred = np.eye(3, dtype="float32")[[[0, 1, 2]]]  # predicts 0, 1, 2
    metric.update_state(np.array([[[0], [2], [-1]]]), y_pred)
    assert float(to_numpy(metric.result())) == 0.5
    with pytest.raises(ValueError, match="integer labels"):
        metric.update_state(np.zeros((1, 3, 3)), y_pred)


def test_nothing_counted_is_zero_not_nan():
    metric = MaskedAccuracy(ignore_class=0)
    metric.update_state(np.zeros((2, 3), "int32"), np.ones((2, 3, 4), "float32"))
    assert float(to_numpy(metric.result())) == 0.0


def test_config_round_trip_and_compile():
    metric = MaskedAccuracy(ignore_class=-1, name="tag_accuracy")
    restored = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert type(restored) is MaskedAccuracy
    assert restored.get_config() == metric.get_config()

    y_true = np.array([[1, 2, -1], [0, -1, -1]])
    y_pred = np.eye(3, dtype="float32")[[[1, 0, 2], [0, 0, 0]]]
    inputs = keras.Input((3, 3))
    model = keras.Model(inputs, keras.layers.Identity()(inputs))
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(ignore_class=-1),
        metrics=[metric],
    )
    logs = model.evaluate(y_pred, y_true, verbose=0, return_dict=True)
    assert logs["tag_accuracy"] == pytest.approx(2 / 3)
