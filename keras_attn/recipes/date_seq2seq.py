"""Teach an RNN encoder–decoder with Bahdanau attention to read dates.

    python -m keras_attn.recipes.date_seq2seq            # the full run (`make demo`)
    python -m keras_attn.recipes.date_seq2seq --tiny     # a smoke run, seconds

Trains on dates written as people write them ("TUESDAY, SEPTEMBER 25, 1984",
"Sep 30, 1981", "10/31/90", ...) paired with ISO `yyyy-mm-dd`, prints the
exact-match accuracy on held-out dates after every epoch, converts a few
dates, draws the attention heatmap, saves the model as `.keras` and exports a
SavedModel whose `convert` signature maps strings to ISO strings.

Full run (see docs/benchmarks.md for the measured numbers and hardware):
45,000 training and 5,000 held-out dates, GRU 128 + Bahdanau attention,
stops at >= 99.9% held-out exact match.
"""

import os
import time

import keras

from keras_attn import saving
from keras_attn import training
from keras_attn.data import dates
from keras_attn.models import RNNSeq2Seq
from keras_attn_cli.recipe_flags import recipe_parser

EXAMPLES = [
    "september 27, 1994",
    "TUESDAY, SEPTEMBER 25, 1984",
    "Sep 30, 1981",
    "Thursday, April 8, 1999",
    "10/31/90",
    "9/2/1985",
    "1 march 2021",
]


def convert(model, texts):
    """Date strings -> (ISO strings, attention weights)."""
    texts = dates.check_texts(texts)
    ids, weights = model.generate(dates.encode(texts), dates.TARGET_LENGTH)
    return dates.decode(ids), weights


def exact_match(model, pairs, batch_size=1000):
    """Fraction of `pairs` whose human text converts to exactly the ISO date."""
    correct = 0
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        predicted, _ = convert(model, [h for h, _ in chunk])
        correct += sum(p == iso for p, (_, iso) in zip(predicted, chunk))
    return correct / len(pairs)


class ExactMatch(keras.callbacks.Callback):
    """Prints held-out exact match per epoch; stops at `target`."""

    def __init__(self, pairs, target):
        super().__init__()
        self.pairs, self.target = pairs, target
        self.history, self.start = [], time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        accuracy = exact_match(self.model, self.pairs)
        elapsed = time.perf_counter() - self.start
        self.history.append((epoch + 1, accuracy, elapsed))
        print(
            f"epoch {epoch + 1}: held-out exact match {accuracy:.4%} "
            f"({len(self.pairs)} dates), {elapsed:.1f} s since start"
        )
        if self.target and accuracy >= self.target:
            self.model.stop_training = True


def plot_attention(text, iso, weights, path):
    """The classic figure: output characters (rows) x input characters."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(iso) + ["[END]"]
    weights = weights[: len(rows), : len(text)]
    fig, ax = plt.subplots(figsize=(0.32 * len(text) + 1.5, 0.32 * len(rows) + 1.2))
    ax.imshow(weights, cmap="viridis", aspect="auto", vmin=0, vmax=1)
    ax.set_xticks(range(len(text)), [c if c != " " else "␣" for c in text])
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("input characters")
    ax.set_ylabel("output characters")
    ax.set_title(f"Bahdanau attention: {text!r} -> {iso}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def build_model(args):
    model = RNNSeq2Seq(
        vocabulary_size=len(dates.VOCABULARY),
        embedding_dim=args.embedding_dim,
        hidden_dim=args.hidden_dim,
        attention=args.attention,
        cell=args.cell,
        start_id=dates.START_ID,
        end_id=dates.END_ID,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=args.jit_compile,
    )
    return model


def train(args):
    """Train and evaluate; returns the model and the per-epoch history.

    With a backup in `output_dir/backup` that a restarted run resumes from.
    """
    strategy = training.from_flags(args)  # --strategy, --mixed-precision
    keras.utils.set_random_seed(args.seed)
    train_pairs, test_pairs = dates.train_test_pairs(
        args.num_train, args.num_test, seed=args.seed
    )
    with strategy.scope():  # Variables, optimizer and metrics.
        model = build_model(args)
    callback = ExactMatch(test_pairs, args.target)
    training.fit(
        model,
        dates.make_dataset(train_pairs, args.batch_size, shuffle=True, seed=args.seed),
        epochs=args.epochs,
        strategy=strategy,
        backup_dir=os.path.join(args.output_dir, "backup"),
        save_freq=args.save_freq,
        callbacks=[callback],
        verbose=args.verbose,
    )
    return model, callback.history


def export(run_dir, path):
    """Export the model a run saved in `run_dir` (signature `convert`)."""
    from keras_attn.export import export_date_converter

    model = saving.load_model(os.path.join(run_dir, "date_seq2seq.keras"))
    return export_date_converter(model, path)


def parse_args(argv=None, prog=None):
    args = recipe_parser("date", prog).parse_args(argv)
    if args.attention == "none":
        args.attention = None
    if args.tiny:
        args.num_train, args.num_test, args.epochs = 512, 64, 1
        args.hidden_dim, args.embedding_dim, args.target = 16, 8, 0
    return args


def main(argv=None, prog=None):
    args = parse_args(argv, prog)
    os.makedirs(args.output_dir, exist_ok=True)
    start = time.perf_counter()
    model, history = train(args)
    epochs, accuracy, seconds = history[-1]
    print(
        f"\nreached {accuracy:.4%} held-out exact match after {epochs} epoch(s), "
        f"{seconds:.1f} s of training (target {args.target:.1%})"
    )

    predicted, weights = convert(model, EXAMPLES)
    print("\nconverting dates as a person would type them:")
    for text, iso in zip(EXAMPLES, predicted):
        print(f"  {text!r:32} -> {iso}")

    heatmap = os.path.join(args.output_dir, "attention.png")
    plot_attention(EXAMPLES[1], predicted[1], weights[1], heatmap)
    model_path = os.path.join(args.output_dir, "date_seq2seq.keras")
    model.save(model_path)
    print(f"\nattention heatmap: {heatmap}\nKeras model:       {model_path}")
    if keras.backend.backend() == "tensorflow":
        saved_model = export(
            args.output_dir, os.path.join(args.output_dir, "saved_model")
        )
        print(f"SavedModel:        {saved_model} (signature 'convert')")
    print(f"total {time.perf_counter() - start:.1f} s")
    return {"history": history, "examples": dict(zip(EXAMPLES, predicted))}


if __name__ == "__main__":
    main()
