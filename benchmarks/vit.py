"""Train-step throughput of the Fashion-MNIST ViT against keras-hub's ViT.

Both candidates are the recipe's ViT (`keras-attn train vit`) without its
convolutional stem, which keras-hub's ViT does not have: 28x28x1 images,
4x4 patches (49 tokens and a class token), 6 pre-LN blocks, width 64, 4
heads, feed-forward 128, a dense head on the mean of the final tokens:

    ours:  keras_attn.models.ViTClassifier(ViTBackbone(...), pooling="mean")
    peer:  keras_hub.models.ViTBackbone(...) -> mean -> Dense

One fixed batch, AdamW, sparse cross-entropy on logits, in each mode of
`benchmarks/layers.py` (float32 or mixed_bfloat16, with or without XLA).
Rounds interleave the candidates as `layers.py` does; the report gives the
median images/s per candidate and mode, the ratio ours / keras-hub, and
the model FLOPs of a train step (3x the forward GEMMs) times images/s as
GFLOP/s. This is the measurement behind `workload="narrow"` in
`keras_attn.training.fastest_config`: the best mode for a model this
narrow is not the best one for the width-256 encoder.

    KERAS_BACKEND=tensorflow python benchmarks/vit.py
    KERAS_BACKEND=tensorflow python benchmarks/vit.py --quick
    KERAS_BACKEND=tensorflow python benchmarks/vit.py --heads 2 --modes f32-xla
    KERAS_BACKEND=tensorflow python benchmarks/vit.py --stem 32,64 --modes f32-xla

`--stem 32,64` gives ours the recipe's convolutional stem
(`ViTBackbone(stem_filters=...)`); keras-hub's ViT has none, so the ratio
is then the stem's cost.
"""

import argparse
import os
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.layers import MODES  # noqa: E402
from benchmarks.layers import environment_lines  # noqa: E402
from benchmarks.layers import parse_subset  # noqa: E402
from benchmarks.layers import time_steps  # noqa: E402

SIZES = dict(patch=4, layers=6, heads=4, width=64, intermediate=128)


def train_flops_per_image(image_size, patch, layers, width, intermediate, stem=()):
    """Forward GEMM FLOPs x 3 (stem convolutions, patch projection,
    attention, feed-forward)."""
    tokens = (image_size // patch) ** 2 + 1
    per_token = 2 * 4 * width * width + 2 * 2 * tokens * width  # qkvo, QKᵀ, AV
    per_token += 2 * 2 * width * intermediate
    forward, channels, size = layers * tokens * per_token, 1, image_size
    for filters in stem:  # 3x3, stride 2
        size = -(-size // 2)
        forward += size * size * 2 * 9 * channels * filters
        channels = filters
    kernel = patch // 2 ** len(stem)
    forward += (tokens - 1) * 2 * kernel * kernel * channels * width
    return 3 * forward


def stem_filters(text):
    """`"32,64"` -> `(32, 64)`; `""` -> `()`."""
    try:
        filters = tuple(int(f) for f in text.split(",") if f)
        if all(f > 0 for f in filters):
            return filters
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(
        f"expected positive ints separated by commas; received {text!r}"
    )


def ours(sizes):
    from keras_attn.models import ViTBackbone
    from keras_attn.models import ViTClassifier

    backbone = ViTBackbone(
        image_shape=(28, 28, 1),
        patch_size=sizes["patch"],
        num_layers=sizes["layers"],
        num_heads=sizes["heads"],
        hidden_dim=sizes["width"],
        intermediate_dim=sizes["intermediate"],
        stem_filters=sizes["stem"],
    )
    return ViTClassifier(backbone, 10, pooling="mean")


def peer(sizes):
    import keras_hub

    backbone = keras_hub.models.ViTBackbone(
        image_shape=(28, 28, 1),
        patch_size=sizes["patch"],
        num_layers=sizes["layers"],
        num_heads=sizes["heads"],
        hidden_dim=sizes["width"],
        mlp_dim=sizes["intermediate"],
        dropout_rate=0.0,
        attention_dropout=0.0,
    )
    images = keras.Input((28, 28, 1))
    pooled = keras.layers.GlobalAveragePooling1D()(backbone(images))
    return keras.Model(images, keras.layers.Dense(10)(pooled))


def build(make, sizes, mode):
    policy, jit = MODES[mode]
    keras.config.set_dtype_policy(policy)
    try:
        model = make(sizes)
    finally:
        keras.config.set_dtype_policy("float32")
    model.compile(
        optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[],  # the loss alone, for both (ours defaults to accuracy)
        jit_compile=jit,
    )
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="timed steps a round")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    for size, default in SIZES.items():
        parser.add_argument(f"--{size}", type=int, default=default)
    parser.add_argument(
        "--stem",
        type=stem_filters,
        default=(),
        help="ours only: stem filters, e.g. 32,64",
    )
    args = parser.parse_args(argv)
    sizes = {size: getattr(args, size) for size in SIZES}
    sizes["stem"] = args.stem
    if args.quick:
        args.rounds, args.steps, args.warmup, args.batch = 2, 2, 1, 8
        sizes.update(layers=1, width=16, intermediate=32, heads=2)
    modes = parse_subset(parser, args.modes, MODES, "modes")
    keras.utils.set_random_seed(0)
    for line in environment_lines():
        print(line)
    print(
        f"config:     batch={args.batch} {sizes} rounds={args.rounds} "
        f"steps={args.steps} warmup={args.warmup}\n"
    )

    rng = np.random.default_rng(0)
    x = rng.random((args.batch, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, args.batch)
    flops = train_flops_per_image(
        28,
        sizes["patch"],
        sizes["layers"],
        sizes["width"],
        sizes["intermediate"],
        sizes["stem"],
    )
    rates = {}
    for mode in modes:
        models = {
            "ours": build(ours, sizes, mode),
            "keras_hub": build(peer, sizes, mode),
        }
        for model in models.values():
            for _ in range(args.warmup):
                model.train_on_batch(x, y)
        samples = {name: [] for name in models}
        for round_ in range(args.rounds):
            order = list(models) if round_ % 2 == 0 else list(models)[::-1]
            for name in order:
                wall, _ = time_steps(models[name], x, y, args.steps)
                samples[name].append(args.batch * args.steps / wall)
        rates[mode] = {name: statistics.median(v) for name, v in samples.items()}

    print(
        f"{'mode':10} {'ours img/s':>11} {'hub img/s':>10} {'ours/hub':>9} "
        f"{'ours GFLOP/s':>13}"
    )
    for mode, rate in rates.items():
        print(
            f"{mode:10} {rate['ours']:11.0f} {rate['keras_hub']:10.0f} "
            f"{rate['ours'] / rate['keras_hub']:9.2f} "
            f"{rate['ours'] * flops / 1e9:13.1f}"
        )
    return rates


if __name__ == "__main__":
    main()
