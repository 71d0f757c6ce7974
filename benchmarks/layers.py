"""Train-step throughput of keras_attn layers against their Keras peers.

Two pairs, each candidate a tiny functional model `Input -> layer -> output`
trained with Adam on an MSE loss against a fixed random target, one fixed
batch, float32, XLA (`jit_compile=True`):

    mhsa:     keras_attn MultiHeadSelfAttention  vs  keras MultiHeadAttention
              (called as self-attention, query = value = x)
    encoder:  keras_attn TransformerEncoder      vs  keras_hub TransformerEncoder

Every model is compiled and warmed up first; then, for each of `--rounds`
rounds, every candidate in turn runs `--steps` timed `train_on_batch` steps
(the order is reversed every other round so no candidate always goes first).
The report gives the median tokens/s per candidate over the rounds
(tokens = batch * length per step) and the ratio ours / peer for each pair.
It also gives tokens per CPU-second of this process (all its threads): on a
shared machine, other processes slow the wall clock down far more than they
change the CPU time, so a ratio that moves in wall time but not in CPU time
is noise. The load average is printed before and after for the same reason.

The backend comes from the `KERAS_BACKEND` environment variable:

    KERAS_BACKEND=tensorflow python benchmarks/layers.py
    KERAS_BACKEND=jax python benchmarks/layers.py --quick
"""

import argparse
import importlib.metadata
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Run from a checkout without `pip install -e .`: import the package beside us.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

QUICK = dict(rounds=2, steps=2, warmup=1, batch=4, length=16, width=32, ffn=64)


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _loadavg():
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except (AttributeError, OSError):
        return "unknown"


def _print_header(args):
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    backend = keras.backend.backend()
    print(f"cpu:        {_cpu_model()} ({cores} cores, {usable} usable)")
    print(f"python:     {platform.python_version()}")
    print(f"keras:      {keras.__version__}")
    print(f"tensorflow: {_version('tensorflow')}")
    print(f"keras-hub:  {_version('keras-hub')}")
    if backend == "jax":
        print(f"jax:        {_version('jax')}")
    print(f"backend:    {backend}")
    print(f"load avg:   {_loadavg()} (1, 5, 15 min, before the run)")
    print(
        f"config:     batch={args.batch} length={args.length} width={args.width} "
        f"heads={args.heads} key_dim={args.width // args.heads} "
        f"intermediate_dim={args.intermediate_dim} float32 jit_compile=True "
        f"rounds={args.rounds} steps={args.steps} warmup={args.warmup}"
    )
    print()


def _candidates(args):
    """(pair, side, label, layer factory, call) for every selected candidate."""
    import keras_hub

    from keras_attn import layers as ka

    heads, key_dim, ffn = args.heads, args.width // args.heads, args.intermediate_dim
    return [
        (
            "mhsa",
            "ours",
            "keras_attn.MultiHeadSelfAttention",
            lambda: ka.MultiHeadSelfAttention(num_heads=heads, key_dim=key_dim),
            lambda layer, x: layer(x),
        ),
        (
            "mhsa",
            "peer",
            "keras.layers.MultiHeadAttention",
            lambda: keras.layers.MultiHeadAttention(num_heads=heads, key_dim=key_dim),
            lambda layer, x: layer(x, x),
        ),
        (
            "encoder",
            "ours",
            "keras_attn.TransformerEncoder",
            lambda: ka.TransformerEncoder(intermediate_dim=ffn, num_heads=heads),
            lambda layer, x: layer(x),
        ),
        (
            "encoder",
            "peer",
            "keras_hub.TransformerEncoder",
            lambda: keras_hub.layers.TransformerEncoder(
                intermediate_dim=ffn, num_heads=heads
            ),
            lambda layer, x: layer(x),
        ),
    ]


def _build_model(factory, call, length, width):
    inputs = keras.Input(shape=(length, width), dtype="float32")
    outputs = call(factory(), inputs)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-4),
        loss="mse",
        jit_compile=True,
    )
    return model


def _time_steps(model, x, y, steps):
    """Wall and CPU seconds for `steps` train steps (the loss forces a sync)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        loss = model.train_on_batch(x, y)
    float(np.asarray(loss))
    return time.perf_counter() - start, time.process_time() - cpu_start


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Backend: set KERAS_BACKEND (tensorflow or jax).",
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--steps", type=int, default=10, help="timed steps a round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=128, help="sequence length")
    parser.add_argument("--width", type=int, default=256, help="model width")
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--intermediate-dim", type=int, default=1024)
    parser.add_argument(
        "--pairs",
        default="mhsa,encoder",
        help="comma-separated subset of: mhsa, encoder",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes and few steps: a smoke run of a few seconds",
    )
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, "intermediate_dim" if name == "ffn" else name, value)
    if args.width % args.heads:
        parser.error("--width must be divisible by --heads")
    pairs = [p.strip() for p in args.pairs.split(",") if p.strip()]
    unknown = set(pairs) - {"mhsa", "encoder"}
    if unknown:
        parser.error(f"unknown pairs: {sorted(unknown)}")

    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    _print_header(args)

    rng = np.random.default_rng(0)
    shape = (args.batch, args.length, args.width)
    x = keras.ops.convert_to_tensor(rng.standard_normal(shape, dtype=np.float32))
    y = keras.ops.convert_to_tensor(rng.standard_normal(shape, dtype=np.float32))
    tokens = args.batch * args.length * args.steps

    candidates = [c for c in _candidates(args) if c[0] in pairs]
    models = {}
    for _pair, _side, label, factory, call in candidates:
        start = time.perf_counter()
        model = _build_model(factory, call, args.length, args.width)
        model.train_on_batch(x, y)  # traces and compiles
        compile_s = time.perf_counter() - start
        for _ in range(args.warmup):
            model.train_on_batch(x, y)
        models[label] = model
        print(
            f"built {label}: {model.count_params():,} params, "
            f"first step (compile) {compile_s:.1f} s"
        )
    print()

    rates = {label: [] for label in models}
    cpu_rates = {label: [] for label in models}
    order = list(models)
    for r in range(args.rounds):
        for label in order if r % 2 == 0 else order[::-1]:
            seconds, cpu_seconds = _time_steps(models[label], x, y, args.steps)
            rates[label].append(tokens / seconds)
            cpu_rates[label].append(tokens / max(cpu_seconds, 1e-9))

    def median(table, label):
        return statistics.median(table[label])

    width = max(len(label) for label in models)
    print(
        f"{'candidate':<{width}}  median tok/s     min tok/s     max tok/s"
        "  median tok/cpu-s"
    )
    for label, values in rates.items():
        print(
            f"{label:<{width}}  {median(rates, label):12,.0f}  "
            f"{min(values):12,.0f}  {max(values):12,.0f}  "
            f"{median(cpu_rates, label):16,.0f}"
        )
    print()
    for pair in pairs:
        ours = next(c[2] for c in candidates if c[0] == pair and c[1] == "ours")
        peer = next(c[2] for c in candidates if c[0] == pair and c[1] == "peer")
        ratio = median(rates, ours) / median(rates, peer)
        cpu_ratio = median(cpu_rates, ours) / median(cpu_rates, peer)
        print(
            f"ratio {pair:<8} ours/peer = {ratio:.3f}x tok/s "
            f"({cpu_ratio:.3f}x tok/cpu-s)  {ours} / {peer}"
        )
    print(f"load avg after: {_loadavg()}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
