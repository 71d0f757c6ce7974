"""One training process of the distributed and fault-tolerance tests.

    python -m tests.training.worker CONFIGS_JSON

Trains the date `RNNSeq2Seq` (width 16) with `keras_attn.training` once per
config of the JSON list, as the test describes, and writes `NAME.json`
(history, the (epoch, batch) of every step it ran, the optimizer's step
count) and `NAME.npz` (the weights) into the config's `out` folder. The
test process runs the same `train` in-process for its single-device
reference.

The test sets KERAS_BACKEND=tensorflow and TF_CONFIG in the environment.
Config keys: out, name, strategy ("default" or a `get_strategy` name),
entry ("fit_distributed", "training_fit", "keras_fit"), logical_cpus, epochs,
steps_per_epoch, batch_size (global), checkpoint_dir, save_freq,
touch_after (touch `out/touched` after this many steps of this process,
then sleep until killed), stop_after, precision, tiny (the tiny
model, with a boolean input), expect_error (record the error instead),
progress (append a line to `out/progress` after every step, for a test
that kills at random steps), die_in_write (SIGKILL this process at that
`fsync` call, counted from 1, of `training.BackupAndRestore`'s writes: in
the middle of writing a backup), shuffle (False: the same batches every
epoch, for `fit`, whose resumed epoch would otherwise see epoch 0's order).
"""

import json
import os
import signal
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from keras_attn import training
from keras_attn.data import dates
from keras_attn.models import RNNSeq2Seq

NUM_PAIRS = 256


def dataset(batch_size, seed=0, shuffle=True, tiny=False):
    """A seeded, reshuffled-every-epoch date dataset: same batches anywhere.

    `tiny`: the inputs of the tiny model, `source` and a boolean
    `padding_mask` (as every keras_attn text pipeline has).
    """
    pairs = dates.generate_pairs(NUM_PAIRS, seed=seed)
    ds = dates.make_dataset(pairs, batch_size, shuffle=shuffle, seed=seed)
    if tiny:
        ds = ds.map(
            lambda x, y: ({"source": x["source"], "padding_mask": x["source"] > 0}, y)
        )
    return ds


def build_model(seed=0, tiny=False):
    """The date converter, compiled; call under `strategy.scope()`.

    `tiny`: a masked mean of source embeddings -> all 11 target logits at
    once, for tests of the training machinery that need no attention model.
    """
    keras.utils.set_random_seed(seed)
    if tiny:
        source = keras.Input((dates.SOURCE_LENGTH,), dtype="int32", name="source")
        mask = keras.Input((dates.SOURCE_LENGTH,), dtype="bool", name="padding_mask")
        x = keras.layers.Embedding(len(dates.VOCABULARY), 8)(source)
        x = keras.layers.GlobalAveragePooling1D()(x, mask=mask)
        x = keras.layers.Dense(dates.TARGET_LENGTH * len(dates.VOCABULARY))(x)
        logits = keras.layers.Reshape((dates.TARGET_LENGTH, len(dates.VOCABULARY)))(x)
        model = keras.Model({"source": source, "padding_mask": mask}, logits)
    else:
        model = RNNSeq2Seq(len(dates.VOCABULARY), embedding_dim=8, hidden_dim=16)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


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


class StepLog(keras.callbacks.Callback):
    """Records the (epoch, batch) of every step; can stop training after
    `stop_after` steps (as a time budget does), or wait to be killed after
    `touch_after` steps."""

    def __init__(self, out, touch_after=None, stop_after=None, progress=False):
        super().__init__()
        self.out, self.touch_after, self.stop_after = out, touch_after, stop_after
        self.progress = progress
        self.epoch, self.steps = 0, []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append((self.epoch, batch))
        if self.progress:
            with open(os.path.join(self.out, "progress"), "a") as f:
                f.write(f"{self.epoch} {batch}\n")
        if len(self.steps) == self.stop_after:
            self.model.stop_training = True
        if len(self.steps) == self.touch_after:
            with open(os.path.join(self.out, "touched"), "w") as f:
                json.dump(self.steps, f)
            time.sleep(600)  # The test kills the process here.


def train(config, strategy=None):
    """Runs `config` (see the module docstring); returns the result dict."""
    training.set_precision(config.get("precision", "float32"))
    strategy = strategy or _strategy(config)
    tiny = config.get("tiny", False)
    with strategy.scope():
        model = build_model(tiny=tiny)
    log = StepLog(
        config["out"],
        config.get("touch_after"),
        config.get("stop_after"),
        config.get("progress", False),
    )
    if config.get("die_in_write"):
        _die_in_write(config["die_in_write"])
    data = dataset(config["batch_size"], shuffle=config.get("shuffle", True), tiny=tiny)
    entry = config.get("entry", "fit_distributed")
    try:
        history = _run(entry, model, data, strategy, config, log)
    except Exception as error:  # noqa: BLE001 - the test reads what failed.
        if not config.get("expect_error"):
            raise
        return {"error": f"{type(error).__name__}: {error}"}
    return {
        "history": {k: [float(v) for v in vs] for k, vs in history.items()},
        "steps": log.steps,
        "iterations": int(model.optimizer.iterations.numpy()),
        "replicas": training.num_replicas(strategy),
        "optimizer": type(model.optimizer).__name__,
        "weights": [np.asarray(w) for w in model.get_weights()],
    }


def _run(entry, model, data, strategy, config, log):
    if entry == "fit_distributed":
        return training.fit_distributed(
            model,
            data,
            epochs=config["epochs"],
            steps_per_epoch=config.get("steps_per_epoch"),
            strategy=strategy,
            checkpoint_dir=config.get("checkpoint_dir"),
            save_freq=config.get("save_freq", "epoch"),
            callbacks=[log],
            verbose=0,
        )
    if entry == "training_fit":
        return training.fit(
            model,
            data,
            epochs=config["epochs"],
            strategy=strategy,
            backup_dir=config.get("checkpoint_dir"),
            save_freq=config.get("save_freq", "epoch"),
            callbacks=[log],
            verbose=0,
        )
    history = model.fit(
        data, epochs=config["epochs"], callbacks=[log], shuffle=False, verbose=0
    )
    return history.history  # Keras's own fit.


def _die_in_write(call):
    """SIGKILL at the `call`-th fsync of a backup write (after the weights
    file, the metadata, the folder, or the rename)."""
    from keras_attn.training import backup_and_restore

    fsync, calls = backup_and_restore._fsync, [0]

    def dying_fsync(path):
        calls[0] += 1
        if calls[0] == call:
            os.kill(os.getpid(), signal.SIGKILL)
        fsync(path)

    backup_and_restore._fsync = dying_fsync


_STRATEGIES = {}


def _strategy(config):
    """One strategy of each kind per process: two MirroredStrategy objects
    in one process can collide on their collective-op keys."""
    name = config.get("strategy", "default")
    if name == "default":
        return tf.distribute.get_strategy()
    if name not in _STRATEGIES:
        _STRATEGIES[name] = training.get_strategy(name)
    return _STRATEGIES[name]


def main(path):
    """Runs each config of the JSON list at `path`, in one process."""
    with open(path) as f:
        configs = json.load(f)
    if configs[0].get("logical_cpus"):  # Before TensorFlow initialises.
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * configs[0]["logical_cpus"]
        )
    for config in configs:
        result = train(config)
        name = config.get("name", "result")
        if "weights" in result:
            np.savez(os.path.join(config["out"], f"{name}.npz"), *result.pop("weights"))
        with open(os.path.join(config["out"], f"{name}.json"), "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1])
