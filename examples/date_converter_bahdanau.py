"""Reading dates with Bahdanau attention: a GRU encoder–decoder, built by hand.

`TUESDAY, SEPTEMBER 25, 1984` -> `1984-09-25`, character by character. The
encoder reads the date; at each output position the decoder state attends
over every encoder output with `keras_attn.layers.BahdanauAttention`
(vᵀ·tanh(W₁q + W₂k)), and the context joins the state to predict the next
character. The weights the layer returns are the alignment, plotted at the
end: each ISO digit looks at the source characters it is read from.

The model is plain Keras: `Embedding`, `GRU`, our attention layer, `Dense`,
put together with the functional API and trained with `model.fit`. (The
packaged `keras_attn.models.RNNSeq2Seq` is the same idea with a compiled
decoding loop; this script shows the pieces.)

Full run (`python examples/date_converter_bahdanau.py`, 20,000 training
dates, 3 epochs): 99.85% exact match on 2,000 held-out dates, 60 s on a
2-core Xeon VM (no GPU; TensorFlow 2.21, Keras 3.15.1), with another job on
the second core.

    python examples/date_converter_bahdanau.py --tiny   # seconds, the test
"""

import argparse

import keras
import numpy as np

from keras_attn.data import dates
from keras_attn.layers import BahdanauAttention

VOCABULARY_SIZE = len(dates.VOCABULARY)


def build_model(embedding_dim=32, hidden_dim=128):
    """Teacher-forced training model and the one that also returns weights."""
    source = keras.Input((None,), dtype="int32", name="source")
    target_in = keras.Input((None,), dtype="int32", name="target_in")

    # Encoder: the padding mask of `mask_zero` reaches the attention layer
    # through `encoded`, so padded source positions get zero weight.
    embedded = keras.layers.Embedding(VOCABULARY_SIZE, embedding_dim, mask_zero=True)(
        source
    )
    encoded, state = keras.layers.GRU(
        hidden_dim, return_sequences=True, return_state=True
    )(embedded)  # (B, S, H), (B, H)

    # Decoder: starts from the encoder's final state, reads [START] y1 .. yn.
    decoded = keras.layers.GRU(hidden_dim, return_sequences=True)(
        keras.layers.Embedding(VOCABULARY_SIZE, embedding_dim)(target_in),
        initial_state=state,
    )  # (B, T, H)

    # Every decoder position attends over every encoder output.
    context, weights = BahdanauAttention(hidden_dim, name="attention")(
        decoded, encoded
    )  # (B, T, H), (B, T, S)
    hidden = keras.layers.Dense(hidden_dim, activation="tanh")(
        keras.layers.Concatenate()([decoded, context])
    )
    logits = keras.layers.Dense(VOCABULARY_SIZE, name="logits")(hidden)

    inputs = {"source": source, "target_in": target_in}
    return keras.Model(inputs, logits), keras.Model(inputs, [logits, weights])


def greedy_convert(inference, texts):
    """Decode one character at a time, feeding back each prediction."""
    source = dates.encode(texts)
    target = np.full((len(texts), 1), dates.START_ID, "int32")
    for _ in range(dates.TARGET_LENGTH):
        logits, weights = inference.predict_on_batch(
            {"source": source, "target_in": target}
        )
        next_ids = np.argmax(logits[:, -1], axis=-1).astype("int32")
        target = np.concatenate([target, next_ids[:, None]], axis=1)
    return dates.decode(target[:, 1:]), np.asarray(weights)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="a run of seconds")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--plot", default=None, help="save the heatmap (PNG)")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    num_train, num_test = (512, 64) if args.tiny else (20_000, 2_000)
    epochs = 1 if args.tiny else args.epochs

    train, test = dates.train_test_pairs(num_train, num_test)
    model, inference = build_model(hidden_dim=16 if args.tiny else 128)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    x_train, y_train = dates.arrays(train)
    x_test, y_test = dates.arrays(test)
    history = model.fit(
        x_train,
        y_train,
        validation_data=(x_test, y_test),
        batch_size=128,
        epochs=epochs,
        verbose=0 if args.tiny else 2,
    )

    humans, isos = zip(*test)
    predicted, weights = greedy_convert(inference, list(humans))
    exact = float(np.mean([p == t for p, t in zip(predicted, isos)]))
    print(f"held-out exact match: {exact:.2%} on {len(test)} dates")
    for human, guess in list(zip(humans, predicted))[:3]:
        print(f"  {human!r:34} -> {guess}")
    if args.plot:
        import matplotlib.pyplot as plt

        length = len(humans[0])
        plt.imshow(weights[0, : len(predicted[0]) + 1, :length], cmap="viridis")
        plt.xticks(range(length), list(humans[0]))
        plt.yticks(range(len(predicted[0]) + 1), list(predicted[0]) + ["[END]"])
        plt.savefig(args.plot, bbox_inches="tight")
    return {"history": history.history, "exact_match": exact, "weights": weights}


if __name__ == "__main__":
    main()
