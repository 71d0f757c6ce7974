"""Datasets under a strategy: global batches, sharded across workers."""

SHARD_POLICIES = ("auto", "data", "file", "off")


def shard(dataset, policy="data"):
    """`dataset` with its multi-worker auto-shard policy set explicitly.

    A multi-worker strategy splits the input among the workers following
    `tf.data.Options().experimental_distribute.auto_shard_policy`:

    - `"data"`: every worker runs the whole pipeline and keeps its share of
      each global batch; right for datasets made in memory
      (`from_tensor_slices`, generated examples), and exact: the workers
      together see each global batch once.
    - `"file"`: each worker reads its own subset of the input files; cheaper,
      but needs at least as many files as workers, and the batches then
      differ from a single-worker run.
    - `"auto"`: `"file"` where the pipeline reads files, else `"data"`
      (with a warning); `"off"`: every worker sees everything.

    Single-worker strategies (one device, mirrored) ignore the policy.

    Args:
        dataset: a `tf.data.Dataset` of global batches.
        policy: one of `SHARD_POLICIES`.

    Returns:
        The same dataset with the option set.

    Example:

    >>> import tensorflow as tf
    >>> from keras_attn import training
    >>> ds = training.shard(tf.data.Dataset.range(8).batch(4))
    >>> ds.options().experimental_distribute.auto_shard_policy.name
    'DATA'
    """
    import tensorflow as tf

    if policy not in SHARD_POLICIES:
        raise ValueError(
            f"Unknown shard policy {policy!r}; expected one of {list(SHARD_POLICIES)}."
        )
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(
            f"Expected a tf.data.Dataset; received {type(dataset).__name__}."
        )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = getattr(
        tf.data.experimental.AutoShardPolicy, policy.upper()
    )
    return dataset.with_options(options)
