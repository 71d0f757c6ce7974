"""GPT-2 small on one GPU: model FLOPs utilisation, ours vs keras-hub.

A short job (a few minutes) for whenever a GPU is at hand; never part of
CI. Keras with the JAX backend (TensorFlow is not needed):

    KERAS_BACKEND=jax python benchmarks/gpu_gpt.py              # GPT-2 small
    KERAS_BACKEND=jax python benchmarks/gpu_gpt.py --quick      # smoke run, CPU too

Three measurements, each in mixed_bfloat16 with XLA:

    train:     `train_on_batch` tokens/s of `GPTCausalLM` (with the default
               attention path and with `flash_attention=True`) and of
               keras-hub's `GPT2CausalLM` at the same size (default GPT-2
               small: 12 layers, width 768, 12 heads, vocabulary 50,257,
               sequence 1024), interleaved rounds, and model FLOPs
               utilisation against the GPU's published dense bf16 peak.
    attention: one causal `MultiHeadSelfAttention` at the same shapes,
               forward + backward, the default path against
               `flash_attention=True` (`keras.ops.dot_product_attention`,
               cuDNN's fused kernel where JAX finds it), same weights, with
               the largest difference between their outputs.

Model FLOPs per token (PaLM, appendix B): `6 * N + 12 * L * T * D`, with N
the parameters outside the embeddings, L layers, T the sequence length, D
the width; the logits GEMM is counted in N through the tied embedding
(`+ 6 * V * D`).
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from layers import environment_lines  # noqa: E402

# Dense bfloat16 tensor-core peaks, FLOP/s (vendor data sheets, no sparsity).
PEAKS = {
    "H200": 989.4e12,
    "H100 SXM": 989.4e12,
    "H100 80GB HBM3": 989.4e12,
    "H100 PCIe": 756.5e12,
    "H100": 989.4e12,
    "A100": 312e12,
    "L4": 121e12,
}

SMALL = dict(layers=12, width=768, heads=12, vocabulary=50257, length=1024, batch=8)
QUICK = dict(layers=1, width=64, heads=2, vocabulary=512, length=64, batch=2)


def peak_flops(kind):
    for name, value in PEAKS.items():
        if name in kind:
            return value
    return None


def _sizes(args, **extra):
    return dict(
        **extra,
        vocabulary_size=args.vocabulary,
        num_layers=args.layers,
        num_heads=args.heads,
        hidden_dim=args.width,
        intermediate_dim=4 * args.width,
        dropout=0.0,
        max_sequence_length=args.length,
    )


def _models(args):
    import keras_hub

    from keras_attn.models.gpt import GPTBackbone
    from keras_attn.models.gpt import GPTCausalLM

    keras.config.set_dtype_policy("mixed_bfloat16")
    models = {
        "keras_attn GPTCausalLM": GPTCausalLM(GPTBackbone(**_sizes(args))),
        "keras_attn GPTCausalLM flash": GPTCausalLM(
            GPTBackbone(**_sizes(args, flash_attention=True))
        ),
        "keras_hub GPT2CausalLM": keras_hub.models.GPT2CausalLM(
            backbone=keras_hub.models.GPT2Backbone(**_sizes(args)),
            preprocessor=None,
        ),
    }
    keras.config.set_dtype_policy("float32")
    for model in models.values():
        model.compile(
            optimizer=keras.optimizers.AdamW(1e-4),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            weighted_metrics=[],
            jit_compile=True,
        )
    return models


def flops_per_token(args):
    d, layers, t, v = args.width, args.layers, args.length, args.vocabulary
    per_layer = 4 * d * d + 2 * d * 4 * d  # qkv + output, feed-forward
    return 6 * (layers * per_layer + v * d) + 12 * layers * t * d


def bench_train(args, kind):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, args.vocabulary, (args.batch, args.length)).astype("int32")
    x = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    y = np.roll(ids, -1, axis=1)
    models = _models(args)
    for label, model in models.items():
        start = time.perf_counter()
        for _ in range(2):
            loss = model.train_on_batch(x, y)
        float(np.asarray(loss))
        print(f"  warm-up {label}: {time.perf_counter() - start:.1f} s")
    rates = {label: [] for label in models}
    order = list(models)
    for r in range(args.rounds):
        for label in order if r % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            for _ in range(args.steps):
                loss = models[label].train_on_batch(x, y)
            float(np.asarray(loss))
            seconds = time.perf_counter() - start
            rates[label].append(args.batch * args.length * args.steps / seconds)
    peak = peak_flops(kind)
    flops = flops_per_token(args)
    print(f"train: batch {args.batch} x {args.length}, mixed_bfloat16, XLA")
    for label, values in rates.items():
        rate = statistics.median(values)
        mfu = f"MFU {flops * rate / peak:.1%}" if peak else "MFU n/a (unknown peak)"
        print(f"  {label:<26} {rate:12,.0f} tokens/s  {mfu}")
    peer = statistics.median(rates["keras_hub GPT2CausalLM"])
    for label in list(rates)[:2]:
        ratio = statistics.median(rates[label]) / peer
        print(f"  ratio {label} / keras_hub: {ratio:.2f}x")


def bench_attention(args):
    import jax
    from keras import ops

    from keras_attn.layers import MultiHeadSelfAttention

    heads, size = args.heads, args.width // args.heads
    keras.config.set_dtype_policy("mixed_bfloat16")
    default = MultiHeadSelfAttention(heads, size, causal=True)
    flash = MultiHeadSelfAttention(heads, size, causal=True, flash_attention=True)
    keras.config.set_dtype_policy("float32")
    rng = np.random.default_rng(1)
    shape = (args.batch, args.length, args.width)
    x = ops.convert_to_tensor(rng.standard_normal(shape).astype("float32"))
    default(x)
    flash(x)
    flash.set_weights(default.get_weights())
    difference = np.abs(
        np.asarray(ops.cast(default(x), "float32"))
        - np.asarray(ops.cast(flash(x), "float32"))
    ).max()
    times = {}
    for label, layer in (("default path", default), ("flash_attention=True", flash)):
        weights = [v.value for v in layer.trainable_variables]

        def loss(weights, x, layer=layer):
            out, _ = layer.stateless_call(weights, [], x)
            return ops.sum(ops.cast(out, "float32"))

        step = jax.jit(jax.value_and_grad(loss))
        jax.block_until_ready(step(weights, x))
        start = time.perf_counter()
        for _ in range(args.steps):
            out = step(weights, x)
        jax.block_until_ready(out)
        times[label] = (time.perf_counter() - start) / args.steps
    print("attention: one causal MultiHeadSelfAttention, forward + backward, bf16")
    for label, seconds in times.items():
        print(f"  {label:<24} {seconds * 1e3:8.2f} ms")
    speedup = times["default path"] / times["flash_attention=True"]
    print(
        f"  flash speed-up {speedup:.2f}x; largest output difference {difference:.3g}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, any device")
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else SMALL
    for name, value in sizes.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    if keras.backend.backend() != "jax":
        raise SystemExit("Run with KERAS_BACKEND=jax.")
    import jax

    device = jax.devices()[0]
    kind = getattr(device, "device_kind", device.platform)
    for line in environment_lines():
        print(line)
    print(f"device:     {kind} ({device.platform}), peak bf16 {peak_flops(kind)}")
    print(f"model:      {sizes}, {flops_per_token(args) / 1e6:.1f} MFLOP/token")
    print()
    bench_train(args, kind)
    print()
    bench_attention(args)


if __name__ == "__main__":
    main()
