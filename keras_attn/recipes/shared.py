"""What the text examples share: the corpus cache, callbacks, plots, and
distribution (strategy, mixed precision, backups). Their flags are in
`keras_attn_cli.recipe_flags`."""

import os
import time

import keras
import numpy as np

from keras_attn import training
from keras_attn.data import corpora
from keras_attn.data import synthetic_corpus


def distribute(args):
    """The strategy of `--strategy`, set up once with the other flags
    (`training.from_flags`): call it before building any model."""
    return training.from_flags(args)


def corpus_dir(args):
    """The real cache, or a tiny synthetic one in the output folder (--tiny)."""
    if args.tiny:
        return synthetic_corpus.make_tiny_cache(
            os.path.join(args.output_dir, "tiny_corpus")
        )
    return corpora.resolve_cache_dir(args.data_dir)


def training_callbacks(args, name, budget):
    """TensorBoard logs, a weights checkpoint per epoch and `budget` (a
    `training.TimeBudget`).

    In a multi-worker job only the chief writes logs and checkpoints.
    """
    if not training.is_chief(distribute(args)):
        return [budget]
    logs = os.path.join(args.output_dir, "logs", name)
    checkpoint = os.path.join(args.output_dir, "checkpoints", f"{name}.weights.h5")
    os.makedirs(os.path.dirname(checkpoint), exist_ok=True)
    # The budget first: the learning rate it logs reaches the other two.
    return [
        budget,
        keras.callbacks.TensorBoard(logs),
        keras.callbacks.ModelCheckpoint(checkpoint, save_weights_only=True),
    ]


def plot_attention(weights, rows, columns, title, path, xlabel, ylabel):
    """A heatmap of `(len(rows), len(columns))` attention weights."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weights = weights[: len(rows), : len(columns)]
    fig, ax = plt.subplots(figsize=(0.32 * len(columns) + 2.0, 0.32 * len(rows) + 1.5))
    ax.imshow(weights, cmap="viridis", aspect="auto", vmin=0, vmax=1)
    ax.set_xticks(range(len(columns)), columns, rotation=90)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def as_text(detokenized):
    """A detokenizer's output (tensor, bytes or str) as a Python str."""
    if hasattr(detokenized, "numpy"):
        detokenized = detokenized.numpy()
    if isinstance(detokenized, bytes):
        return detokenized.decode("utf-8", errors="replace")
    return str(detokenized)


def warmup_optimizer(args, decay_steps=100_000, alpha=0.0):
    """AdamW with a linear warm-up to `args.learning_rate`, then cosine decay."""
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=decay_steps,
        warmup_target=args.learning_rate,
        warmup_steps=args.warmup_steps,
        alpha=alpha,
    )
    return keras.optimizers.AdamW(schedule, weight_decay=0.01, clipnorm=1.0)


def time_budget(args, steps):
    """A `training.TimeBudget` of `--minutes` that also drives the learning
    rate: a linear warm-up over `--warmup-fraction` of the run, then a cosine
    decay to 0 at its end, after `steps` or `--minutes`, whichever comes
    first (the steps alone with several workers, whose clocks differ).
    Compile with a float learning rate (e.g. `keras.optimizers.AdamW(
    args.learning_rate)`): the budget sets it before every step."""
    return training.TimeBudget(
        args.minutes * 60,
        learning_rate=args.learning_rate,
        total_steps=steps,
        warmup_fraction=args.warmup_fraction,
        time_progress=training.num_workers(distribute(args)) == 1,
    )


def fit(
    model, args, train_data, validation_data, name, extra_callbacks=(), budget=None
):
    """`training.fit` within `args.minutes`, with logs, checkpoints and a
    backup that a restarted run resumes from (`output_dir/backup/NAME`).
    `budget` is a `training.TimeBudget` that also drives the learning rate
    (default: one that only stops training after `args.minutes`).

    Returns the Keras history dict and the training seconds.
    """
    if budget is None:
        budget = training.TimeBudget(args.minutes * 60)
    callbacks = training_callbacks(args, name, budget)
    start = time.perf_counter()
    history = training.fit(
        model,
        train_data,
        epochs=args.epochs,
        strategy=distribute(args),
        backup_dir=os.path.join(args.output_dir, "backup", name),
        save_freq=args.save_freq,
        validation_data=validation_data,
        callbacks=callbacks + list(extra_callbacks),
        verbose=args.verbose,
    )
    seconds = round(time.perf_counter() - start, 1)
    schedule_cut_short(model, budget)
    return history, seconds


def schedule_cut_short(model, budget):
    """A warning, printed and returned (else None), when `budget` (a
    `training.TimeBudget`) stopped training while the optimizer's
    learning-rate schedule still had more than a tenth of its largest rate
    from here on to move, up or down: a schedule planned in steps does not
    know the time budget, and such a run misses the rest of it, e.g. the
    low-rate steps at its end that most of the final accuracy comes from.
    """
    # A LossScaleOptimizer (mixed_float16) keeps the rate in its inner one.
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    config = optimizer.get_config().get("learning_rate")
    if not budget.stopped or not isinstance(config, dict):  # a float rate
        return None
    try:
        schedule = keras.saving.deserialize_keras_object(config)
        step = int(keras.ops.convert_to_numpy(optimizer.iterations))
        # The rate now and at steps doubling from here to ~10^12.
        rates = [
            float(keras.ops.convert_to_numpy(schedule(float(at))))
            for at in [step] + [(step + 1) * 2.0**k for k in range(1, 41)]
        ]
    except Exception:  # e.g. an unregistered custom schedule: no diagnosis
        return None
    rate = rates[0]
    if max(abs(r - rate) for r in rates) <= 0.1 * max(rates):
        return None
    message = (
        f"keras_attn: the --minutes budget stopped training at step {step}, "
        f"with the learning rate at {rate:.3g}: its schedule was planned for "
        f"more steps (it would have gone on to {rates[-1]:.3g}), and the "
        "rest of it is missing: raise --minutes or plan fewer steps."
    )
    print(message)
    return message


def plot_learning_curves(histories, path, metrics=("loss", "val_loss")):
    """One panel per metric, one line per run, over the epochs (or the
    evaluation rounds) of each run's Keras history dict."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.8))
    for ax, metric in zip(list(np.ravel(axes)), metrics):
        for name, history in histories.items():
            if metric in history:
                rounds = range(1, len(history[metric]) + 1)
                ax.plot(rounds, history[metric], marker="o", label=name)
        ax.set(xlabel="epoch", title=metric.replace("_", " "))
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_heads(scores, labels, title, path):
    """One heatmap per head of `(N, T, T)` self-attention weights."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heads = scores.shape[0]
    cols = min(heads, 4)
    rows = -(-heads // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.4 * rows))
    for head, ax in enumerate(np.ravel(axes)):
        ax.imshow(scores[head], cmap="viridis", vmin=0, vmax=1)
        ax.set_title(f"head {head}")
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
        ax.set_yticks(range(len(labels)), labels, fontsize=6)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
