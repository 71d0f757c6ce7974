"""A Vision Transformer on Fashion-MNIST: image patches as tokens.

Each 28x28 image is cut into 4x4 patches; `PatchEmbedding` projects every
patch to a token and adds a learned class token and learned positions, and
the same pre-LN `TransformerEncoder` blocks that read text read the 49
patches. A softmax head on the class token's final state classifies the
image. Training uses a Keras preprocessing layer for augmentation (random
flips) and AdamW with a warm-up and cosine decay. Attention rollout shows
which patches the class token gathered its evidence from.

Needs the data of `make data` (Debian's `dataset-fashion-mnist`); `--tiny`
trains on the synthetic stand-in instead, in seconds. The full recipe, with
a CNN and a classical baseline beside it and the measured numbers, is
`keras-attn train vit` (docs/vit.md).

    python examples/vit_fashion_mnist.py --epochs 5
    python examples/vit_fashion_mnist.py --tiny
"""

import argparse
import tempfile

import keras
import numpy as np

from keras_attn.data import images as image_data
from keras_attn.data import pipelines
from keras_attn.data import synthetic_corpus
from keras_attn.layers import PatchEmbedding
from keras_attn.layers import TransformerEncoder
from keras_attn.models.vit import attention_rollout


def build_vit(num_classes, depth, width):
    """The ViT from the layers, with the functional API."""
    images = keras.Input((28, 28, 1))
    embed = PatchEmbedding(patch_size=4, hidden_dim=width)
    x = embed(images)  # (B, 50, D)
    encoders = [
        TransformerEncoder(
            2 * width,
            num_heads=4,
            activation="gelu",
            normalize_first=True,
            layer_norm_epsilon=1e-6,
        )
        for _ in range(depth)
    ]
    for encoder in encoders:
        x = encoder(x)
    x = keras.layers.LayerNormalization(epsilon=1e-6)(x)
    logits = keras.layers.Dense(num_classes)(x[:, 0])  # the class token
    return keras.Model(images, logits), embed, encoders


def rollout(embed, encoders, pixels):
    """Attention rollout of the class token over the 7x7 patch grid."""
    x, scores = embed(pixels), []
    for encoder in encoders:
        x, weights = encoder(x, return_attention_scores=True)
        scores.append(weights)
    flow = keras.ops.convert_to_numpy(attention_rollout(scores))  # (B, 50, 50)
    return flow[:, 0, 1:].reshape(-1, 7, 7)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="a run of seconds")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    cache = synthetic_corpus.make_tiny_cache(tempfile.mkdtemp()) if args.tiny else None
    train = image_data.load_fashion_mnist("train", cache)
    test = image_data.load_fashion_mnist("test", cache)
    epochs = 1 if args.tiny else args.epochs
    depth, width = (1, 16) if args.tiny else (6, 64)

    # A fresh random flip for every image (the recipe measured shifts to
    # slow a 20-minute run down more than they help it).
    augment = keras.layers.RandomFlip("horizontal")
    batch_size = 128
    train_data = pipelines.image_classification_dataset(
        *train, batch_size, augment=augment
    )
    test_data = pipelines.image_classification_dataset(*test, batch_size, shuffle=False)

    model, embed, encoders = build_vit(10, depth, width)
    steps = epochs * -(-len(train[0]) // batch_size)
    warmup = steps // 20
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=steps - warmup, warmup_target=3e-3, warmup_steps=warmup
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(train_data, epochs=epochs, verbose=2)
    accuracy = model.evaluate(test_data, verbose=0, return_dict=True)["accuracy"]
    maps = rollout(embed, encoders, test[0][:4].astype("float32") / 255.0)
    print(f"test accuracy {accuracy:.4f}; rollout of the first test image:")
    print(np.round(maps[0] / maps[0].max(), 1))
    return {"test_accuracy": accuracy, "rollout": maps}


if __name__ == "__main__":
    main()
