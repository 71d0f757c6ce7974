"""`fit_distributed` in this process: Keras's `fit` is the reference."""

import json

import keras
import numpy as np
import pytest

from keras_attn import training
from tests.training import worker

pytestmark = pytest.mark.tf_only


def weights_of(model):
    return [np.asarray(w) for w in model.get_weights()]


def assert_same_weights(model, expected, atol=1e-6):
    for actual, wanted in zip(weights_of(model), expected):
        np.testing.assert_allclose(actual, wanted, atol=atol, rtol=0)


class StopAfter(keras.callbacks.Callback):
    """Stops training after `steps` batches, as a time budget would."""

    def __init__(self, steps):
        super().__init__()
        self.steps, self.seen = steps, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.steps:
            self.model.stop_training = True


def test_one_device_run_equals_keras_fit():
    # In order: `fit` iterates a finite dataset anew each epoch, the loop
    # repeats it, and a reshuffling dataset orders the two differently.
    train = worker.dataset(32, shuffle=False, tiny=True)
    validation = worker.dataset(64, seed=1, shuffle=False, tiny=True)
    reference = worker.build_model(tiny=True)
    expected = reference.fit(
        train, validation_data=validation, epochs=2, shuffle=False, verbose=0
    ).history
    model = worker.build_model(tiny=True)
    history = training.fit_distributed(
        model, train, epochs=2, validation_data=validation, verbose=0
    )
    assert sorted(history) == sorted(expected)
    for key, values in expected.items():
        np.testing.assert_allclose(history[key], values, rtol=1e-6, err_msg=key)
    assert_same_weights(model, weights_of(reference))
    assert int(model.optimizer.iterations.numpy()) == 2 * 8


def test_stopped_run_resumes_at_its_step_and_ends_like_an_unbroken_one(tmp_path):
    # Each run gets a fresh dataset, as a restarted process would.
    checkpoints = str(tmp_path / "run")

    def data(batch_size):
        return worker.dataset(batch_size, tiny=True)

    kwargs = dict(epochs=3, steps_per_epoch=5, verbose=0)
    unbroken = worker.build_model(tiny=True)
    expected = training.fit_distributed(unbroken, data(32), **kwargs)

    model = worker.build_model(tiny=True)
    stopped = training.fit_distributed(
        model,
        data(32),
        checkpoint_dir=checkpoints,
        save_freq=3,
        callbacks=[StopAfter(7)],  # Mid-epoch 1; saved at 3, 6 and on stop.
        **kwargs,
    )
    assert len(stopped["loss"]) == 2  # Epoch 0, and the part of epoch 1 run.
    assert stopped["loss"][0] == expected["loss"][0]

    model = worker.build_model(tiny=True)  # A new process would start from scratch.
    steps = worker.StepLog(str(tmp_path))
    history = training.fit_distributed(
        model, data(32), checkpoint_dir=checkpoints, callbacks=[steps], **kwargs
    )
    assert steps.steps[0] == (1, 2)  # Global step 7: the one after the stop.
    assert len(steps.steps) == 15 - 7
    assert history == expected  # Epoch 1's metrics were checkpointed too.
    assert int(model.optimizer.iterations.numpy()) == 15
    assert_same_weights(model, weights_of(unbroken))

    # A finished run's checkpoint: calling again trains nothing.
    again = worker.build_model(tiny=True)
    assert training.fit_distributed(
        again, data(32), checkpoint_dir=checkpoints, **kwargs
    )
    assert int(again.optimizer.iterations.numpy()) == 15
    assert_same_weights(again, weights_of(unbroken))


def test_mixed_float16_scales_the_loss():
    """A loss scale so large that float16 gradients overflow: the step is
    skipped and the scale halved; at Keras's default scale, steps apply."""
    training.set_precision("mixed_float16")
    model = worker.build_model(tiny=True)
    optimizer = model.optimizer
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    before = weights_of(model)
    optimizer.build(model.trainable_variables)
    optimizer.dynamic_scale.assign(2.0**40)
    data = worker.dataset(32, tiny=True)
    training.fit_distributed(model, data, steps_per_epoch=1, verbose=0)
    assert float(optimizer.dynamic_scale.numpy()) == 2.0**39
    assert_same_weights(model, before, atol=0)  # Overflow: nothing applied.

    model = worker.build_model()  # The attention model, in float16.
    before = weights_of(model)
    history = training.fit_distributed(
        model, worker.dataset(32), steps_per_epoch=3, verbose=0
    )
    assert int(model.optimizer.step_counter.numpy()) == 3  # 3 finite steps.
    assert np.isfinite(history["loss"][0])
    changed = [not np.allclose(a, b) for a, b in zip(weights_of(model), before)]
    assert all(changed)


def test_xla_compiled_steps_equal_plain_ones():
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((x, x.sum(1))).batch(16)
    results = []
    for jit_compile in (False, True):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile("adam", "mse", jit_compile=jit_compile)
        results.append(training.fit_distributed(model, data, epochs=2, verbose=0))
        results.append(weights_of(model))
    np.testing.assert_allclose(results[0]["loss"], results[2]["loss"], rtol=1e-5)
    for a, b in zip(results[1], results[3]):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_history_is_checkpointed_as_json(tmp_path):
    """The checkpoint holds the history: what a restarted job reports."""
    import tensorflow as tf

    model = worker.build_model(tiny=True)
    history = training.fit_distributed(
        model,
        worker.dataset(32, tiny=True),
        steps_per_epoch=2,
        epochs=2,
        checkpoint_dir=str(tmp_path),
        verbose=0,
    )
    reader = tf.train.load_checkpoint(str(tmp_path / "checkpoints"))
    names = [n for n, _ in tf.train.list_variables(str(tmp_path / "checkpoints"))]
    saved = reader.get_tensor(next(n for n in names if n.startswith("history")))
    assert json.loads(saved) == history
    step = reader.get_tensor(next(n for n in names if n.startswith("step")))
    assert step == 4


def test_bad_arguments_say_what_was_received():
    import tensorflow as tf

    data = worker.dataset(32)
    model = worker.build_model()
    with pytest.raises(TypeError, match="received tuple"):
        training.fit_distributed(model, (np.zeros(2), np.zeros(2)))
    with pytest.raises(ValueError, match="`save_freq`.*received 'step'"):
        training.fit_distributed(model, data, save_freq="step")
    with pytest.raises(ValueError, match="`epochs`.*received 0"):
        training.fit_distributed(model, data, epochs=0)
    with pytest.raises(ValueError, match="`steps_per_epoch` is required"):
        training.fit_distributed(model, data.repeat())
    with pytest.raises(ValueError, match="no optimizer"):
        training.fit_distributed(keras.Sequential([keras.layers.Dense(1)]), data)

    one_device = training.get_strategy("one_device")
    with pytest.raises(ValueError, match="built under _DefaultDistributionStrategy"):
        training.fit_distributed(model, data, strategy=one_device)
    with one_device.scope():
        outside = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    outside.compile("sgd", "mse")  # Metrics created outside the scope.
    x = tf.data.Dataset.from_tensor_slices((np.zeros((4, 4)), np.zeros(4))).batch(2)
    with pytest.raises(ValueError, match="created outside it: \\['loss/total'"):
        training.fit_distributed(outside, x, strategy=one_device)


# --- Damaged checkpoints: fall back, say so, clean up -----------------------


def stopped_run(checkpoints, stop_after):
    """A run stopped after `stop_after` steps, checkpointed every 2 steps."""
    model = worker.build_model(tiny=True)
    training.fit_distributed(
        model,
        worker.dataset(32, tiny=True),
        epochs=3,
        steps_per_epoch=5,
        checkpoint_dir=checkpoints,
        save_freq=2,
        callbacks=[StopAfter(stop_after)],
        verbose=0,
    )


def resumed_first_step(checkpoints):
    model = worker.build_model(tiny=True)
    steps = worker.StepLog(checkpoints)
    training.fit_distributed(
        model,
        worker.dataset(32, tiny=True),
        epochs=3,
        steps_per_epoch=5,
        checkpoint_dir=checkpoints,
        callbacks=[steps],
        verbose=0,
    )
    epoch, batch = steps.steps[0]
    return epoch * 5 + batch


@pytest.mark.parametrize("damage", ["truncate_data", "empty_index"])
def test_damaged_latest_checkpoint_falls_back_to_the_older_one(tmp_path, damage):
    checkpoints = str(tmp_path / "run")
    stopped_run(checkpoints, 6)  # Kept: ckpt-4 and ckpt-6.
    folder = tmp_path / "run" / "checkpoints"
    if damage == "truncate_data":
        data = next(folder.glob("ckpt-6.data-*"))
        data.write_bytes(data.read_bytes()[:10])
    else:
        (folder / "ckpt-6.index").write_bytes(b"")
    with pytest.warns(UserWarning, match=r"Skipped damaged checkpoint\(s\) \(ckpt-6"):
        assert resumed_first_step(checkpoints) == 4


def test_garbage_state_file_does_not_restart_from_step_zero(tmp_path):
    checkpoints = str(tmp_path / "run")
    stopped_run(checkpoints, 6)
    (tmp_path / "run" / "checkpoints" / "checkpoint").write_text("garbage {{{")
    with pytest.warns(UserWarning, match="state file .* is missing or damaged"):
        assert resumed_first_step(checkpoints) == 6


def test_leftover_temp_folders_are_removed(tmp_path):
    checkpoints = str(tmp_path / "run")
    stopped_run(checkpoints, 4)
    temp = tmp_path / "run" / "checkpoints" / "ckpt-5_temp"
    temp.mkdir()
    (temp / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"half")
    assert resumed_first_step(checkpoints) == 4
    assert not temp.exists()


def test_no_restorable_checkpoint_is_an_error(tmp_path):
    checkpoints = str(tmp_path / "run")
    stopped_run(checkpoints, 4)
    for index in (tmp_path / "run" / "checkpoints").glob("ckpt-*.index"):
        index.write_bytes(b"")
    with pytest.raises(ValueError, match="No checkpoint in .* can be restored"):
        resumed_first_step(checkpoints)
