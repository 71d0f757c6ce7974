"""Distributed training and crash recovery in real processes.

MirroredStrategy on 2 logical CPU devices, MultiWorkerMirroredStrategy on 2
localhost workers, and a training process killed with SIGKILL then
restarted. Each compares with a single-device run of the same model, data
and global batch in this process (`worker.train`), the independent
reference: plain one-replica training, or Keras's own `fit`.
"""

import os
import time

import numpy as np
import pytest

from tests.training import launch
from tests.training import worker

pytestmark = pytest.mark.tf_only

GLOBAL_BATCH = 32
TIMEOUT = 240  # Seconds: generous for 2 shared cores, still bounded.


def reference(tmp_path, entry="fit_distributed", strategy="default", **config):
    """The single-device run, in this process."""
    config = (
        dict(out=str(tmp_path), batch_size=GLOBAL_BATCH, entry=entry, strategy=strategy)
        | config
    )
    result = worker.train(config)
    return result, result.pop("weights")


def test_mirrored_two_devices_equals_one_device(tmp_path):
    """Keras's fit on 2 replicas x 16 == on 1 device x 32; and with a boolean
    input, where Keras's fit fails on 2 replicas, `training.fit` (through
    `fit_distributed`) == `fit_distributed` on one device."""
    common = dict(out=str(tmp_path), strategy="mirrored", batch_size=GLOBAL_BATCH)
    configs = [
        dict(common, name="keras_fit", entry="keras_fit", epochs=2, logical_cpus=2),
        dict(common, name="bool_training_fit", entry="training_fit", epochs=2)
        | dict(tiny=True),
        # Last: a collective that failed would poison the ones after it.
        dict(common, name="bool_fit", entry="keras_fit", epochs=1, tiny=True)
        | dict(expect_error=True),
    ]
    process = launch.start(configs, str(tmp_path))
    # Under any tf.distribute strategy Keras's fit draws one batch to build
    # the model first, which moves a reshuffling dataset on to its next
    # order: the single-device reference runs under OneDeviceStrategy too.
    single_fit = reference(tmp_path, "keras_fit", "one_device", epochs=2)
    single_bool = reference(tmp_path, epochs=2, tiny=True)
    launch.wait_ok(process, TIMEOUT)

    failed, _ = launch.load(str(tmp_path), "bool_fit", weights=False)
    assert "InvalidArgumentError" in failed["error"]
    assert "attr 'T' of bool is not in the list" in failed["error"]
    for name, (single, weights) in (
        ("keras_fit", single_fit),
        ("bool_training_fit", single_bool),
    ):
        result, mirrored = launch.load(str(tmp_path), name)
        assert result["replicas"] == 2, name
        assert result["iterations"] == single["iterations"] == 2 * 8, name
        assert launch.max_difference(mirrored, weights) < 1e-5, name
        for key, values in single["history"].items():
            assert result["history"][key] == pytest.approx(values, rel=1e-5), name


def test_two_workers_train_like_one(tmp_path):
    """2 workers x 16 examples == 1 worker x 32, through `training.fit`.

    Worker 1 alone stops training after step 12 of 16 (as a time budget
    would): both must stop there, or worker 0 would wait forever in the
    next all-reduce (bounded here by the timeout).
    """
    ports = launch.free_ports(2)
    backup = str(tmp_path / "backup")
    processes = []
    for index in range(2):
        out = str(tmp_path / f"worker{index}")
        config = dict(
            out=out,
            strategy="multi_worker",
            entry="training_fit",
            epochs=2,
            batch_size=GLOBAL_BATCH,
            checkpoint_dir=backup,
            save_freq=3,
            stop_after=12 if index == 1 else None,
        )
        env = {"TF_CONFIG": launch.tf_config(ports, index)}
        processes.append(launch.start([config], out, env=env))
    single, single_weights = reference(tmp_path, epochs=2, stop_after=12)
    for process in processes:
        launch.wait_ok(process, TIMEOUT)

    (first, weights0), (second, weights1) = (
        launch.load(str(tmp_path / f"worker{i}"), "result") for i in range(2)
    )
    assert first["replicas"] == second["replicas"] == 2
    # All-reduced gradients: the two copies of the model stay bit-identical.
    assert launch.max_difference(weights0, weights1) == 0.0
    assert launch.max_difference(weights0, single_weights) < 1e-5
    assert first["iterations"] == second["iterations"] == 12
    assert single["iterations"] == 12
    assert len(first["history"]["loss"]) == 2  # Epoch 0, and 4 steps of 1.
    for key, values in single["history"].items():
        assert first["history"][key] == pytest.approx(values, rel=1e-5)
    assert not os.path.exists(backup)  # Deleted once training ended.


def test_killed_process_resumes_mid_epoch_exactly(tmp_path):
    """SIGKILL after step 8 of 15; the last checkpoint was at step 6.

    The restarted process must go on from epoch 1, batch 1 (global step 6),
    redo steps 6 and 7 on the same batches, and end like a run that was never
    interrupted: same step count, history and weights.
    """
    config = dict(
        out=str(tmp_path),
        strategy="default",
        epochs=3,
        steps_per_epoch=5,
        batch_size=GLOBAL_BATCH,
        checkpoint_dir=str(tmp_path / "checkpoints"),
        save_freq=3,
    )
    process = launch.start([dict(config, touch_after=8)], str(tmp_path), "first")
    launch.wait_for_file(str(tmp_path / "touched"), process, TIMEOUT)
    launch.kill(process)  # Mid-epoch 1, two steps after the last checkpoint.
    assert process.returncode == -9
    restarted = launch.start([config], str(tmp_path), "restarted")
    single, single_weights = reference(
        tmp_path, epochs=3, steps_per_epoch=5, name="reference"
    )
    launch.wait_ok(restarted, TIMEOUT)

    result, weights = launch.load(str(tmp_path), "result")
    expected_steps = [[1, b] for b in range(1, 5)] + [[2, b] for b in range(5)]
    assert result["steps"] == expected_steps
    assert result["iterations"] == single["iterations"] == 15
    assert result["history"] == single["history"]  # All 3 epochs, exactly.
    assert launch.max_difference(weights, single_weights) < 1e-6


@pytest.mark.slow  # test_killed_process_resumes_mid_epoch_exactly covers resume.
def test_killed_worker_job_restarts_and_completes(tmp_path):
    """Kill worker 1 of 2 mid-epoch: worker 0's next all-reduce fails, the
    job exits; restarting both workers resumes from the chief's checkpoint."""
    checkpoints = str(tmp_path / "checkpoints")

    def start_job(name, touch_after=None):
        ports = launch.free_ports(2)
        processes = []
        for index in range(2):
            out = str(tmp_path / f"worker{index}")
            config = dict(
                out=out,
                strategy="multi_worker",
                epochs=3,
                steps_per_epoch=5,
                batch_size=GLOBAL_BATCH,
                checkpoint_dir=checkpoints,
                save_freq=3,
                touch_after=touch_after if index == 1 else None,
            )
            env = {"TF_CONFIG": launch.tf_config(ports, index)}
            processes.append(launch.start([config], out, name, env=env))
        return processes

    chief, other = start_job("first", touch_after=8)
    launch.wait_for_file(str(tmp_path / "worker1" / "touched"), other, TIMEOUT)
    launch.kill(other)
    # The survivor's next all-reduce has no peer: it fails, it does not hang
    # (TensorFlow's heartbeats notice the dead task).
    assert launch.wait(chief, TIMEOUT) != 0
    log = launch.log_tail(chief, 200)
    assert "UnavailableError" in log and "stopped sending heartbeats" in log, log

    processes = start_job("restarted")
    single, single_weights = reference(tmp_path, epochs=3, steps_per_epoch=5)
    for process in processes:
        launch.wait_ok(process, TIMEOUT)
    results = [launch.load(str(tmp_path / f"worker{i}"), "result") for i in range(2)]
    for result, weights in results:
        assert result["steps"][0] == [1, 1]  # From the checkpoint of step 6.
        assert result["iterations"] == 15
        assert launch.max_difference(weights, single_weights) < 1e-5
        for key, values in single["history"].items():
            assert result["history"][key] == pytest.approx(values, rel=1e-5)
    assert launch.max_difference(results[0][1], results[1][1]) == 0.0


def kill_and_restart(tmp_path, config, kill_plan, timeout=TIMEOUT):
    """Runs `config` to the end through a kill per entry of `kill_plan`.

    An entry is `("write", k)`: the process kills itself at its `k`-th
    backup fsync, in the middle of a write; or `("step", n, seconds)`: the
    test SIGKILLs it `seconds` after its `n`-th step (wherever it then is,
    often inside a checkpoint write). Returns the kills that happened and
    the final result and weights.
    """
    kills = 0
    for i, plan in enumerate(kill_plan):
        progress = tmp_path / "progress"
        progress.unlink(missing_ok=True)
        run = dict(config, name=f"run{i}", progress=True)
        if plan[0] == "write":
            run["die_in_write"] = plan[1]
        process = launch.start([run], str(tmp_path), f"run{i}")
        if plan[0] == "step":
            deadline = time.monotonic() + timeout
            while process.poll() is None and time.monotonic() < deadline:
                if (
                    progress.exists()
                    and len(progress.read_text().splitlines()) >= plan[1]
                ):
                    time.sleep(plan[2])
                    break
                time.sleep(0.005)
            launch.kill(process)
        else:
            launch.wait(process, timeout)
        if process.returncode == 0:  # It finished before the kill came.
            return kills, *launch.load(str(tmp_path), f"run{i}")
        assert process.returncode == -9, launch.log_tail(process)
        kills += 1
    final = launch.start([dict(config, name="final")], str(tmp_path), "final")
    launch.wait_ok(final, timeout)
    return kills, *launch.load(str(tmp_path), "final")


def test_killed_during_backup_writes_resumes_to_the_same_weights(tmp_path):
    """`training.fit` killed inside backup writes (after the weights file,
    after the metadata, before and after the rename): every restart resumes,
    and the final weights are those of an unbroken run."""
    config = dict(
        out=str(tmp_path),
        entry="training_fit",
        epochs=3,
        batch_size=GLOBAL_BATCH,
        checkpoint_dir=str(tmp_path / "backup"),
        tiny=True,
        shuffle=False,
    )
    # Fsync calls per backup: weights, metadata, folder, parent (4 a save).
    plan = [("write", 1), ("write", 7), ("write", 4)]
    kills, result, weights = kill_and_restart(tmp_path, config, plan)
    single, single_weights = reference(
        tmp_path, "training_fit", epochs=3, tiny=True, shuffle=False, name="reference"
    )
    assert kills == 3
    assert result["iterations"] == single["iterations"]
    assert launch.max_difference(weights, single_weights) < 1e-6


def random_kill_plan(seed, kills, steps):
    rng = np.random.default_rng(seed)
    return [
        ("step", int(rng.integers(1, steps)), float(rng.uniform(0, 0.05)))
        for _ in range(kills)
    ]


def check_random_kills(tmp_path, kills, seed, epochs=3):
    config = dict(
        out=str(tmp_path),
        strategy="default",
        epochs=epochs,
        steps_per_epoch=5,
        batch_size=GLOBAL_BATCH,
        checkpoint_dir=str(tmp_path / "checkpoints"),
        save_freq=1,  # A checkpoint every step: kills often land in writes.
        tiny=True,
    )
    done, result, weights = kill_and_restart(
        tmp_path, config, random_kill_plan(seed, kills, steps=4)
    )
    single, single_weights = reference(
        tmp_path, epochs=epochs, steps_per_epoch=5, tiny=True, name="reference"
    )
    assert done >= 1
    assert result["iterations"] == single["iterations"] == 5 * epochs
    difference = launch.max_difference(weights, single_weights)
    print(f"{done} kills, final weights differ by {difference}")
    assert difference < 1e-6
    return done


def test_random_kills_resume_to_the_same_weights(tmp_path):
    """`fit_distributed` with a checkpoint every step, SIGKILLed at random
    moments (seeded) 3 times: the final weights equal an unbroken run's."""
    check_random_kills(tmp_path, kills=3, seed=0)


@pytest.mark.slow  # test_random_kills_resume_to_the_same_weights, 3 kills.
def test_many_random_kills_resume_to_the_same_weights(tmp_path):
    # 60 steps: enough that 20 kills (each after 1-3 steps) all land.
    assert check_random_kills(tmp_path, kills=20, seed=1, epochs=12) == 20
