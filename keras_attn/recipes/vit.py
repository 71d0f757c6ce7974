"""Train a Vision Transformer on Fashion-MNIST, beside a small CNN and a
classical baseline; draw attention rollout; export a PNG/JPEG-bytes SavedModel.

    make data                                    # fetch the data once
    keras-attn train vit                         # ViT, CNN, random forest, SVC
    keras-attn train vit --models vit            # one of them
    keras-attn train vit --tiny                  # a smoke run, seconds

The ViT (`ViTBackbone` + `ViTClassifier`: 4x4 patches, so 49 tokens and a
class token, embedded through a convolutional stem of two stride-2 3x3
convolutions, 32 and 64 filters, as Xiao et al. 2021 do; `--stem-filters`
with no value gives the plain ViT's linear patch projection; the head reads
the mean of the final tokens) and the CNN get
the same budget (`--minutes`, `--epochs`), the same augmentation (Keras
preprocessing layers, a fresh draw for every image: horizontal flips, and
with `--shift N` shifts of up to N pixels), AdamW with a linear warm-up and
a cosine decay that ends with the budget (`training.TimeBudget`: on a slower
machine the learning rate still reaches 0 when the minutes run out),
TensorBoard logs, a checkpoint per epoch and a progress bar.
5,000 training images are held out for validation (the
learning curves); test accuracy is measured once, at the end. The classical
baselines come from the Fashion-MNIST authors' benchmark grid
(`baselines.json` of the Debian package), trained on all 60,000 training
images: its largest random forest and its best SVC (C=10, RBF). Results,
with times and settings, are merged into `fashion_mnist_results.json`; the
ViT is saved as `vit.keras`, its attention rollout drawn over a few test
images (`attention_rollout.png`) and, on the TensorFlow backend, exported as
a SavedModel that takes encoded images (`saved_model/`, see `keras-attn
serve`).

Measured numbers, hardware and times: docs/vit.md.
"""

import json
import os
import time

import keras
import numpy as np

from keras_attn import saving
from keras_attn import training
from keras_attn.data import images as image_data
from keras_attn.data import pipelines
from keras_attn.layers import PatchEmbedding
from keras_attn.models import ViTBackbone
from keras_attn.models import ViTClassifier
from keras_attn.recipes import shared
from keras_attn_cli.recipe_flags import VIT_MODELS
from keras_attn_cli.recipe_flags import recipe_parser

MODELS = VIT_MODELS
SKLEARN_NAMES = {"forest": "RandomForestClassifier", "svc": "SVC"}
CLASSICAL = tuple(SKLEARN_NAMES)
# The flags each network's results record.
TRAIN_FLAGS = (
    "minutes",
    "epochs",
    "batch_size",
    "learning_rate",
    "weight_decay",
    "shift",
)
VIT_FLAGS = (
    "patch_size",
    "num_layers",
    "num_heads",
    "hidden_dim",
    "intermediate_dim",
    "dropout",
    "pooling",
    "stem_filters",
)
RESULTS = "fashion_mnist_results.json"


def split_validation(images, labels, size, seed):
    """A random `size` of the training set held out for validation."""
    order = np.random.default_rng(seed).permutation(len(images))
    held, kept = order[:size], order[size:]
    return (images[kept], labels[kept]), (images[held], labels[held])


def augmentation(image_shape, seed, shift=0):
    """Keras preprocessing layers: horizontal flips, and shifts of up to
    `shift` pixels (zero fill) when `shift` is not 0."""
    layers = [keras.layers.RandomFlip("horizontal", seed=seed)]
    if shift:
        height, width = image_shape[:2]
        layers.append(
            keras.layers.RandomTranslation(
                shift / height,
                shift / width,
                fill_mode="constant",
                interpolation="nearest",
                seed=seed,
            )
        )
    return layers


def optimizer(args):
    """AdamW; its learning rate is driven by `budget`."""
    adamw = keras.optimizers.AdamW(args.learning_rate, weight_decay=args.weight_decay)
    adamw.exclude_from_weight_decay(
        var_names=["bias", "gamma", "beta", "class_token", "position_embeddings"]
    )
    return adamw


def build_vit(args, image_shape, class_names):
    backbone = ViTBackbone(
        image_shape=image_shape,
        patch_size=args.patch_size,
        num_layers=args.num_layers,
        num_heads=args.num_heads,
        hidden_dim=args.hidden_dim,
        intermediate_dim=args.intermediate_dim,
        dropout=args.dropout,
        stem_filters=tuple(args.stem_filters),
    )
    return ViTClassifier(
        backbone, len(class_names), pooling=args.pooling, class_names=class_names
    )


def build_cnn(image_shape, num_classes):
    """Two blocks of two 3x3 convolutions (32 then 64 filters) with batch
    normalization and max pooling, then Dense(128) and dropout."""
    layers = [keras.Input(image_shape)]
    for filters in (32, 64):
        for _ in range(2):
            layers += [
                keras.layers.Conv2D(filters, 3, padding="same", use_bias=False),
                keras.layers.BatchNormalization(),
                keras.layers.ReLU(),
            ]
        layers.append(keras.layers.MaxPooling2D())
    layers += [
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(num_classes),
    ]
    return keras.Sequential(layers, name="cnn")


def train_network(name, model, args, train, validation, test):
    """Compile and fit `model` within the budget; its test accuracy."""
    train_data = pipelines.image_classification_dataset(
        *train,
        args.batch_size,
        augment=augmentation(train[0].shape[1:], args.seed, args.shift),
        seed=args.seed,
    )
    steps = args.epochs * -(-len(train[0]) // args.batch_size)
    model.compile(
        optimizer=optimizer(args),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        # The CNN has its own Dropout(0.3): on a TensorFlow CPU it trains
        # without XLA (192 against 228 ms a step on a Zen 3, dropout or not).
        jit_compile=training.jit_compile_for(model, args),
    )

    def batches(split):
        return pipelines.image_classification_dataset(
            *split, args.batch_size, shuffle=False
        )

    history, seconds = shared.fit(
        model,
        args,
        train_data,
        batches(validation),
        name,
        budget=shared.time_budget(args, steps),
    )
    test_metrics = model.evaluate(batches(test), verbose=0, return_dict=True)
    return {
        "test_accuracy": round(float(test_metrics["accuracy"]), 4),
        "train_seconds": seconds,
        "epochs": len(history["loss"]),
        "parameters": model.count_params(),
        "history": history,
    }


def classical_settings(name, baselines):
    """The setting of `baselines.json` (the Fashion-MNIST authors' grid)
    that the recipe trains: for the random forest the largest one; for the
    SVC, C=10 with an RBF kernel, the best of its grid on the authors'
    published benchmark (test accuracy 0.897)."""
    grid = {}
    for entry in baselines["classifiers"][SKLEARN_NAMES[name]]:
        grid.update(entry)
    if name == "forest":
        return {
            "criterion": grid.get("criterion", ["gini"])[0],
            "max_depth": max(grid.get("max_depth", [None])),
            "n_estimators": max(grid["n_estimators"]),
        }
    if 10.0 not in grid.get("C", []) or "rbf" not in grid.get("kernel", []):
        raise ValueError(f"baselines.json has no SVC(C=10, kernel='rbf'): {grid}")
    return {"C": 10.0, "kernel": "rbf"}


def train_classical(name, train, test, baselines, seed):
    """A scikit-learn baseline of the benchmark grid, on raw pixels in
    [0, 1]: `"forest"` (random forest) or `"svc"` (support vectors)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.svm import SVC

    settings = classical_settings(name, baselines)
    if name == "forest":
        model = RandomForestClassifier(**settings, n_jobs=-1, random_state=seed)
    else:
        model = SVC(**settings, cache_size=2000, random_state=seed)
    flat = [x.reshape(len(x), -1) / 255.0 for x, _ in (train, test)]
    start = time.perf_counter()
    model.fit(flat[0], train[1])
    seconds = round(time.perf_counter() - start, 1)
    accuracy = float((model.predict(flat[1]) == test[1]).mean())
    return {"test_accuracy": round(accuracy, 4), "train_seconds": seconds, **settings}


def plot_rollout(classifier, images, labels, class_names, path):
    """Test images, and their attention rollout over the patch grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pixels = images.astype("float32") / 255.0
    maps = np.asarray(keras.ops.convert_to_numpy(classifier.attention_rollout(pixels)))
    predicted = np.argmax(classifier.predict(pixels, verbose=0), axis=-1)
    fig, axes = plt.subplots(2, len(images), figsize=(1.7 * len(images), 3.9))
    height, width = images.shape[1:3]
    for i, (image, heat) in enumerate(zip(images, maps)):
        axes[0, i].imshow(image[..., 0], cmap="gray")
        axes[0, i].set_title(
            f"{class_names[labels[i]]}\n→ {class_names[predicted[i]]}", fontsize=7
        )
        axes[1, i].imshow(image[..., 0], cmap="gray")
        axes[1, i].imshow(
            heat, cmap="inferno", alpha=0.6, extent=(0, width, height, 0), vmin=0
        )
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("image")
    axes[1, 0].set_ylabel("rollout")
    read = "class token" if classifier.pooling == "token" else "mean of the patches"
    fig.suptitle(f"ViT attention rollout ({read}, all layers)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def export(run_dir, path):
    """Export the ViT a run saved in `run_dir` (signature `classify`)."""
    from keras_attn.export import export_image_classifier

    return export_image_classifier(
        saving.load_model(os.path.join(run_dir, "vit.keras")), path
    )


def parse_args(argv=None, prog=None):
    parser = recipe_parser("vit", prog)
    args = parser.parse_args(argv)
    # What `auto` picks for (training.fastest_config): narrow models gain
    # nothing from bfloat16 on a CPU.
    args.workload = "narrow" if args.hidden_dim < 128 else "transformer"
    if args.tiny:
        args.minutes, args.epochs, args.validation_size = 0, 2, 20
        args.num_layers, args.hidden_dim, args.intermediate_dim = 1, 16, 32
        args.batch_size, args.num_heads = 32, 2
        if args.stem_filters:  # 4x4 patches through a one-convolution stem
            args.patch_size, args.stem_filters = 4, [4]
        else:
            args.patch_size = 7
    # The layer's own check, before any data loads: a patch size the stem's
    # stride does not divide.
    try:
        PatchEmbedding(
            args.patch_size, args.hidden_dim, stem_filters=tuple(args.stem_filters)
        )
    except ValueError as error:
        parser.error(
            f"--patch-size / --stem-filters: {error} (--stem-filters with no "
            "value: no stem)"
        )
    return args


def main(argv=None, prog=None):
    args = parse_args(argv, prog)
    strategy = shared.distribute(args)  # --strategy, --mixed-precision
    os.makedirs(args.output_dir, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    cache = shared.corpus_dir(args)
    train = image_data.load_fashion_mnist("train", cache)
    test = image_data.load_fashion_mnist("test", cache)
    class_names = list(image_data.FASHION_MNIST_CLASSES)
    fit_split, validation = split_validation(*train, args.validation_size, args.seed)
    image_shape = train[0].shape[1:]
    print(
        f"{len(fit_split[0])} training, {len(validation[0])} validation and "
        f"{len(test[0])} test images of {image_shape}"
    )

    path = os.path.join(args.output_dir, RESULTS)
    results = {}
    if os.path.exists(path):  # earlier runs of other models
        with open(path) as f:
            results = json.load(f)
    for name in args.models:
        if name in CLASSICAL:
            baselines = image_data.load_fashion_mnist_baselines(cache)
            results[name] = train_classical(name, train, test, baselines, args.seed)
        else:
            with strategy.scope():
                if name == "vit":
                    model = vit = build_vit(args, image_shape, class_names)
                else:
                    model = build_cnn(image_shape, len(class_names))
            results[name] = train_network(
                name, model, args, fit_split, validation, test
            )
            flags = TRAIN_FLAGS + (VIT_FLAGS if name == "vit" else ())
            results[name]["settings"] = {k: getattr(args, k) for k in flags}
        print(
            f"{name}: test accuracy {results[name]['test_accuracy']:.4f} "
            f"({results[name]['train_seconds']} s)"
        )
    histories = {n: r["history"] for n, r in results.items() if "history" in r}
    if histories:
        shared.plot_learning_curves(
            histories,
            os.path.join(args.output_dir, "learning_curves.png"),
            metrics=("loss", "val_loss", "val_accuracy"),
        )
    if "vit" in args.models:
        vit.save(os.path.join(args.output_dir, "vit.keras"))
        plot_rollout(
            vit,
            test[0][:8],
            test[1][:8],
            class_names,
            os.path.join(args.output_dir, "attention_rollout.png"),
        )
        if keras.backend.backend() == "tensorflow":
            export(args.output_dir, os.path.join(args.output_dir, "saved_model"))
    with open(path, "w") as f:
        json.dump(results, f, indent=1, default=float)
    return results


if __name__ == "__main__":
    main()
