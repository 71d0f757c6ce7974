"""The fastest correct precision and XLA setting for the machine at hand.

Every training entry point (`keras-attn train`, the recipes, `from_flags`,
`set_precision("auto")`) asks `fastest_config` unless told otherwise, and
prints what it picked. The rules are the measured ones (docs/benchmarks.md,
issue 12):

- a GPU with bfloat16 tensor cores (compute capability 8.0 or more):
  `mixed_bfloat16` with XLA; an older GPU with float16 tensor cores (7.0
  or more): `mixed_float16` (loss scaled) with XLA.
- a CPU with AVX512-BF16 or AMX-BF16 under TensorFlow: `mixed_bfloat16`
  without XLA. TensorFlow's oneDNN kernels run bfloat16 GEMMs at ~2x the
  float32 rate there, and XLA's CPU backend does not (its bfloat16 GEMMs
  are slower than its float32 ones), so the step is compiled as a graph.
- anything else: float32 with XLA. That includes JAX on a CPU with
  bfloat16: its only path is XLA, where an encoder train step measured
  slower in bfloat16 than in float32 (26.2k against 29.2k tokens/s).

Recurrent models (`workload="rnn"`, the date demo) on a CPU: float32
without XLA under TensorFlow (its GRU/LSTM loop with small GEMMs gains
nothing from bfloat16 and loses to XLA's while loop: 21.5 s per epoch
against 25.3 s in bfloat16 and 27.9 s with XLA), float32 with XLA under JAX.

Narrow Transformers (`workload="narrow"`: width under 128, such as the
Fashion-MNIST ViT of `keras-attn train vit`) on a CPU: float32 with XLA.
Their GEMMs are too small for bfloat16 to pay, and the step is bound by
per-op overhead that XLA fuses away: the ViT (width 64, 6 layers, 50
tokens) trained at 897 images/s in float32 with XLA against 499 in
`mixed_bfloat16` through oneDNN and 499 in float32 as a graph (2-core
Xeon with AMX-BF16, TensorFlow 2.21).

Training with dropout (`dropout` above 0) under TensorFlow on a CPU: no XLA,
whatever the precision. Keras draws dropout masks with TensorFlow's
stateless random ops, whose Philox generator XLA's CPU backend compiles
~75x slower than the graph kernel runs it (4.2M uniform numbers with a
traced seed: 1,080 ms under XLA, 14 ms as a graph; ThreeFry under XLA:
7 ms, but Keras cannot be told to use it). A width-256 encoder train step
with dropout 0.1 took 1,313 ms with XLA against 216 ms without (206 and
195 ms with no dropout); a BERT fine-tuning step 1.3 s against 0.9 s
(2-core AMD EPYC Zen 3, TensorFlow 2.21). JAX draws with ThreeFry and
loses only ~15% to dropout, so it keeps XLA.

float32 is one flag away: `--mixed-precision float32` (or
`set_precision("float32")`).
"""

import collections

# `reason` says why the precision, `xla_reason` (empty if nothing to add)
# why the XLA setting.
Config = collections.namedtuple(
    "Config", ["precision", "jit_compile", "reason", "xla_reason"], defaults=("",)
)

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
WORKLOADS = ("transformer", "narrow", "rnn")


def cpu_flags(path="/proc/cpuinfo"):
    """The feature flags of the first CPU, as a set (empty where unknown)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def gpus():
    """`[(name, compute capability as a float or None)]` of the visible GPUs,
    asked of the backend that will run the model."""
    import keras

    backend = keras.backend.backend()
    found = []
    if backend == "tensorflow":
        import tensorflow as tf

        for device in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(device)
            capability = details.get("compute_capability")
            name = details.get("device_name", device.name)
            found.append(
                (name, float("{}.{}".format(*capability)) if capability else None)
            )
    elif backend == "jax":
        import jax

        for device in jax.devices():
            if device.platform == "gpu":
                found.append((device.device_kind, _capability(device)))
    return found


def _capability(device):
    """A CUDA device's compute capability as a float ("9.0" -> 9.0); None
    for other GPUs (ROCm names its architecture instead, e.g. "gfx90a")."""
    try:
        return float(getattr(device, "compute_capability", None))
    except (TypeError, ValueError):
        return None


def fastest_config(
    precision="auto",
    workload="transformer",
    backend=None,
    flags=None,
    devices=None,
    dropout=0.0,
):
    """The precision and `jit_compile` a training run should use.

    Args:
        precision: `"auto"` to pick, or a policy of `PRECISIONS` to keep
            (then only the XLA setting is picked for it).
        workload: `"transformer"` (attention blocks, the default),
            `"narrow"` (attention blocks under 128 wide) or `"rnn"`
            (recurrent encoder-decoders).
        backend, flags, devices: the Keras backend name, the CPU flags and
            the `gpus()` list; found on this machine when None (tests pass
            them).
        dropout: the model's dropout rate (any rate above 0, or `True`,
            counts): TensorFlow then trains on a CPU without XLA, whose
            random numbers are slow there.

    Returns:
        A `Config(precision, jit_compile, reason, xla_reason)`: `reason`
        says why the precision, `xla_reason` (or `""`) why the XLA setting;
        `describe` turns them into the line the entry points print.

    Example:

    >>> from keras_attn.training import fastest_config
    >>> config = fastest_config(backend="tensorflow", flags={"avx512_bf16"},
    ...                         devices=[])
    >>> config.precision, config.jit_compile
    ('mixed_bfloat16', False)
    >>> fastest_config(backend="jax", flags=set(), devices=[]).precision
    'float32'
    >>> fastest_config(backend="tensorflow", flags=set(), devices=[],
    ...                dropout=0.1).jit_compile
    False
    """
    import keras

    if workload not in WORKLOADS:
        raise ValueError(
            f"`workload` must be one of {list(WORKLOADS)}; received {workload!r}."
        )
    backend = backend or keras.backend.backend()
    flags = cpu_flags() if flags is None else flags
    devices = gpus() if devices is None else devices
    picked, reason = _precision(workload, backend, flags, devices)
    if precision not in (None, "auto") and precision != picked:
        picked, reason = precision, "chosen with --mixed-precision"
    jit_compile, xla_reason = _uses_xla(picked, workload, backend, devices, dropout)
    return Config(picked, jit_compile, reason, xla_reason)


def _precision(workload, backend, flags, devices):
    """The fastest policy for the machine, and why."""
    if workload == "rnn" and not devices:
        return "float32", "a recurrent model on a CPU: bfloat16 does not pay"
    if workload == "narrow" and not devices:
        return "float32", (
            "a narrow model on a CPU: its GEMMs are too small for bfloat16 to pay"
        )
    if devices:
        name, capability = devices[0]
        if capability is not None and capability >= 8.0:
            return "mixed_bfloat16", f"the GPU ({name}) has bfloat16 tensor cores"
        if capability is not None and capability >= 7.0:
            return "mixed_float16", f"the GPU ({name}) has float16 tensor cores"
        return "float32", f"the GPU ({name}) has no tensor cores"
    bf16 = [flag.upper().replace("_", "-") for flag in BF16_CPU_FLAGS if flag in flags]
    if not bf16:
        return "float32", "no bfloat16 hardware was found"
    if backend == "tensorflow":
        return "mixed_bfloat16", (
            f"the CPU has {bf16[0]}: TensorFlow's oneDNN bfloat16 kernels"
        )
    return "float32", (
        f"the CPU has {bf16[0]}, but on {backend} bfloat16 train steps "
        "measured slower than float32 ones on a CPU"
    )


def _uses_xla(precision, workload, backend, devices, dropout):
    """(jit_compile, why): XLA everywhere except TensorFlow on a CPU for
    bfloat16 (its oneDNN kernels are the fast path), for recurrent models
    (its graph loop beats XLA's) and for models with dropout (XLA's random
    numbers are slow there)."""
    if devices or backend != "tensorflow":
        return True, ""
    if precision == "mixed_bfloat16":
        return False, "XLA's CPU bfloat16 GEMMs are slower than oneDNN's"
    if workload == "rnn":
        return False, "TensorFlow's graph loop beats XLA's"
    if dropout:
        return False, (
            "the model trains with dropout: XLA draws TensorFlow's random "
            "numbers ~75x slower than its graph on a CPU"
        )
    if workload == "narrow":
        return True, "XLA fuses its many small ops"
    return True, ""


def describe(config, jit_compile=None, xla=True):
    """The one line the entry points print about the picked configuration.

    `jit_compile`: the XLA setting in force, where the command line or the
    strategy overrode the pick (then the pick's `xla_reason` is left out);
    `xla=False`: the precision alone, for a caller that sets no XLA."""
    jit = config.jit_compile if jit_compile is None else jit_compile
    reason = config.reason
    if xla and config.xla_reason and jit == config.jit_compile:
        reason += f"; {'with' if jit else 'without'} XLA because {config.xla_reason}"
    xla_words = f" {'with' if jit else 'without'} XLA" if xla else ""
    line = f"keras_attn: training in {config.precision}{xla_words} ({reason})"
    if config.precision != "float32":
        line += "; for float32: --mixed-precision float32"
    return line
