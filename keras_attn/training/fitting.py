"""`fit`: `model.fit` with a strategy and a backup, whatever the strategy."""

import contextlib
import shutil
import sys

import keras

from keras_attn.training.backup_and_restore import BackupAndRestore
from keras_attn.training.loop import fit_distributed
from keras_attn.training.strategies import is_chief
from keras_attn.training.strategies import num_replicas


def fit(
    model,
    dataset,
    epochs=1,
    strategy=None,
    backup_dir=None,
    save_freq="epoch",
    validation_data=None,
    callbacks=None,
    verbose=1,
):
    """Train under `strategy` and survive restarts: the entry points' `fit`.

    With one replica (and with JAX) this is `model.fit` under
    `strategy.scope()` with `keras_attn.training.BackupAndRestore(backup_dir,
    save_freq)`: a run restarted after a crash restores the weights and
    optimizer of the last good backup (written atomically, so a crash
    while writing one cannot damage it) and goes on from the epoch it was
    in.
    Keras 3.15 restarts that epoch from its first batch, so with an integer
    `save_freq` the batches before the backup are trained on twice; with
    `"epoch"` (the default) the run resumes exactly at the last finished
    epoch.

    With several TensorFlow replicas this is `fit_distributed(...,
    checkpoint_dir=backup_dir)`, which resumes at the exact step: Keras
    3.15's `fit` fails under `MultiWorkerMirroredStrategy` (keras issue
    20585), and under `MirroredStrategy` on more than one device as soon as
    an input is boolean, as the padding masks of every keras_attn text
    pipeline are (it averages each input batch over the replicas to learn
    its shape).

    Either way the backup is deleted once training ends, as
    `BackupAndRestore` does, so the next run starts afresh.

    Args:
        model: a compiled `keras.Model` built under `strategy.scope()`.
        dataset: the training data: a `tf.data.Dataset` of global batches
            (any `fit` input on one replica).
        epochs: number of epochs.
        strategy: from `get_strategy`; None: the model's own.
        backup_dir: folder for the backup; None: no backup.
        save_freq: `"epoch"`, or an int: back up every that many batches.
        validation_data: evaluated after each epoch.
        callbacks: more `keras.callbacks.Callback`s.
        verbose: as for `model.fit`.

    Returns:
        The history dict (`model.fit(...).history`).

    Example:

    >>> import keras, numpy as np
    >>> from keras_attn import training
    >>> strategy = training.get_strategy("auto")
    >>> with strategy.scope():
    ...     model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    ...     model.compile(optimizer="sgd", loss="mse")
    >>> x = np.ones((32, 4), "float32")
    >>> history = training.fit(model, (x, x.sum(1)), epochs=2, strategy=strategy,
    ...                        verbose=0)
    >>> len(history["loss"])
    2
    """
    callbacks = list(callbacks or [])
    if keras.backend.backend() == "tensorflow" and num_replicas(strategy) > 1:
        history = fit_distributed(
            model,
            dataset,
            epochs=epochs,
            strategy=strategy,
            checkpoint_dir=backup_dir,
            save_freq=save_freq,
            validation_data=validation_data,
            callbacks=callbacks,
            verbose=verbose,
        )
        if backup_dir and is_chief(strategy):
            shutil.rmtree(backup_dir, ignore_errors=True)
        return history

    if backup_dir:
        callbacks.append(BackupAndRestore(backup_dir, save_freq))
    x, y, sample_weight = _unpack(dataset)
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        history = model.fit(
            x,
            y,
            sample_weight=sample_weight,
            epochs=epochs,
            validation_data=validation_data,
            callbacks=callbacks,
            shuffle=not _is_dataset(x),  # Datasets shuffle themselves.
            verbose=verbose,
        )
    return history.history


def _unpack(data):
    if isinstance(data, tuple):
        return keras.utils.unpack_x_y_sample_weight(data)
    return data, None, None


def _is_dataset(x):
    tf = sys.modules.get("tensorflow")  # Not imported: not a tf.data.Dataset.
    return tf is not None and isinstance(x, tf.data.Dataset)
