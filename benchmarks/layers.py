"""Train-step throughput of keras_attn layers against their Keras peers.

Two pairs, each candidate a tiny functional model `Input -> layer -> output`
trained with Adam on an MSE loss against a fixed random target, one fixed
batch, with `--dropout` (0.1 by default, what the recipes train with: a
benchmark without it missed that TensorFlow's XLA draws dropout masks ~75x
slower than its graph on a CPU), in each `--modes` (float32 or
mixed_bfloat16, with or without XLA):

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

from keras_attn_cli.flags import dropout_rate  # noqa: E402

QUICK = dict(rounds=2, steps=2, warmup=1, batch=4, length=16, width=32, ffn=64)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def loadavg():
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except (AttributeError, OSError):
        return "unknown"


def environment_lines():
    """Hardware, versions and load: the header of every benchmark report."""
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    backend = keras.backend.backend()
    lines = [
        f"cpu:        {cpu_model()} ({cores} cores, {usable} usable)",
        f"cpu flags:  {_cpu_flags()}",
        f"python:     {platform.python_version()}",
        f"keras:      {keras.__version__}",
        f"tensorflow: {package_version('tensorflow')}",
        f"keras-hub:  {package_version('keras-hub')}",
    ]
    if backend == "jax":
        lines.append(f"jax:        {package_version('jax')}")
    lines += [
        f"backend:    {backend}",
        f"load avg:   {loadavg()} (1, 5, 15 min, before the run)",
    ]
    return lines


def _cpu_flags():
    """The CPU features that decide the fast bfloat16 path."""
    from keras_attn.training.hardware import cpu_flags

    flags = cpu_flags()
    wanted = ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    return " ".join(flag for flag in wanted if flag in flags) or "none of these"


def _print_header(args):
    for line in environment_lines():
        print(line)
    print(
        f"config:     batch={args.batch} length={args.length} width={args.width} "
        f"heads={args.heads} key_dim={args.width // args.heads} "
        f"intermediate_dim={args.intermediate_dim} dropout={args.dropout} "
        f"modes={','.join(args.modes)} "
        f"rounds={args.rounds} steps={args.steps} warmup={args.warmup}"
    )
    print()


def _candidates(args):
    """(pair, side, label, layer factory, call) for every selected candidate."""
    import keras_hub

    from keras_attn import layers as ka

    heads, key_dim, ffn = args.heads, args.width // args.heads, args.intermediate_dim
    rate = args.dropout
    return [
        (
            "mhsa",
            "ours",
            "keras_attn.MultiHeadSelfAttention",
            lambda: ka.MultiHeadSelfAttention(
                num_heads=heads, key_dim=key_dim, dropout=rate
            ),
            lambda layer, x: layer(x),
        ),
        (
            "mhsa",
            "peer",
            "keras.layers.MultiHeadAttention",
            lambda: keras.layers.MultiHeadAttention(
                num_heads=heads, key_dim=key_dim, dropout=rate
            ),
            lambda layer, x: layer(x, x),
        ),
        (
            "encoder",
            "ours",
            "keras_attn.TransformerEncoder",
            lambda: ka.TransformerEncoder(
                intermediate_dim=ffn, num_heads=heads, dropout=rate
            ),
            lambda layer, x: layer(x),
        ),
        (
            "encoder",
            "peer",
            "keras_hub.TransformerEncoder",
            lambda: keras_hub.layers.TransformerEncoder(
                intermediate_dim=ffn, num_heads=heads, dropout=rate
            ),
            lambda layer, x: layer(x),
        ),
    ]


# A mode is (dtype policy, jit_compile): float32 or mixed_bfloat16, with or
# without XLA. Without XLA, TensorFlow runs its oneDNN kernels (bfloat16 on
# CPUs with AVX512-BF16 or AMX); JAX runs op by op.
MODES = {
    "f32-xla": ("float32", True),
    "f32": ("float32", False),
    "bf16-xla": ("mixed_bfloat16", True),
    "bf16": ("mixed_bfloat16", False),
}


def train_flops_per_token(pair, length, width, intermediate):
    """Model FLOPs of one train step per token (forward + backward = 3x the
    forward GEMMs; softmax, norms and the optimizer are not counted)."""
    attention = 2 * (3 * width * width + width * width)  # qkv + output
    attention += 2 * 2 * length * width  # Q Kᵀ and weights @ V
    forward = attention
    if pair == "encoder":
        forward += 2 * 2 * width * intermediate
    return 3 * forward


def _build_model(factory, call, length, width, mode):
    policy, jit = MODES[mode]
    keras.config.set_dtype_policy(policy)
    try:
        inputs = keras.Input(shape=(length, width), dtype="float32")
        outputs = call(factory(), inputs)
        model = keras.Model(inputs, outputs)
    finally:
        keras.config.set_dtype_policy("float32")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-4),
        loss="mse",
        jit_compile=jit,
    )
    return model


def time_steps(model, x, y, steps):
    """Wall and CPU seconds for `steps` train steps (the loss forces a sync)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        loss = model.train_on_batch(x, y)
    float(np.asarray(loss))
    return time.perf_counter() - start, time.process_time() - cpu_start


def parse_subset(parser, value, known, what):
    items = [item.strip() for item in value.split(",") if item.strip()]
    unknown = set(items) - set(known)
    if unknown or not items:
        parser.error(f"--{what}: expected a subset of {list(known)}; got {value!r}")
    return items


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
        "--dropout",
        type=dropout_rate,
        default=0.1,
        help="dropout rate while training (the recipes' default: 0.1)",
    )
    parser.add_argument(
        "--pairs",
        default="mhsa,encoder",
        help="comma-separated subset of: mhsa, encoder",
    )
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help=f"comma-separated subset of: {', '.join(MODES)}",
    )
    parser.add_argument(
        "--no-gemm",
        action="store_true",
        help="skip measuring the GEMM rate (the roofline column's limit)",
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
    pairs = parse_subset(parser, args.pairs, ("mhsa", "encoder"), "pairs")
    args.modes = parse_subset(parser, args.modes, MODES, "modes")

    keras.utils.set_random_seed(0)
    _print_header(args)

    rng = np.random.default_rng(0)
    shape = (args.batch, args.length, args.width)
    x = keras.ops.convert_to_tensor(rng.standard_normal(shape, dtype=np.float32))
    y = keras.ops.convert_to_tensor(rng.standard_normal(shape, dtype=np.float32))
    tokens = args.batch * args.length * args.steps

    candidates = [
        (pair, side, mode, f"{label} [{mode}]", factory, call)
        for mode in args.modes
        for pair, side, label, factory, call in _candidates(args)
        if pair in pairs
    ]
    models = {}
    for _pair, _side, mode, label, factory, call in candidates:
        start = time.perf_counter()
        model = _build_model(factory, call, args.length, args.width, mode)
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
            seconds, cpu_seconds = time_steps(models[label], x, y, args.steps)
            rates[label].append(tokens / seconds)
            cpu_rates[label].append(tokens / max(cpu_seconds, 1e-9))

    def median(table, label):
        return statistics.median(table[label])

    gemm = {}
    if not args.no_gemm:
        from gemm import gemm_rates

        sizes = (args.batch, args.length, args.width, args.intermediate_dim)
        quick = dict(repeat=1, steps=1, rounds=1) if args.quick else {}
        gemm = gemm_rates(*sizes, **quick)

    def roofline(pair, mode, rate):
        """Model GFLOP/s, and its share of the GEMM rate of the same mode."""
        flops = train_flops_per_token(
            pair, args.length, args.width, args.intermediate_dim
        )
        achieved = flops * rate / 1e9
        policy, jit = MODES[mode]
        limit = gemm.get(
            ("bfloat16" if "bfloat16" in policy else "float32", "xla" if jit else "ops")
        )
        share = f"{achieved / limit:6.1%} of {limit:6.1f}" if limit else "   n/a"
        return f"{achieved:7.1f} GFLOP/s {share}"

    width = max(len(label) for label in models)
    print(
        f"{'candidate':<{width}}  median tok/s     min tok/s     max tok/s"
        "  median tok/cpu-s  model FLOPs (share of the GEMM rate)"
    )
    for pair, _side, mode, label, _f, _c in candidates:
        values = rates[label]
        print(
            f"{label:<{width}}  {median(rates, label):12,.0f}  "
            f"{min(values):12,.0f}  {max(values):12,.0f}  "
            f"{median(cpu_rates, label):16,.0f}  "
            f"{roofline(pair, mode, median(rates, label))}"
        )
    print()
    for mode in args.modes:
        for pair in pairs:
            ours, peer = (
                next(c[3] for c in candidates if c[:3] == (pair, side, mode))
                for side in ("ours", "peer")
            )
            ratio = median(rates, ours) / median(rates, peer)
            cpu_ratio = median(cpu_rates, ours) / median(cpu_rates, peer)
            print(
                f"ratio {pair:<8} {mode:<8} ours/peer = {ratio:.3f}x tok/s "
                f"({cpu_ratio:.3f}x tok/cpu-s)"
            )
    if gemm:
        print()
        for (dtype, path), value in gemm.items():
            print(f"gemm {dtype:<8} {path:<3}  {value:8.1f} GFLOP/s")
    print(f"load avg after: {loadavg()}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
