"""What each backend can do: JAX data parallelism, TF-only entry points."""

import os
import subprocess
import sys

import keras
import pytest

from keras_attn import training

# Runs with 2 host devices (the flag must be set before JAX starts): a
# DataParallel run and a one-device run of the same model, data and global
# batch, printed as max |difference| of the weights.
DATA_PARALLEL = """
import numpy as np, keras
from keras_attn import training
from keras_attn.data import dates
from keras_attn.models import RNNSeq2Seq

x, y = dates.arrays(dates.generate_pairs(128, seed=0))
runs = []
for name in ("mirrored", "one_device"):
    strategy = training.get_strategy(name)
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = RNNSeq2Seq(len(dates.VOCABULARY), embedding_dim=8, hidden_dim=16)
        model.compile(
            optimizer=keras.optimizers.Adam(0.01),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    history = training.fit(
        model, (x, y), epochs=2, strategy=strategy, verbose=0
    )
    devices = len(model.weights[0].value.sharding.device_set)
    runs.append((training.num_replicas(strategy), devices, history["loss"],
                 [np.asarray(w) for w in model.get_weights()]))
(replicas, devices, loss, weights), (_, one_devices, one_loss, one_weights) = runs
print("replicas", replicas, "devices", devices, one_devices)
print("loss", max(abs(a - b) for a, b in zip(loss, one_loss)))
print("weights", max(float(np.abs(a - b).max()) for a, b in zip(weights, one_weights)))
"""


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="the JAX run")
def test_jax_data_parallel_trains_like_one_device():
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        XLA_FLAGS=os.environ.get("XLA_FLAGS", "")
        + " --xla_force_host_platform_device_count=2",
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    done = subprocess.run(
        [sys.executable, "-c", DATA_PARALLEL],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert lines["replicas"] == "2 devices 2 1"  # Weights on both devices.
    assert float(lines["loss"]) < 1e-5
    assert float(lines["weights"]) < 1e-5


@pytest.mark.skipif(keras.backend.backend() == "tensorflow", reason="not TF")
def test_fit_distributed_needs_tensorflow():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="needs KERAS_BACKEND=tensorflow"):
        training.fit_distributed(model, None)
