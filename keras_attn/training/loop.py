"""Data-parallel training with `tf.distribute`, multi-worker included.

Keras 3's `model.fit` cannot train under `MultiWorkerMirroredStrategy` with
TensorFlow 2.21 (keras issue 20585): before the first step `fit` reduces a
whole nested data batch with one `strategy.reduce` call to learn its shapes,
which the multi-worker strategy cannot do ("Attempt to convert a value
(PerReplica...) with an unsupported type ... to a Tensor"), and once past
that it reduces scalar metrics with `strategy.reduce(..., axis=0)`, which
fails too. `fit_distributed` is the loop `fit` runs, written against the
public `tf.distribute` API instead: the model's own `train_step` (its loss,
its optimizer with loss scaling, its metrics) runs on every replica with
`strategy.run`, the Keras optimizer all-reduces the gradients, and the
metrics are read across replicas. It runs under every `tf.distribute`
strategy, and it checkpoints with `tf.train.CheckpointManager` so that a
restarted job resumes at the step it had reached.
"""

import json
import os
import re
import tempfile
import warnings

import keras

from keras_attn.checks import check_positive_int
from keras_attn.training import sharding
from keras_attn.training.strategies import is_chief
from keras_attn.training.strategies import num_workers

_MANAGER_DIR = "checkpoints"
_INDEX = re.compile(r"^ckpt-(\d+)\.index$")
_TEMP = re.compile(r"^ckpt-\d+_temp")


def fit_distributed(
    model,
    dataset,
    epochs=1,
    steps_per_epoch=None,
    strategy=None,
    checkpoint_dir=None,
    save_freq="epoch",
    validation_data=None,
    callbacks=None,
    verbose=1,
):
    """Train `model` on `dataset` under a `tf.distribute` strategy.

    Build and compile the model inside `strategy.scope()`; batch the dataset
    with the global batch (`global_batch_size`): the strategy splits every
    global batch among its replicas, and the multi-worker strategy among its
    workers (by the dataset's auto-shard policy, set to `"data"` here if the
    dataset left it on `"auto"`). Every worker runs this same call.

    Steps are numbered over the whole run: a finite dataset is repeated,
    epoch `e` being global steps `e * steps_per_epoch` to
    `(e + 1) * steps_per_epoch - 1`. With `checkpoint_dir`, the model's
    variables, the optimizer's, the metrics' running totals, the step and
    the history are saved every `save_freq` steps (or epochs) and at the
    end; a call that finds a checkpoint there restores it and continues at
    the next step of the stream (`dataset.repeat().skip(step)`), so a job
    killed and restarted ends with the weights of an uninterrupted run,
    provided the dataset yields the same batches in a fresh process (a
    seeded shuffle; no random augmentation without a seed). A finished
    run's checkpoint stays: calling again returns its history at once.
    In a multi-worker job the chief writes `checkpoint_dir`; the other
    workers take part in each save (reading distributed variables is a
    collective operation) but write to a local temporary folder deleted
    right after; all workers restore from the chief's checkpoint, so
    `checkpoint_dir` must be a folder every worker can read.

    Args:
        model: a compiled `keras.Model` whose variables were created under
            `strategy.scope()`.
        dataset: a `tf.data.Dataset` of global `(x, y)` or
            `(x, y, sample_weight)` batches, finite or repeated.
        epochs: number of epochs.
        steps_per_epoch: steps in an epoch; by default the number of batches
            of a finite dataset (required for an infinite one).
        strategy: a `tf.distribute.Strategy`; default: the strategy the model
            was built under.
        checkpoint_dir: folder for the checkpoints, or None for none.
        save_freq: `"epoch"`, or an int: save every that many steps.
        validation_data: an optional finite `tf.data.Dataset` evaluated after
            each epoch (logs prefixed `val_`).
        callbacks: `keras.callbacks.Callback`s; they get the batch and epoch
            hooks `fit` gives them, and `model.stop_training` stops.
        verbose: 0 silent, 1 a progress bar, 2 one line per epoch.

    Returns:
        The history dict, as `model.fit(...).history`: one list of per-epoch
        values per metric, the epochs done before a restart included.

    Example:

    >>> import keras, numpy as np
    >>> if keras.backend.backend() != "tensorflow":
    ...     import pytest; pytest.skip("tf.distribute needs TensorFlow")
    >>> import tensorflow as tf
    >>> from keras_attn import training
    >>> strategy = training.get_strategy("mirrored")
    >>> with strategy.scope():
    ...     model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    ...     model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    >>> x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    >>> batch = training.global_batch_size(8, strategy)
    >>> ds = tf.data.Dataset.from_tensor_slices((x, x.sum(1))).batch(batch)
    >>> history = training.fit_distributed(
    ...     model, ds, epochs=3, strategy=strategy, verbose=0)
    >>> sorted(history), len(history["loss"])
    (['loss', 'mae'], 3)
    >>> bool(history["loss"][-1] < history["loss"][0])
    True
    """
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "fit_distributed runs tf.distribute strategies and needs "
            f"KERAS_BACKEND=tensorflow; the current backend is "
            f"{keras.backend.backend()!r}. With JAX, call model.fit under "
            "training.get_strategy(...).scope()."
        )
    import tensorflow as tf

    strategy = strategy or model.distribute_strategy
    _check_model(model, strategy)
    check_positive_int(epochs, "epochs")
    if save_freq != "epoch" and (
        isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1
    ):
        raise ValueError(
            f'`save_freq` must be "epoch" or a positive int; received {save_freq!r}.'
        )
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(
            f"`dataset` must be a tf.data.Dataset; received {type(dataset).__name__}."
        )
    steps_per_epoch = _steps_per_epoch(dataset, steps_per_epoch)
    stream = dataset
    if dataset.cardinality() != tf.data.INFINITE_CARDINALITY:
        stream = dataset.repeat()
    policy = dataset.options().experimental_distribute.auto_shard_policy
    if policy == tf.data.experimental.AutoShardPolicy.AUTO:
        stream = sharding.shard(stream, "data")

    with strategy.scope():
        _build(model, dataset)
    state = _TrainingState(model, strategy, checkpoint_dir)
    global_step = state.restore()
    history = state.history
    train_function = _make_function(model, strategy, model.train_step)
    test_function = None
    if validation_data is not None:
        test_function = _make_function(model, strategy, model.test_step)
    iterator = iter(strategy.experimental_distribute_dataset(stream.skip(global_step)))
    any_worker = _make_any_worker(strategy)

    callbacks = keras.callbacks.CallbackList(
        callbacks,
        add_progbar=verbose != 0,
        verbose=verbose,
        epochs=epochs,
        steps=steps_per_epoch,
        model=model,
    )
    model.stop_training = False
    epoch, step = divmod(global_step, steps_per_epoch)
    logs = {}
    callbacks.on_train_begin()
    while epoch < epochs and not model.stop_training:
        if step == 0:
            model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        while step < steps_per_epoch and not model.stop_training:
            callbacks.on_train_batch_begin(step)
            logs = train_function(next(iterator))
            step, global_step = step + 1, global_step + 1
            callbacks.on_train_batch_end(step - 1, logs)
            model.stop_training = any_worker(model.stop_training)
            if _due(save_freq, global_step) and step < steps_per_epoch:
                state.save(global_step)
        epoch_logs = {name: float(value) for name, value in logs.items()}
        if test_function is not None and step == steps_per_epoch:
            epoch_logs.update(
                _evaluate(model, strategy, test_function, validation_data)
            )
        callbacks.on_epoch_end(epoch, epoch_logs)
        model.stop_training = any_worker(model.stop_training)
        if step == steps_per_epoch:  # A partial epoch (stopped) is not kept.
            for name, value in epoch_logs.items():
                history.setdefault(name, []).append(value)
            epoch, step = epoch + 1, 0
        if save_freq == "epoch" or _due(save_freq, global_step):
            state.save(global_step)
        elif model.stop_training or epoch == epochs:
            state.save(global_step)
    callbacks.on_train_end(logs)
    result = {name: list(values) for name, values in history.items()}
    if step:  # Stopped inside an epoch: report it, as fit does.
        for name, value in logs.items():
            result.setdefault(name, []).append(float(value))
    return result


def _due(save_freq, global_step):
    return save_freq != "epoch" and global_step % save_freq == 0


def _check_model(model, strategy):
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected a keras.Model; received {type(model).__name__}.")
    if getattr(model, "optimizer", None) is None:
        raise ValueError(
            "Compile the model (under `strategy.scope()`) before "
            "fit_distributed; it has no optimizer."
        )
    if model.distribute_strategy is not strategy:
        raise ValueError(
            "Build and compile the model under `strategy.scope()`: it was "
            f"built under {type(model.distribute_strategy).__name__}, and "
            f"fit_distributed received {type(strategy).__name__}."
        )
    outside = [
        v.path
        for v in list(model.variables) + list(model.metrics_variables)
        if not strategy.extended.variable_created_in_scope(v.value)
    ]
    if outside:
        raise ValueError(
            "Build and compile the model under `strategy.scope()`; these "
            f"variables were created outside it: {outside[:5]}."
        )


def _steps_per_epoch(dataset, steps_per_epoch):
    import tensorflow as tf

    if steps_per_epoch is not None:
        check_positive_int(steps_per_epoch, "steps_per_epoch")
        return steps_per_epoch
    cardinality = int(dataset.cardinality())
    if cardinality in (tf.data.INFINITE_CARDINALITY, tf.data.UNKNOWN_CARDINALITY):
        raise ValueError(
            "`steps_per_epoch` is required for a dataset of infinite or unknown "
            f"length; the dataset's cardinality is {cardinality}."
        )
    if cardinality == 0:
        raise ValueError("The dataset is empty.")
    return cardinality


def _build(model, dataset):
    """Creates the optimizer and compiled-metric variables, in scope.

    `fit` does this before its first step; the variables must exist before
    `strategy.run` traces `train_step`. One eager pass on a batch of zeros
    shaped like the dataset's elements builds the compiled loss and metrics
    (the metrics are then reset). Zeros, not a batch of the dataset: drawing
    one would advance a reshuffling dataset to its next order.
    """
    import tensorflow as tf

    def zeros(spec):
        if not isinstance(spec, tf.TensorSpec):
            raise TypeError(
                "fit_distributed needs datasets of dense tensors; received an "
                f"element of type {type(spec).__name__}."
            )
        return tf.zeros([1 if d is None else d for d in spec.shape], spec.dtype)

    batch = tf.nest.map_structure(zeros, dataset.element_spec)
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
    y_pred = model(x, training=False)
    model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
    model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.reset_metrics()


def _make_function(model, strategy, step_function):
    """One step on every replica, then the metrics read across replicas.

    XLA compiles the step (`model.jit_compile`) on one replica only: with
    more, the compiled step would touch variables on several devices, which
    XLA cannot do (Keras's `fit` fails there the same way).
    """
    import tensorflow as tf

    jit_compile = bool(model.jit_compile) and strategy.num_replicas_in_sync == 1

    @tf.function(reduce_retracing=True, jit_compile=jit_compile)
    def on_replicas(batch):
        strategy.run(step_function, args=(batch,))

    @tf.function(reduce_retracing=True)
    def one_step(batch):
        on_replicas(batch)
        return model.get_metrics_result()

    return one_step


def _make_any_worker(strategy):
    """`flag -> bool`: whether any worker's flag is set (a collective).

    Workers must stop at the same step, or the others wait forever in the
    next all-reduce; a callback's `stop_training` (a time budget, early
    stopping) is therefore shared before it is acted on.
    """
    import tensorflow as tf

    if num_workers(strategy) == 1:
        return bool

    @tf.function
    def any_worker(flag):
        flags = strategy.run(lambda: tf.cast(flag, tf.float32))
        return strategy.reduce("SUM", flags, axis=None) > 0

    return lambda flag: bool(any_worker(tf.constant(bool(flag))))


def _evaluate(model, strategy, test_function, dataset):
    model.reset_metrics()
    logs = {}
    for batch in strategy.experimental_distribute_dataset(dataset):
        logs = test_function(batch)
    return {f"val_{name}": float(value) for name, value in logs.items()}


class _TrainingState:
    """The checkpointed state of a run and where each worker writes it."""

    def __init__(self, model, strategy, checkpoint_dir):
        import tensorflow as tf

        self.strategy = strategy
        self.checkpoint_dir = checkpoint_dir
        self.history = {}
        # Plain (not distributed) variables: the host loop sets them.
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.history_json = tf.Variable("{}", dtype=tf.string, trainable=False)
        self.checkpoint = tf.train.Checkpoint(
            model=model,
            optimizer=model.optimizer,
            metrics=list(model.metrics_variables),
            step=self.step,
            history=self.history_json,
        )

    def _directory(self):
        """The chief's folder, or a throwaway local one on other workers."""
        if is_chief(self.strategy):
            return os.path.join(self.checkpoint_dir, _MANAGER_DIR)
        return tempfile.mkdtemp(prefix="keras_attn_worker_checkpoint_")

    def restore(self):
        """Restores the newest readable checkpoint; returns its step.

        The checkpoints are found by their files (`ckpt-N.index`), not by
        the `checkpoint` state file alone: a damaged state file is reported
        and ignored. A checkpoint that fails to restore is reported and the
        next older one is tried; `ckpt-N_temp` folders that a killed save
        left are removed (by the chief).
        """
        import tensorflow as tf

        if self.checkpoint_dir is None:
            return 0
        directory = os.path.join(self.checkpoint_dir, _MANAGER_DIR)
        if not tf.io.gfile.isdir(directory):
            return 0
        names = tf.io.gfile.listdir(directory)
        if is_chief(self.strategy):
            for name in names:
                if _TEMP.match(name.rstrip("/")):
                    tf.io.gfile.rmtree(os.path.join(directory, name))
        found = sorted(
            (int(match[1]), os.path.join(directory, f"ckpt-{match[1]}"))
            for match in map(_INDEX.match, names)
            if match
        )
        if not found:
            return 0
        state = tf.train.get_checkpoint_state(directory)  # None: unreadable
        if state is None or not state.model_checkpoint_path:
            warnings.warn(
                f"The checkpoint state file in {directory!r} is missing or "
                "damaged; restoring from the checkpoint files and rewriting it.",
                stacklevel=3,
            )
            if is_chief(self.strategy):
                tf.compat.v1.train.update_checkpoint_state(
                    directory,
                    found[-1][1],
                    all_model_checkpoint_paths=[prefix for _, prefix in found],
                )
        problems = []
        for _, prefix in reversed(found):
            try:
                self.checkpoint.restore(prefix).assert_existing_objects_matched()
                history = json.loads(self.history_json.numpy().decode("utf-8"))
            except Exception as error:  # noqa: BLE001 - OpError, ValueError, ...
                problems.append(
                    f"{os.path.basename(prefix)}: {type(error).__name__}: "
                    f"{str(error).splitlines()[0][:200] if str(error) else ''}"
                )
                continue
            if problems:
                warnings.warn(
                    f"Skipped damaged checkpoint(s) ({'; '.join(problems)}); "
                    f"resumed from {os.path.basename(prefix)}.",
                    stacklevel=3,
                )
            self.history = history if isinstance(history, dict) else {}
            return int(self.step.numpy())
        raise ValueError(
            f"No checkpoint in {directory!r} can be restored: "
            f"{'; '.join(problems)}. Delete the folder to train from the start."
        )

    def save(self, global_step):
        """Every worker saves (reading distributed variables is collective)."""
        import tensorflow as tf

        if self.checkpoint_dir is None:
            return
        self.step.assign(global_step)
        self.history_json.assign(json.dumps(self.history))
        directory = self._directory()
        manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=2)
        manager.save(checkpoint_number=global_step)
        if not is_chief(self.strategy):
            tf.io.gfile.rmtree(directory)
