"""One way to pick how training is distributed, for every entry point.

`get_strategy(name)` returns a `tf.distribute.Strategy` with the TensorFlow
backend and a `keras.distribution.DataParallel` with JAX. Both have a
`scope()`: build the model, its optimizer and its metrics (that is, call
`compile`) inside it. TensorFlow is imported lazily, inside the functions,
so that `import keras_attn.training` stays light.
"""

import json
import os

import keras

from keras_attn_cli.recipe_flags import STRATEGIES  # noqa: F401


def get_strategy(name="auto", devices=None):
    """The distribution strategy called `name`, for the current backend.

    TensorFlow backend:

    - `"one_device"`: `tf.distribute.OneDeviceStrategy` on the first GPU,
      or the CPU.
    - `"mirrored"`: `tf.distribute.MirroredStrategy` over `devices`, by
      default every local GPU, or every logical CPU device when there is no
      GPU (one, unless `tf.config.set_logical_device_configuration` split
      the CPU before TensorFlow initialised).
    - `"multi_worker"`: `tf.distribute.MultiWorkerMirroredStrategy`, the
      cluster read from `TF_CONFIG`. Keras 3's `model.fit` cannot train
      under it (keras issue 20585); train with `fit_distributed`.
    - `"tpu"`: `tf.distribute.TPUStrategy` on the TPU named by `TPU_NAME`
      (a Cloud TPU VM's own TPU when unset and `/dev/accel0` exists).
    - `"auto"`: a TPU if one is there, else multi-worker if `TF_CONFIG`
      names more than one worker, else mirrored if there is more than one
      GPU, else TensorFlow's default strategy (one device, no overhead).

    JAX backend: `keras.distribution.DataParallel` over the local devices
    (`"mirrored"`, `"auto"`, `"tpu"` on TPU devices), or over the first
    device only (`"one_device"`). Multi-process JAX (`"multi_worker"`) is
    not supported here.

    Args:
        name: one of `STRATEGIES`.
        devices: device names for `"one_device"` (the first one) and
            `"mirrored"`; None chooses as above.

    Returns:
        An object with a `scope()` context manager: a `tf.distribute`
        strategy or a `keras.distribution.Distribution`.

    Raises:
        ValueError: for an unknown name, a strategy the backend cannot run,
            or a TPU that cannot be found.

    Example:

    >>> import keras
    >>> from keras_attn import training
    >>> strategy = training.get_strategy("one_device")
    >>> with strategy.scope():
    ...     model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    ...     model.compile(optimizer="sgd", loss="mse")
    >>> training.num_replicas(strategy)
    1
    """
    if name not in STRATEGIES:
        raise ValueError(
            f"Unknown strategy {name!r}; expected one of {list(STRATEGIES)}."
        )
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow_strategy(name, devices)
    if backend == "jax":
        return _jax_distribution(name, devices)
    raise ValueError(
        "Distributed training needs the TensorFlow or the JAX backend; the "
        f"current backend is {backend!r}."
    )


def num_replicas(strategy):
    """How many replicas share a global batch under `strategy`.

    Args:
        strategy: a `tf.distribute.Strategy`, a
            `keras.distribution.Distribution`, or None (one replica).

    Returns:
        The number of model replicas trained in sync.

    Example:

    >>> from keras_attn import training
    >>> training.num_replicas(None)
    1
    """
    if strategy is None:
        return 1
    if hasattr(strategy, "num_replicas_in_sync"):
        return int(strategy.num_replicas_in_sync)
    mesh = getattr(strategy, "device_mesh", None)  # keras.distribution
    if isinstance(mesh, keras.distribution.DeviceMesh):
        return int(mesh.shape[mesh.axis_names.index(strategy.batch_dim_name)])
    raise TypeError(
        "Expected a tf.distribute.Strategy or a keras.distribution."
        f"Distribution; received {type(strategy).__name__}."
    )


def global_batch_size(per_replica_batch_size, strategy):
    """The global batch: `per_replica_batch_size` times the replicas.

    Datasets are batched with the global batch; the strategy splits each
    global batch among the replicas.

    Args:
        per_replica_batch_size: positive int, the batch one replica sees.
        strategy: as for `num_replicas`.

    Returns:
        The int global batch size.

    Example:

    >>> from keras_attn import training
    >>> training.global_batch_size(32, training.get_strategy("one_device"))
    32
    """
    if (
        isinstance(per_replica_batch_size, bool)
        or not isinstance(per_replica_batch_size, int)
        or per_replica_batch_size < 1
    ):
        raise ValueError(
            "`per_replica_batch_size` must be a positive int; received "
            f"{per_replica_batch_size!r}."
        )
    return per_replica_batch_size * num_replicas(strategy)


def is_chief(strategy):
    """Whether this process writes the checkpoints, logs and exports.

    In a multi-worker job that is the chief (`TF_CONFIG` task `chief`, or
    worker 0 when there is no chief); everywhere else it is True.

    Example:

    >>> from keras_attn import training
    >>> training.is_chief(training.get_strategy("one_device"))
    True
    """
    if strategy is None:
        return True
    extended = getattr(strategy, "extended", None)
    if extended is not None:
        return bool(extended.should_checkpoint)
    if keras.backend.backend() == "jax":
        import jax

        return jax.process_index() == 0
    return True


def num_workers(strategy=None):
    """How many worker processes train together.

    The workers of `strategy`'s cluster, or with no strategy the `chief`
    and `worker` tasks named in `TF_CONFIG` (1 without one).

    Example:

    >>> from keras_attn import training
    >>> training.num_workers(training.get_strategy("one_device"))
    1
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is not None:
        cluster = resolver.cluster_spec().as_dict()
        return max(1, len(cluster.get("chief", [])) + len(cluster.get("worker", [])))
    if strategy is not None:
        return 1
    return _workers_in_tf_config()


def _workers_in_tf_config():
    config = os.environ.get("TF_CONFIG")
    if not config:
        return 1
    try:
        cluster = json.loads(config).get("cluster", {})
    except (ValueError, AttributeError) as error:
        raise ValueError(
            f"TF_CONFIG must be a JSON object with a 'cluster'; received {config!r}."
        ) from error
    return max(1, len(cluster.get("chief", [])) + len(cluster.get("worker", [])))


def _tpu_name():
    """The TPU to connect to, or None where nothing says there is one.

    Checked from the environment only: asking the resolver on a machine
    without a TPU can wait on the GCE metadata server.
    """
    if os.environ.get("TPU_NAME"):
        return os.environ["TPU_NAME"]
    if os.path.exists("/dev/accel0") or os.environ.get("COLAB_TPU_ADDR"):
        return "local" if os.path.exists("/dev/accel0") else ""
    return None


def _tensorflow_strategy(name, devices):
    import tensorflow as tf

    if devices is not None and name not in ("one_device", "mirrored"):
        raise ValueError(
            "`devices` applies to 'one_device' and 'mirrored'; received "
            f"devices={devices!r} with {name!r}."
        )
    if name == "auto":
        if _tpu_name() is not None:
            name = "tpu"
        elif _workers_in_tf_config() > 1:
            name = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            return tf.distribute.get_strategy()
    if name == "one_device":
        if devices:
            device = devices[0]
        elif tf.config.list_logical_devices("GPU"):
            device = "/gpu:0"
        else:
            device = "/cpu:0"
        return tf.distribute.OneDeviceStrategy(device)
    if name == "mirrored":
        if devices is None and not tf.config.list_logical_devices("GPU"):
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return _tpu_strategy(tf)


def _tpu_strategy(tf):
    tpu = _tpu_name()
    if tpu is None:
        raise ValueError(
            "Strategy 'tpu' found no TPU: set TPU_NAME to the TPU's name or "
            "address, or run on a Cloud TPU VM (/dev/accel0)."
        )
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError) as error:
        raise ValueError(f"Could not connect to the TPU {tpu!r}: {error}") from error
    return tf.distribute.TPUStrategy(resolver)


def _jax_distribution(name, devices):
    if name == "multi_worker":
        raise ValueError(
            "Strategy 'multi_worker' needs the TensorFlow backend "
            "(tf.distribute.MultiWorkerMirroredStrategy); with JAX use "
            "'mirrored' (keras.distribution.DataParallel) on one host."
        )
    available = keras.distribution.list_devices()  # ["cpu:0", ...]
    if name == "tpu" and not available[0].startswith("tpu"):
        raise ValueError(
            f"Strategy 'tpu' found no TPU; the JAX devices are {available}."
        )
    devices = list(devices) if devices is not None else available
    if name == "one_device":
        devices = devices[:1]
    return keras.distribution.DataParallel(devices=devices)
