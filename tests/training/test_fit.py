"""`training.fit`: Keras's `fit` with `BackupAndRestore`, and what it resumes.

Checked rather than assumed: after a crash, `training.BackupAndRestore` (as
Keras 3.15's callback does) restores the weights and optimizer of its last
backup and restarts the epoch it was in from the first batch. With
`save_freq="epoch"` that resumes exactly; with an integer `save_freq` the
batches of that epoch before the backup are trained on twice (`fit` does not
skip to the batch). `fit_distributed` resumes at the exact step
(tests/training/test_loop.py, test_processes.py). Damaged backups fall back
to the previous good one, with a warning.
"""

import json
import os
import shutil

import keras
import numpy as np
import pytest

from keras_attn import training
from tests.training import worker

pytestmark = pytest.mark.tf_only

STEPS = 8  # Batches per epoch: 256 dates / 32.


def newest_backup(folder):
    return sorted(n for n in os.listdir(folder) if n.startswith("backup-"))[-1]


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
        run(backup, "epoch", [worker.Crash(epoch=2, batch=3)])
    assert newest_backup(backup).startswith("backup-")

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
        run(backup, 3, [worker.Crash(epoch=1, batch=6)])
    saved = worker.build_model(tiny=True)
    saved.optimizer.build(saved.trainable_variables)
    saved.load_weights(os.path.join(backup, newest_backup(backup), "model.weights.h5"))
    backed_up = int(saved.optimizer.iterations.numpy())
    assert STEPS < backed_up < 2 * STEPS  # The backup is from inside epoch 1.

    model, history, steps = run(backup, 3)
    assert steps[0] == (1, 0)  # Epoch 1 again from its first batch...
    repeated = backed_up - STEPS  # ...so these batches are trained twice.
    assert int(model.optimizer.iterations.numpy()) == 3 * STEPS + repeated


# --- Damaged backups: fall back to the previous good one, or say why not ---


def backed_up_run(backup, epochs=2):
    """A finished 2-epoch run whose backups are kept: backup-1 and backup-2."""
    model = worker.build_model(tiny=True)
    callback = training.BackupAndRestore(backup, delete_checkpoint=False)
    model.fit(data(), epochs=epochs, callbacks=[callback], verbose=0)
    return model


def resume(backup, epochs=3):
    """The first epoch a restarted 3-epoch run trains."""
    model = worker.build_model(tiny=True)
    steps = worker.StepLog(backup)
    callback = training.BackupAndRestore(backup, delete_checkpoint=False)
    model.fit(data(), epochs=epochs, callbacks=[steps, callback], verbose=0)
    return steps.steps[0][0] if steps.steps else epochs


def damage(backup, how):
    folder = os.path.join(backup, newest_backup(backup))
    weights = os.path.join(folder, "model.weights.h5")
    metadata = os.path.join(folder, "metadata.json")
    if how == "truncated":
        with open(weights, "r+b") as f:
            f.truncate(os.path.getsize(weights) // 2)
    elif how == "empty metadata":
        open(metadata, "w").close()
    elif how == "flipped byte":
        with open(weights, "r+b") as f:
            f.seek(os.path.getsize(weights) - 100)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0xFF]))
    else:  # an epoch of the wrong type or range
        epoch = {"epoch one": "one", "epoch 99": 99, "epoch -5": -5}[how]
        with open(metadata) as f:
            values = json.load(f)
        with open(metadata, "w") as f:
            json.dump(dict(values, epoch=epoch), f)


DAMAGES = [
    "truncated",
    "empty metadata",
    "flipped byte",
    "epoch one",
    "epoch 99",
    "epoch -5",
]


@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_newest_backup_falls_back_with_a_warning(tmp_path, how):
    backup = str(tmp_path / "backup")
    backed_up_run(backup)
    damage(backup, how)
    with pytest.warns(UserWarning, match=r"Skipped damaged backup\(s\)"):
        assert resume(backup) == 1  # From backup-1 (epoch 1), not epoch 2.


def test_only_damaged_backups_are_an_error(tmp_path):
    backup = str(tmp_path / "backup")
    backed_up_run(backup)
    damage(backup, "truncated")
    os.rename(  # the damaged one is now the only one
        os.path.join(backup, newest_backup(backup)), os.path.join(backup, "x")
    )
    for name in os.listdir(backup):
        if name.startswith("backup-"):
            shutil.rmtree(os.path.join(backup, name))
    os.rename(os.path.join(backup, "x"), os.path.join(backup, "backup-000000009"))
    with pytest.raises(ValueError, match="No usable backup .* checksum"):
        resume(backup)


def test_weights_of_another_model_are_refused(tmp_path):
    backup = str(tmp_path / "backup")
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    other.compile(optimizer="adam", loss="mse")
    x = np.ones((4, 3), "float32")
    other.fit(
        x,
        x[:, :2],
        callbacks=[training.BackupAndRestore(backup, delete_checkpoint=False)],
        verbose=0,
    )
    with pytest.raises(ValueError, match="does not fit this model"):
        resume(backup)


def test_incomplete_backup_of_a_killed_write_is_ignored_and_removed(tmp_path):
    backup = str(tmp_path / "backup")
    backed_up_run(backup)
    incomplete = os.path.join(backup, ".incomplete-abc")
    os.makedirs(incomplete)
    open(os.path.join(incomplete, "model.weights.h5"), "wb").close()
    assert resume(backup) == 2
    assert not os.path.exists(incomplete)
