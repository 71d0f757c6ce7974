"""What the text examples share: flags, the corpus cache, callbacks, plots."""

import os
import time

import keras

from keras_attn.data import corpora


def add_common_flags(parser, output_dir):
    """Flags every text example takes."""
    parser.add_argument(
        "--data-dir",
        default=None,
        help="corpus cache of `make data` (default $KERAS_ATTN_DATA or "
        "~/.cache/keras_attn)",
    )
    parser.add_argument("--output-dir", default=output_dir)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1, help="fit progress bar")
    parser.add_argument("--no-jit", dest="jit_compile", action="store_false")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="a smoke run of seconds on a tiny synthetic corpus",
    )


def corpus_dir(args):
    """The real cache, or a tiny synthetic one in the output folder (--tiny)."""
    if args.tiny:
        return corpora.make_tiny_cache(os.path.join(args.output_dir, "tiny_corpus"))
    return corpora.resolve_cache_dir(args.data_dir)


class TimeBudget(keras.callbacks.Callback):
    """Stops training once `seconds` of training have passed (0: never)."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self.elapsed = 0.0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.elapsed = time.perf_counter() - self.start
        if self.seconds and self.elapsed > self.seconds:
            self.model.stop_training = True


def training_callbacks(args, name, seconds=0):
    """TensorBoard logs, a weights checkpoint per epoch and a time budget."""
    logs = os.path.join(args.output_dir, "logs", name)
    checkpoint = os.path.join(args.output_dir, "checkpoints", f"{name}.weights.h5")
    os.makedirs(os.path.dirname(checkpoint), exist_ok=True)
    return [
        keras.callbacks.TensorBoard(logs),
        keras.callbacks.ModelCheckpoint(checkpoint, save_weights_only=True),
        TimeBudget(seconds),
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
