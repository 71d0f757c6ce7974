"""`TimeBudget`: stop training after a wall-clock budget, and anneal the
learning rate so that its schedule ends when the budget does."""

import math
import time

import keras

from keras_attn.checks import check_number
from keras_attn.checks import check_positive_int


class TimeBudget(keras.callbacks.Callback):
    """Stop `fit` once `seconds` have passed; optionally, anneal the
    learning rate over whichever budget ends first, the steps or the time.

    A learning-rate schedule planned in steps (`keras.optimizers.schedules`)
    does not know about a time budget: when the time runs out first, on a
    slower machine, training stops with the learning rate still high, short
    of the low-rate steps at the end of the schedule that most of the final
    accuracy comes from. With `learning_rate` this callback drives the
    optimizer's learning rate itself: a linear warm-up from 0 to
    `learning_rate` over the first `warmup_fraction` of the run, then a
    cosine decay to `alpha * learning_rate` at its end, where the run's
    progress is the larger of

    - `step / total_steps` (the optimizer's iterations), and
    - `step / (step + rate * seconds_left)`: the share of the steps that
      fit in the budget at the rate measured so far in this `fit` (from
      the end of its first batch, so that compilation does not count;
      validation and callbacks do).

    Progress never goes back. Without `seconds` (or with `time_progress=False`)
    the learning rate is, within 0.1% of `learning_rate`,
    `keras.optimizers.schedules.CosineDecay(0.0, total_steps - warmup,
    alpha=alpha, warmup_target=learning_rate, warmup_steps=warmup)` with
    `warmup = warmup_fraction * total_steps`; with `steps_per_execution` it
    is set once per execution. The last learning rate of each epoch is logged
    as `learning_rate`. After `fit`, `stopped` says whether the time ended it.

    The model's optimizer must have a float learning rate (not a schedule);
    it is set before a batch whenever it moves by more than 0.1% of
    `learning_rate`, which on the JAX backend is also when the training
    state is synced to the variables. The step is the optimizer's
    `iterations`, read before the first batch (after `BackupAndRestore` has
    restored it, so a resumed `fit` goes on where the backup was, with a
    fresh time budget) and again after every epoch.

    In a multi-worker run pass `time_progress=False`: each worker has its
    own clock, and learning rates that differ between workers would let
    their weights drift apart (the time still stops training; the workers
    stop together).

    Args:
        seconds: the budget of one `fit`, in seconds; 0 for none.
        learning_rate: the peak learning rate, or None to leave the
            optimizer's alone.
        total_steps: the steps the run is planned for (with
            `learning_rate`): e.g. epochs × batches per epoch.
        warmup_fraction: the share of the run spent warming up, in [0, 1).
        alpha: the final learning rate as a fraction of `learning_rate`.
        time_progress: whether the time left counts in the progress (else
            the steps alone do).
        clock: a function returning seconds (`time.perf_counter`).

    Example:

    >>> import keras, numpy as np
    >>> from keras_attn.training import TimeBudget
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss="mse")
    >>> budget = TimeBudget(60, learning_rate=1e-2, total_steps=8,
    ...                     warmup_fraction=0.25)
    >>> x, y = np.ones((64, 2)), np.ones((64, 1))
    >>> history = model.fit(x, y, batch_size=16, epochs=2, verbose=0,
    ...                     callbacks=[budget])
    >>> [round(lr, 5) for lr in history.history["learning_rate"]]  # steps 3, 7
    [0.00933, 0.00067]
    """

    def __init__(
        self,
        seconds=0,
        learning_rate=None,
        total_steps=None,
        warmup_fraction=0.0,
        alpha=0.0,
        time_progress=True,
        clock=time.perf_counter,
    ):
        super().__init__()
        self.seconds = check_number(seconds, "seconds", low=0)
        if learning_rate is not None:
            learning_rate = check_number(
                learning_rate, "learning_rate", low=0, low_open=True
            )
            total_steps = check_positive_int(total_steps, "total_steps")
        elif total_steps is not None:
            raise ValueError(
                "`total_steps` plans the learning rate: pass `learning_rate` "
                f"with it; received total_steps={total_steps!r} alone."
            )
        self.learning_rate = learning_rate
        self.total_steps = total_steps
        self.warmup_fraction = check_number(
            warmup_fraction, "warmup_fraction", low=0, high=1, high_open=True
        )
        self.alpha = check_number(alpha, "alpha", low=0, high=1)
        self.time_progress = bool(time_progress)
        self.clock = clock
        self.elapsed = 0.0
        self.progress = 0.0
        self.stopped = False

    def rate_at(self, progress):
        """The learning rate at `progress` (a fraction of the run)."""
        if progress < self.warmup_fraction:
            return self.learning_rate * progress / self.warmup_fraction
        decay = (progress - self.warmup_fraction) / (1.0 - self.warmup_fraction)
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(decay, 1.0)))
        return self.learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)

    def on_train_begin(self, logs=None):
        self.start = self.clock()
        self.elapsed = 0.0
        self.stopped = False
        self._first = None  # (time, step) at the end of this fit's first batch
        if self.learning_rate is None:
            return
        # Read at the first batch, after BackupAndRestore's on_train_begin.
        self.step = None
        self.progress = 0.0
        self._set = None
        try:
            self.model.optimizer.learning_rate = self.rate_at(0.0)
        except TypeError as error:
            raise ValueError(
                "TimeBudget(learning_rate=...) sets the optimizer's learning "
                "rate: compile the model with an optimizer whose learning rate "
                f"is a float, not a schedule ({error})"
            ) from None

    def _iterations(self):
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def _progress(self, now):
        fraction = self.step / self.total_steps
        timed = self.seconds and self.time_progress and self._first is not None
        if timed and self.step > self._first[1]:
            rate = (self.step - self._first[1]) / max(now - self._first[0], 1e-9)
            left = max(self.seconds - (now - self.start), 0.0)
            fraction = max(fraction, self.step / (self.step + rate * left))
        self.progress = max(self.progress, min(fraction, 1.0))
        return self.progress

    def _apply(self, rate):
        if self._set is None or abs(rate - self._set) > 1e-3 * self.learning_rate:
            self.model.optimizer.learning_rate = rate
            self._set = rate

    def on_train_batch_begin(self, batch, logs=None):
        self._batch = batch
        if self.learning_rate is not None:
            if self.step is None:
                self.step = self._iterations()
            self._apply(self.rate_at(self._progress(self.clock())))

    def on_train_batch_end(self, batch, logs=None):
        now = self.clock()
        self.elapsed = now - self.start
        if self.learning_rate is not None:
            # `batch` - `_batch` + 1 steps, unless the epoch ended inside
            # this execution (steps_per_execution): on_epoch_end recounts.
            self.step += batch - self._batch + 1
            if self._first is None:
                self._first = (now, self.step)
        if self.seconds and self.elapsed > self.seconds:
            self.model.stop_training = True
            self.stopped = True

    def on_epoch_end(self, epoch, logs=None):
        if self.learning_rate is None or self.step is None:
            return
        self.step = self._iterations()
        if logs is not None:
            logs["learning_rate"] = float(self._set)
