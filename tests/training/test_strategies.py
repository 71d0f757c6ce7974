"""Choosing strategies, replicas, global batches, precision and sharding."""

import json

import keras
import numpy as np
import pytest

from keras_attn import training
from keras_attn.models import RNNSeq2Seq
from keras_attn.training import strategies

TWO_WORKERS = json.dumps(
    {
        "cluster": {"worker": ["localhost:1", "localhost:2"]},
        "task": {"type": "worker", "index": 0},
    }
)


def test_unknown_strategy_names_the_choices():
    with pytest.raises(ValueError, match="'mirorred'.*'mirrored'"):
        training.get_strategy("mirorred")


def test_tpu_without_a_tpu_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TPU_NAME", raising=False)
    monkeypatch.delenv("COLAB_TPU_ADDR", raising=False)
    with pytest.raises(ValueError, match="found no TPU"):
        training.get_strategy("tpu")


def test_one_device_and_auto_have_one_replica_here(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    for name in ("one_device", "auto", "mirrored"):
        strategy = training.get_strategy(name)
        assert training.num_replicas(strategy) == 1, name  # One CPU device.
        assert training.is_chief(strategy)
        assert training.num_workers(strategy) == 1
        assert training.global_batch_size(16, strategy) == 16


def test_workers_are_counted_from_tf_config(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", TWO_WORKERS)
    assert training.num_workers() == 2
    monkeypatch.setenv("TF_CONFIG", "not json")
    with pytest.raises(ValueError, match="TF_CONFIG must be a JSON"):
        training.num_workers()
    monkeypatch.delenv("TF_CONFIG")
    assert training.num_workers() == 1


def test_global_batch_is_per_replica_batch_times_replicas():
    class FourReplicas:
        num_replicas_in_sync = 4

    assert training.global_batch_size(8, FourReplicas()) == 32
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="positive int"):
            training.global_batch_size(bad, FourReplicas())
    with pytest.raises(TypeError, match="received str"):
        training.num_replicas("mirrored")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.distribute")
def test_tensorflow_strategies_are_the_named_classes(monkeypatch):
    import tensorflow as tf

    monkeypatch.delenv("TF_CONFIG", raising=False)
    one = training.get_strategy("one_device")
    assert isinstance(one, tf.distribute.OneDeviceStrategy)
    assert isinstance(training.get_strategy("mirrored"), tf.distribute.MirroredStrategy)
    assert training.get_strategy("auto") is tf.distribute.get_strategy()
    # "auto" picks multi-worker from TF_CONFIG (not built here: it would
    # start a server and wait for the other worker).
    monkeypatch.setenv("TF_CONFIG", TWO_WORKERS)
    assert strategies._workers_in_tf_config() == 2
    with pytest.raises(ValueError, match="`devices` applies to"):
        training.get_strategy("multi_worker", devices=["/cpu:0"])


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX distribution")
def test_jax_strategies_are_data_parallel():
    distribution = training.get_strategy("mirrored")
    assert isinstance(distribution, keras.distribution.DataParallel)
    assert training.num_replicas(distribution) == len(keras.distribution.list_devices())
    assert training.num_replicas(training.get_strategy("one_device")) == 1
    with pytest.raises(ValueError, match="needs the TensorFlow backend"):
        training.get_strategy("multi_worker")


def test_unknown_precision_names_the_choices():
    with pytest.raises(ValueError, match="'float16'.*'mixed_float16'"):
        training.set_precision("float16")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_models_compute_in_half_and_keep_float32_weights(policy):
    training.set_precision(policy)
    model = RNNSeq2Seq(vocabulary_size=20, embedding_dim=8, hidden_dim=16)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    compute = policy.split("_")[1]
    assert model.dtype_policy.name == policy
    assert all(w.dtype == "float32" for w in model.weights)
    x = {"source": np.array([[5, 6, 0]]), "target_in": np.array([[2, 4]])}
    assert keras.backend.standardize_dtype(model(x).dtype) == compute
    is_scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert is_scaled == (policy == "mixed_float16")


@pytest.mark.tf_only
def test_shard_sets_the_auto_shard_policy():
    import tensorflow as tf

    ds = tf.data.Dataset.range(4).batch(2)
    for policy in training.SHARD_POLICIES:
        option = training.shard(ds, policy).options().experimental_distribute
        assert option.auto_shard_policy.name == policy.upper()
    with pytest.raises(ValueError, match="'rows'"):
        training.shard(ds, "rows")
    with pytest.raises(TypeError, match="received list"):
        training.shard([1, 2], "data")
