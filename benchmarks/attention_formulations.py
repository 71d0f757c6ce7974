"""Why `MultiHeadSelfAttention` computes attention the way it does.

Train-step tokens/s of four formulations of the same self-attention (the
same fused `(D, 3·N·H)` projection and output projection), in one mode
(`--mode`: float32 or mixed_bfloat16, with or without XLA), interleaved in
one run with core Keras's `MultiHeadAttention` as the peer:

    keras_attn        the layer as shipped: 2-D GEMMs over the B·T tokens,
                      the fused projection split three ways along the
                      features, each part to head-major (B, N, T, H),
                      batched matmuls, masked_softmax
    stacked_index     the same, but one reshape + transpose to a stacked
                      (3, B, N, T, H) tensor, indexed [0], [1], [2] (the
                      layer before issue 12)
    token_major       2-D GEMMs, attention in the (B, T, N, H) layout (the
                      einsums do the layout), no head-major cache possible
    fused_dpa_3d      3-D Dense projections and `ops.dot_product_attention`
                      (the TensorFlow path before issue 10)

Run on each backend; the ratios are to core Keras within the run:

    KERAS_BACKEND=tensorflow python benchmarks/attention_formulations.py
    KERAS_BACKEND=tensorflow python benchmarks/attention_formulations.py --mode bf16
    KERAS_BACKEND=jax python benchmarks/attention_formulations.py
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402
from layers import MODES  # noqa: E402

from keras_attn.layers import MultiHeadSelfAttention  # noqa: E402
from keras_attn.layers import masked_softmax  # noqa: E402


class StackedIndex(MultiHeadSelfAttention):
    def call(self, inputs, training=None):
        batch, length = ops.shape(inputs)[0], ops.shape(inputs)[1]
        heads, size = self.num_heads, self.key_dim
        qkv = self.qkv_dense(ops.reshape(inputs, (-1, inputs.shape[-1])))
        qkv = ops.reshape(qkv, (batch, length, 3, heads, size))
        qkv = ops.transpose(qkv, (2, 0, 3, 1, 4))  # (3, B, N, T, H)
        return self._attend(
            qkv[0], qkv[1], qkv[2], None, None, None, False, None, None, False, training
        )


class TokenMajor(MultiHeadSelfAttention):
    def call(self, inputs, training=None):
        batch, length = ops.shape(inputs)[0], ops.shape(inputs)[1]
        heads, size = self.num_heads, self.key_dim
        qkv = self.qkv_dense(ops.reshape(inputs, (-1, inputs.shape[-1])))
        qkv = ops.reshape(qkv, (batch, length, 3, heads, size))
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        q = q * ops.cast(1.0 / size**0.5, q.dtype)
        weights = masked_softmax(ops.einsum("btnh,bsnh->bnts", q, k))
        weights = self.dropout_layer(weights, training=training)
        out = ops.einsum("bnts,bsnh->btnh", weights, v)
        out = self.output_dense(ops.reshape(out, (-1, heads * size)))
        return ops.reshape(out, (batch, length, -1))


class FusedDPA3D(MultiHeadSelfAttention):
    def call(self, inputs, training=None):
        batch, length = ops.shape(inputs)[0], ops.shape(inputs)[1]
        heads, size = self.num_heads, self.key_dim
        qkv = ops.reshape(self.qkv_dense(inputs), (batch, length, 3, heads, size))
        out = ops.dot_product_attention(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2])
        return self.output_dense(ops.reshape(out, (batch, length, heads * size)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--mode", choices=list(MODES), default="f32-xla")
    args = parser.parse_args(argv)
    policy, jit = MODES[args.mode]
    heads, size = args.heads, args.width // args.heads
    candidates = {
        "keras_attn": lambda: MultiHeadSelfAttention(heads, size),
        "stacked_index": lambda: StackedIndex(heads, size),
        "token_major": lambda: TokenMajor(heads, size),
        "fused_dpa_3d": lambda: FusedDPA3D(heads, size),
        "keras.layers.MultiHeadAttention": lambda: keras.layers.MultiHeadAttention(
            heads, size
        ),
    }
    x = np.random.default_rng(0).random((args.batch, args.length, args.width))
    x = x.astype("float32")
    y = np.ones_like(x)
    models = {}
    for name, make in candidates.items():
        keras.config.set_dtype_policy(policy)
        inputs = keras.Input((args.length, args.width))
        layer = make()
        is_core = isinstance(layer, keras.layers.MultiHeadAttention)
        outputs = layer(inputs, inputs) if is_core else layer(inputs)
        model = keras.Model(inputs, outputs)
        keras.config.set_dtype_policy("float32")
        model.compile(optimizer="adam", loss="mse", jit_compile=jit)
        for _ in range(3):  # compile and warm up
            model.train_on_batch(x, y)
        models[name] = model
    names = list(models)
    rates = {name: [] for name in names}
    load = os.getloadavg()[0]
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            for _ in range(args.steps):
                models[name].train_on_batch(x, y)
            seconds = time.perf_counter() - start
            rates[name].append(args.steps * args.batch * args.length / seconds)
    print(
        f"backend {keras.backend.backend()}, keras {keras.__version__}, mode "
        f"{args.mode}, load "
        f"{load:.2f} before / {os.getloadavg()[0]:.2f} after"
    )
    peer = statistics.median(rates["keras.layers.MultiHeadAttention"])
    for name in names:
        median = statistics.median(rates[name])
        print(f"{name:34s} {median:10,.0f} tok/s  {median / peer:.3f}x core Keras")


if __name__ == "__main__":
    main()
