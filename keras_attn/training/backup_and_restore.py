"""`BackupAndRestore`: backups that a crash cannot damage."""

import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings

import keras

from keras_attn.checks import check_positive_int

_BACKUP = re.compile(r"^backup-(\d+)$")
_INCOMPLETE = ".incomplete-"
_WEIGHTS = "model.weights.h5"
_METADATA = "metadata.json"


class BackupAndRestore(keras.callbacks.Callback):
    """Back up the training state so a restarted `fit` goes on; crash-safe.

    Used like `keras.callbacks.BackupAndRestore` (and by
    `keras_attn.training.fit`), with two guarantees Keras 3.15's callback
    does not give:

    - A backup is written whole or not at all. Each one is a folder
      `backup-N` (the weights, with the optimizer's state, and
      `metadata.json`: the epoch to resume and the weights' SHA-256) that is
      written under a temporary name, flushed to disk (`fsync`) and renamed
      into place; the `keep` newest are kept. A process killed while a
      backup is being written leaves the previous backups as they were (and
      an `.incomplete-*` folder, removed on the next start).
    - A damaged backup is never loaded silently. On `on_train_begin` the
      newest backup whose metadata is valid (an int epoch from 0 to the
      run's `epochs`), whose weights file matches its checksum and loads
      into this model is restored, with a warning naming each newer backup
      that was skipped and why. When backups exist but none is usable, a
      `ValueError` lists them: delete the folder to start afresh.

    As with Keras's callback, an interrupted epoch restarts from its first
    batch: with an int `save_freq` the batches before the backup are trained
    on again, so only `save_freq="epoch"` resumes to exactly the weights of
    an uninterrupted run (`fit_distributed` resumes at the exact step).

    Args:
        backup_dir: the folder of the backups.
        save_freq: `"epoch"`, or an int: back up every that many batches.
        keep: how many backups to keep (at least 1; 2 lets a damaged newest
            one fall back to the one before).
        delete_checkpoint: delete `backup_dir` when training ends.

    Example:

    >>> import os, keras, numpy as np
    >>> from keras_attn.training import BackupAndRestore
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> folder = str(getfixture("tmp_path") / "backup")
    >>> x = np.ones((8, 2), "float32")
    >>> backup = BackupAndRestore(folder, delete_checkpoint=False)
    >>> _ = model.fit(x, x[:, :1], epochs=2, callbacks=[backup], verbose=0)
    >>> sorted(os.listdir(folder))
    ['backup-000000001', 'backup-000000002']
    >>> history = model.fit(x, x[:, :1], epochs=2, callbacks=[backup], verbose=0)
    >>> history.history  # both epochs were done: nothing left to train
    {}
    """

    def __init__(self, backup_dir, save_freq="epoch", keep=2, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError(f"`backup_dir` must be a folder; received {backup_dir!r}.")
        if save_freq != "epoch":
            check_positive_int(save_freq, "save_freq")
        check_positive_int(keep, "keep")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.keep = keep
        self.delete_checkpoint = delete_checkpoint

    # --- restore ---------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._epoch = 0
        self._batches_since_save = 0
        self._remove_incomplete()
        backups = self._backups()
        if not backups:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        problems = []
        for _, folder in reversed(backups):
            try:
                epoch = self._restore(folder)
            except (ValueError, OSError, KeyError, TypeError) as error:
                problems.append(f"{os.path.basename(folder)}: {error}")
                continue
            if problems:
                warnings.warn(
                    f"Skipped damaged backup(s) in {self.backup_dir!r} "
                    f"({'; '.join(problems)}); resumed from "
                    f"{os.path.basename(folder)} (epoch {epoch}).",
                    stacklevel=2,
                )
            self._epoch = epoch
            self.model._initial_epoch = epoch  # As keras's BackupAndRestore.
            return
        raise ValueError(
            f"No usable backup in {self.backup_dir!r}: {'; '.join(problems)}. "
            "Delete the folder to train from the start."
        )

    def _restore(self, folder):
        """Loads one backup; returns its epoch, or raises saying why not."""
        try:
            with open(os.path.join(folder, _METADATA), encoding="utf-8") as f:
                metadata = json.load(f)
        except (OSError, ValueError) as error:
            raise ValueError(f"unreadable {_METADATA} ({error})") from None
        if not isinstance(metadata, dict):
            raise ValueError(f"{_METADATA} is not a JSON object")
        epoch = metadata.get("epoch")
        epochs = self.params.get("epochs") if self.params else None
        if (
            isinstance(epoch, bool)
            or not isinstance(epoch, int)
            or epoch < 0
            or (epochs is not None and epoch > epochs)
        ):
            raise ValueError(
                f"epoch {epoch!r} in {_METADATA} is not an int from 0 to this "
                f"run's epochs={epochs}"
            )
        weights = os.path.join(folder, _WEIGHTS)
        if _sha256(weights) != metadata.get("sha256"):
            raise ValueError(f"{_WEIGHTS} does not match its checksum")
        try:
            self.model.load_weights(weights)
        except Exception as error:  # h5py and Keras raise several types
            raise ValueError(
                f"{_WEIGHTS} does not fit this model ({type(error).__name__}: "
                f"{str(error)[:200]})"
            ) from None
        return epoch

    # --- save ------------------------------------------------------------

    def on_epoch_end(self, epoch, logs=None):
        self._epoch = epoch + 1
        self._batches_since_save = 0
        if self.save_freq == "epoch":
            self._save()

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save()

    def _save(self):
        """Writes a backup under a temporary name, then renames it."""
        os.makedirs(self.backup_dir, exist_ok=True)
        backups = self._backups()
        number = backups[-1][0] + 1 if backups else 1
        incomplete = tempfile.mkdtemp(prefix=_INCOMPLETE, dir=self.backup_dir)
        weights = os.path.join(incomplete, _WEIGHTS)
        self.model.save_weights(weights)
        metadata = {"epoch": self._epoch, "sha256": _sha256(weights)}
        with open(os.path.join(incomplete, _METADATA), "w", encoding="utf-8") as f:
            json.dump(metadata, f)
        for name in (_WEIGHTS, _METADATA):
            _fsync(os.path.join(incomplete, name))
        _fsync(incomplete)
        os.replace(incomplete, os.path.join(self.backup_dir, f"backup-{number:09d}"))
        _fsync(self.backup_dir)
        for _, folder in self._backups()[: -self.keep]:
            shutil.rmtree(folder, ignore_errors=True)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint:
            shutil.rmtree(self.backup_dir, ignore_errors=True)

    # --- the folder ------------------------------------------------------

    def _backups(self):
        """`[(number, folder)]` of the complete backups, oldest first."""
        if not os.path.isdir(self.backup_dir):
            return []
        found = []
        for name in os.listdir(self.backup_dir):
            match = _BACKUP.match(name)
            if match:
                found.append((int(match[1]), os.path.join(self.backup_dir, name)))
        return sorted(found)

    def _remove_incomplete(self):
        if os.path.isdir(self.backup_dir):
            for name in os.listdir(self.backup_dir):
                if name.startswith(_INCOMPLETE):
                    shutil.rmtree(os.path.join(self.backup_dir, name), True)


def _sha256(path):
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _fsync(path):
    """Flushes a file's (or a folder's entries') writes to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
