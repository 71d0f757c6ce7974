"""`training.TimeBudget`: the learning rate it sets is the one the optimizer
uses, equal to Keras's `CosineDecay` when only steps count, and annealed to
its end when the time budget runs out first (a fake clock).

The model is one weight `w` with loss `w` (gradient 1), trained by plain
SGD, so after each step `w` has moved by exactly that step's learning rate:
the rates the optimizer applied are read off the weight, on every backend
(on JAX the training state lives outside the variables during `fit`).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attn import training
from keras_attn.training import TimeBudget
from tests.training.worker import Crash


def one_weight_model(steps_per_execution=1):
    model = keras.Sequential(
        [
            keras.Input((1,)),
            keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=lambda y_true, y_pred: keras.ops.mean(y_pred),
        steps_per_execution=steps_per_execution,
    )
    return model


class WeightTrace(keras.callbacks.Callback):
    """The weight after every batch."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append(float(self.model.layers[0].kernel.numpy()[0, 0]))


def applied_rates(weights):
    """The learning rate of each step: how far the weight moved (w0 = 0)."""
    return -np.diff(np.concatenate([[0.0], weights]))


class Tick(keras.callbacks.Callback):
    """A fake clock: the first batch takes `first` seconds (compilation),
    every later one `step` seconds."""

    def __init__(self, first, step):
        super().__init__()
        self.now, self.first, self.step, self.batches = 0.0, first, step, 0

    def __call__(self):
        return self.now

    def on_train_batch_end(self, batch, logs=None):
        self.now += self.first if self.batches == 0 else self.step
        self.batches += 1


def data(steps):
    ones = np.ones((steps, 1), "float32")
    return ones, ones


def kernel(model):
    return float(keras.ops.convert_to_numpy(model.layers[0].kernel)[0, 0])


@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_steps_only_is_keras_cosine_decay(alpha):
    total, warmup = 20, 4
    budget = TimeBudget(
        learning_rate=0.1,
        total_steps=total,
        warmup_fraction=warmup / total,
        alpha=alpha,
    )
    trace = WeightTrace()
    model = one_weight_model()
    history = model.fit(
        *data(10), batch_size=1, epochs=2, verbose=0, callbacks=[budget, trace]
    )
    reference = keras.optimizers.schedules.CosineDecay(
        0.0, total - warmup, alpha=alpha, warmup_target=0.1, warmup_steps=warmup
    )
    expected = np.array([float(reference(step)) for step in range(total)])
    rates = applied_rates(trace.weights)
    # The rate is set when it moves by more than 0.1% of the peak.
    np.testing.assert_allclose(rates, expected, atol=1e-4 + 1e-6)
    assert history.history["learning_rate"][-1] == pytest.approx(expected[-1], abs=1e-4)
    assert budget.step == total
    # Alone (WeightTrace reads the model after every batch, which on JAX
    # syncs the training state): the rates reach the optimizer all the same.
    model = one_weight_model()
    budget = TimeBudget(
        learning_rate=0.1,
        total_steps=total,
        warmup_fraction=warmup / total,
        alpha=alpha,
    )
    model.fit(*data(10), batch_size=1, epochs=2, verbose=0, callbacks=[budget])
    assert kernel(model) == pytest.approx(-expected.sum(), abs=total * 1e-4)


def test_time_budget_anneals_to_its_end_and_stops():
    # 10 s for the first batch, then 1 s a batch, 30 s in all: 21 steps fit
    # (the 22nd ends past the budget and stops the run), far fewer than the
    # 1,000 planned, so the time decides.
    clock = Tick(first=10.0, step=1.0)
    budget = TimeBudget(30, learning_rate=0.1, total_steps=1000, clock=clock)
    trace = WeightTrace()
    model = one_weight_model()
    model.fit(*data(1000), batch_size=1, verbose=0, callbacks=[clock, budget, trace])
    rates = applied_rates(trace.weights)
    assert len(rates) == 22
    reference = keras.optimizers.schedules.CosineDecay(0.1, 21)
    # Before a rate is measured (steps 0 and 1) progress is step / 1000;
    # from step 2 on, step / (step + rate * seconds left) = step / 21.
    expected = [float(reference(s * 21 / 1000)) for s in (0, 1)]
    expected += [float(reference(s)) for s in range(2, 22)]
    np.testing.assert_allclose(rates, expected, atol=1e-4 + 1e-6)
    assert rates[-1] < 1e-4  # the last step is at the end of the schedule
    assert budget.progress == 1.0


def test_time_progress_off_follows_the_steps_and_still_stops():
    # As in a multi-worker run: the steps alone set the rate.
    clock = Tick(first=10.0, step=1.0)
    budget = TimeBudget(
        30, learning_rate=0.1, total_steps=40, time_progress=False, clock=clock
    )
    trace = WeightTrace()
    model = one_weight_model()
    model.fit(*data(1000), batch_size=1, verbose=0, callbacks=[clock, budget, trace])
    reference = keras.optimizers.schedules.CosineDecay(0.1, 40)
    expected = [float(reference(s)) for s in range(22)]
    np.testing.assert_allclose(applied_rates(trace.weights), expected, atol=1e-4 + 1e-6)


def test_without_learning_rate_it_only_stops():
    clock = Tick(first=1.0, step=1.0)
    budget = TimeBudget(5, clock=clock)
    trace = WeightTrace()
    model = one_weight_model()
    model.fit(*data(100), batch_size=1, verbose=0, callbacks=[clock, budget, trace])
    np.testing.assert_allclose(applied_rates(trace.weights), [0.5] * 6, atol=1e-6)


def test_a_second_fit_goes_on_from_the_optimizer_iterations():
    total = 12
    budget = TimeBudget(learning_rate=0.1, total_steps=total)
    trace = WeightTrace()
    model = one_weight_model()
    for _ in range(2):  # as a run resumed from a backup: iterations 6, then 12
        model.fit(*data(6), batch_size=1, verbose=0, callbacks=[budget, trace])
    reference = keras.optimizers.schedules.CosineDecay(0.1, total)
    expected = [float(reference(step)) for step in range(total)]
    np.testing.assert_allclose(applied_rates(trace.weights), expected, atol=1e-4 + 1e-6)


def test_a_fit_resumed_from_a_backup_goes_on_with_the_schedule(tmp_path):
    total, backup = 12, str(tmp_path / "backup")
    batches = tf.data.Dataset.from_tensor_slices(data(6)).batch(1)

    def fit(model, callbacks):
        budget = TimeBudget(learning_rate=0.1, total_steps=total)
        training.fit(
            model,
            batches,
            epochs=2,
            backup_dir=backup,
            callbacks=[budget, *callbacks],
            verbose=0,
        )

    with pytest.raises(RuntimeError, match="crash"):
        fit(one_weight_model(), [Crash(epoch=1, batch=2)])
    model = one_weight_model()  # a new process: a new model and callback
    fit(model, [])
    # The backup after epoch 0 holds steps 0-5; epoch 1 runs again as steps
    # 6-11, not from the warm-up.
    reference = keras.optimizers.schedules.CosineDecay(0.1, total)
    expected = sum(float(reference(step)) for step in range(total))
    assert kernel(model) == pytest.approx(-expected, abs=total * 1e-4)


@pytest.mark.parametrize("steps, epochs", [(12, 1), (10, 2)])
def test_steps_per_execution_counts_every_step(steps, epochs):
    # 10 batches in executions of 4 end with one of 2 (Keras reports 4).
    budget = TimeBudget(learning_rate=0.1, total_steps=steps * epochs)
    model = one_weight_model(steps_per_execution=4)
    model.fit(*data(steps), batch_size=1, epochs=epochs, verbose=0, callbacks=[budget])
    assert budget.step == steps * epochs


def test_a_scheduled_optimizer_is_refused():
    model = one_weight_model()
    schedule = keras.optimizers.schedules.CosineDecay(0.1, 10)
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    budget = TimeBudget(learning_rate=0.1, total_steps=10)
    with pytest.raises(ValueError, match="whose learning rate is a float"):
        model.fit(*data(4), batch_size=1, verbose=0, callbacks=[budget])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(seconds=-1), "`seconds` must be a finite number in \\[0"),
        (dict(learning_rate=0.0, total_steps=5), "`learning_rate` must be"),
        (dict(learning_rate=0.1), "`total_steps` must be a positive int"),
        (dict(total_steps=5), "pass `learning_rate` with it"),
        (
            dict(learning_rate=0.1, total_steps=5, warmup_fraction=1.0),
            "warmup_fraction",
        ),
        (dict(learning_rate=0.1, total_steps=5, alpha=2.0), "`alpha` must be"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TimeBudget(**kwargs)
