"""`training.fit`: Keras's `fit` with `BackupAndRestore`, and what it resumes.

Checked rather than assumed: after a crash, Keras 3.15's `BackupAndRestore`
restores the weights and optimizer of its last backup and restarts the epoch
it was in from the first batch. With `save_freq="epoch"` that resumes
exactly; with an integer `save_freq` the batches of that epoch before the
backup are trained on twice (the backup records the batch, but `fit` does
not skip to it). `fit_distributed` resumes at the exact step
(tests/training/test_loop.py, test_processes.py).
"""

import os

import keras
import numpy as np
import pytest

from keras_attn import training
from tests.training import worker

pytestmark = pytest.mark.tf_only

STEPS = 8  # Batches per epoch: 256 dates / 32.


class Crash(keras.callbacks.Callback):
    """Raises after batch `batch` of epoch `epoch`, as a dying process."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at, self.epoch = (epoch, batch), 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise RuntimeError("crash")


def data():
    return worker.dataset(32, shuffle=False, tiny=True)  # Same batches each epoch.


def run(backup_dir, save_freq, callbacks=()):
    model = worker.build_model(tiny=True)
    steps = worker.StepLog(backup_dir)
    history = training.fit(
        model,
        data(),
        epochs=3,
        backup_dir=backup_dir,
        save_freq=save_freq,
        callbacks=[steps, *callbacks],
        verbose=0,
    )
    return model, history, steps.steps


def test_epoch_backups_resume_at_the_last_finished_epoch(tmp_path):
    unbroken, expected, _ = run(str(tmp_path / "unbroken"), "epoch")
    backup = str(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="crash"):
        run(backup, "epoch", [Crash(epoch=2, batch=3)])
    assert os.path.exists(os.path.join(backup, "latest.weights.h5"))

    model, history, steps = run(backup, "epoch")
    assert steps[0] == (2, 0) and len(steps) == STEPS  # Only epoch 2 again.
    assert history["loss"] == pytest.approx(expected["loss"][2:], rel=1e-6)
    assert int(model.optimizer.iterations.numpy()) == 3 * STEPS
    for a, b in zip(model.get_weights(), unbroken.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert not os.path.exists(backup)  # Deleted once training ended.


def test_batch_backups_restart_the_epoch_and_repeat_batches(tmp_path):
    backup = str(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="crash"):
        run(backup, 3, [Crash(epoch=1, batch=6)])
    saved = worker.build_model(tiny=True)
    saved.optimizer.build(saved.trainable_variables)
    saved.load_weights(os.path.join(backup, "latest.weights.h5"))
    backed_up = int(saved.optimizer.iterations.numpy())
    assert STEPS < backed_up < 2 * STEPS  # The backup is from inside epoch 1.

    model, history, steps = run(backup, 3)
    assert steps[0] == (1, 0)  # Epoch 1 again from its first batch...
    repeated = backed_up - STEPS  # ...so these batches are trained twice.
    assert int(model.optimizer.iterations.numpy()) == 3 * STEPS + repeated
