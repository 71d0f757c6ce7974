"""Generation and training throughput of GPTCausalLM against keras-hub GPT-2.

Both sides are built at the same size from random weights (default: 4 layers,
width 256, 8 heads, intermediate 1024, vocabulary 5,000, float32):

    generate:  new tokens/s of `GPTCausalLM.generate` vs
               `keras_hub.models.GPT2CausalLM.generate` (preprocessor=None,
               pre-tokenized `{"token_ids", "padding_mask"}` padded to
               prompt + new tokens), batch 8, 16-token prompts, 240 new
               tokens, greedy, no stop token. keras-hub runs as it ships
               (its `jit_compile` resolves to False on a CPU-only
               TensorFlow) and, as a second peer, with `jit_compile=True`.
    context:   our time per new token at context 512 vs context 64:
               (time(48 new) - time(16 new)) / 32 steps, prompts of 448 and
               16 tokens, so prefill and call overhead cancel out.
    train:     `train_on_batch` tokens/s, batch 8 x 256, Adam, sparse
               cross-entropy on the logits, with and without XLA
               (`--train-jit` picks one).
    export:    the exported SavedModel's `generate` signature
               (`export_gpt_generator`, greedy: temperature 0) against the
               in-memory `GPTCausalLM.generate` of the same model on the
               same prompts (a byte tokenizer, 16-character prompts, 240 new
               tokens); and `stream_saved_model` (the SavedModel's
               `stream_start`/`stream_step`, one step per call), both
               against the in-memory `generate`. TensorFlow only.
    stream:    `GPTCausalLM.stream` (one compiled step per `next()`)
               against `GPTCausalLM.generate`, same model and prompts as
               `generate`'s part; any backend.

`--precision mixed_bfloat16` builds every model (ours and keras-hub's) in
mixed_bfloat16 instead of float32.

Every candidate is warmed up (traced and compiled) first; then `--rounds`
interleaved rounds time each candidate in turn (order reversed every other
round) and the report gives the median, the ratio ours / peer, and the load
average before and after: on a shared machine, read the ratios with it.

    KERAS_BACKEND=tensorflow python benchmarks/generation.py
    KERAS_BACKEND=jax python benchmarks/generation.py --quick
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Run from a checkout without `pip install -e .`: import the package beside us.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.layers import cpu_model  # noqa: E402
from benchmarks.layers import loadavg  # noqa: E402
from benchmarks.layers import package_version  # noqa: E402
from keras_attn_cli.flags import dropout_rate  # noqa: E402
from keras_attn_cli.flags import positive_int  # noqa: E402

FULL = dict(
    layers=4,
    width=256,
    heads=8,
    intermediate_dim=1024,
    vocabulary=5000,
    batch=8,
    prompt=16,
    new_tokens=240,
    train_batch=8,
    train_length=256,
    rounds=3,
    train_steps=3,
)
QUICK = dict(
    layers=1,
    width=32,
    heads=2,
    intermediate_dim=64,
    vocabulary=100,
    batch=2,
    prompt=4,
    new_tokens=12,
    train_batch=2,
    train_length=16,
    rounds=1,
    train_steps=1,
)


def _sizes(args):
    return dict(
        vocabulary_size=args.vocabulary,
        num_layers=args.layers,
        num_heads=args.heads,
        hidden_dim=args.width,
        intermediate_dim=args.intermediate_dim,
        dropout=args.dropout,  # only the train steps draw it
        max_sequence_length=1024,
    )


def _in_precision(args, build):
    keras.config.set_dtype_policy(args.precision)
    try:
        return build()
    finally:
        keras.config.set_dtype_policy("float32")


def _ours(args, vocabulary=None):
    from keras_attn.models.gpt import GPTBackbone
    from keras_attn.models.gpt import GPTCausalLM

    sizes = _sizes(args)
    sizes["vocabulary_size"] = vocabulary or sizes["vocabulary_size"]
    return _in_precision(args, lambda: GPTCausalLM(GPTBackbone(**sizes)))


def _hub(args, jit_compile="auto"):
    import keras_hub

    model = _in_precision(
        args,
        lambda: keras_hub.models.GPT2CausalLM(
            backbone=keras_hub.models.GPT2Backbone(**_sizes(args)),
            preprocessor=None,
        ),
    )
    model.compile(sampler="greedy", jit_compile=jit_compile)
    return model


def _prompts(args, batch, prompt):
    rng = np.random.default_rng(0)
    return rng.integers(1, args.vocabulary, (batch, prompt)).astype("int32")


def _median_rates(candidates, rounds):
    """{label: median of `run()`'s rate} over interleaved rounds."""
    rates = {label: [] for label in candidates}
    order = list(candidates)
    for r in range(rounds):
        for label in order if r % 2 == 0 else order[::-1]:
            rates[label].append(candidates[label]())
    return {label: statistics.median(values) for label, values in rates.items()}


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_generate(args):
    prompts = _prompts(args, args.batch, args.prompt)
    total = args.prompt + args.new_tokens
    ours = _ours(args)
    hub_inputs = {
        "token_ids": np.pad(prompts, [(0, 0), (0, args.new_tokens)]),
        "padding_mask": np.pad(
            np.ones_like(prompts, bool), [(0, 0), (0, args.new_tokens)]
        ),
    }
    new = args.batch * args.new_tokens

    def run_ours():
        return new / _timed(lambda: ours.generate(prompts, args.new_tokens))

    def hub_runner(model):
        def run():
            out = {}

            def go():
                out.update(model.generate(hub_inputs, stop_token_ids=None))

            seconds = _timed(go)
            generated = int(np.asarray(out["padding_mask"])[:, args.prompt :].sum())
            if generated != new:
                raise RuntimeError(f"keras-hub made {generated} tokens, not {new}")
            return new / seconds

        return run

    candidates = {
        "keras_attn GPTCausalLM.generate": run_ours,
        "keras_hub GPT2CausalLM.generate": hub_runner(_hub(args)),
        "keras_hub GPT2CausalLM.generate jit": hub_runner(_hub(args, True)),
    }
    print(f"generate: batch {args.batch}, prompt {args.prompt}, buffer {total}")
    for label, run in candidates.items():
        print(f"  warm-up {label}: {_timed(run):.1f} s")
    rates = _median_rates(candidates, args.rounds)
    for label, rate in rates.items():
        print(f"  {label:<40} {rate:10,.0f} new tokens/s")
    ours_rate = rates["keras_attn GPTCausalLM.generate"]
    for label in list(rates)[1:]:
        print(f"  ratio ours / {label}: {ours_rate / rates[label]:.2f}x")
    print()
    return ours


def bench_context(args, model):
    lo, hi = (16, 48) if not args.quick else (2, 6)
    contexts = (64, 512) if not args.quick else (16, 32)
    per_token = {}
    for context in contexts:
        prompt_length = context - hi
        prompts = _prompts(args, args.batch, prompt_length)
        for n in (lo, hi):
            model.generate(prompts, n)  # warm-up (compiles once per buffer)
        samples = []
        for _ in range(max(args.rounds, 3)):
            short = _timed(lambda p=prompts: model.generate(p, lo))
            long = _timed(lambda p=prompts: model.generate(p, hi))
            samples.append((long - short) / (hi - lo))
        per_token[context] = statistics.median(samples)
        print(
            f"context {context:4d} (prompt {prompt_length}): "
            f"{per_token[context] * 1e3:7.2f} ms per new-token step "
            f"(batch {args.batch})"
        )
    a, b = contexts
    print(f"  ratio context {b} / {a}: {per_token[b] / per_token[a]:.2f}x")
    print()


def bench_train(args):
    rng = np.random.default_rng(1)
    shape = (args.train_batch, args.train_length)
    ids = rng.integers(1, args.vocabulary, shape).astype("int32")
    x = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    y = np.roll(ids, -1, axis=1)

    def compiled(model, jit):
        model.compile(
            optimizer=keras.optimizers.Adam(1e-4),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            weighted_metrics=[],
            jit_compile=jit,
        )
        return model

    jits = {"both": (True, False), "xla": (True,), "no-xla": (False,)}[args.train_jit]
    jits = (True,) if keras.backend.backend() == "jax" else jits
    models = {}
    for jit in jits:
        mode = "XLA" if jit else "no XLA"
        models[f"keras_attn GPTCausalLM {mode}"] = compiled(_ours(args), jit)
        models[f"keras_hub GPT2CausalLM {mode}"] = compiled(_hub(args), jit)
    tokens = args.train_batch * args.train_length * args.train_steps

    def runner(model):
        def run():
            def steps():
                for _ in range(args.train_steps):
                    loss = model.train_on_batch(x, y)
                float(np.asarray(loss))

            return tokens / _timed(steps)

        return run

    print(f"train: batch {args.train_batch} x {args.train_length}")
    for label, model in models.items():
        print(f"  warm-up {label}: {_timed(runner(model)):.1f} s")
    rates = _median_rates({k: runner(m) for k, m in models.items()}, args.rounds)
    for label, rate in rates.items():
        print(f"  {label:<40} {rate:10,.0f} tokens/s")
    for jit in jits:
        mode = "XLA" if jit else "no XLA"
        ours = rates[f"keras_attn GPTCausalLM {mode}"]
        peer = rates[f"keras_hub GPT2CausalLM {mode}"]
        print(f"  ratio ours / keras_hub, {mode}: {ours / peer:.2f}x")
    print()


def _report(title, candidates, args):
    """Warm every candidate up, time them in interleaved rounds, print each
    one's rate and its ratio to the first."""
    print(title)
    for label, run in candidates.items():
        print(f"  warm-up {label}: {_timed(run):.1f} s")
    rates = _median_rates(candidates, args.rounds)
    for label, rate in rates.items():
        print(f"  {label:<40} {rate:10,.0f} new tokens/s")
    first, *others = rates
    for label in others:
        print(f"  ratio {label} / {first}: {rates[label] / rates[first]:.2f}x")
    print()


def bench_stream(args):
    """`GPTCausalLM.stream` against `generate` of the same model."""
    model, prompts = _ours(args), _prompts(args, args.batch, args.prompt)
    new = args.batch * args.new_tokens
    candidates = {
        "in-memory generate": lambda: (
            new / _timed(lambda: model.generate(prompts, args.new_tokens))
        ),
        "in-memory stream": lambda: (
            new / _timed(lambda: list(model.stream(prompts, args.new_tokens)))
        ),
    }
    title = f"stream: batch {args.batch}, prompt {args.prompt}, {args.new_tokens} new"
    _report(title, candidates, args)


def bench_export(args):
    """The exported `generate` signature and the SavedModel's stream against
    in-memory `generate`."""
    import tempfile

    import tensorflow as tf

    from keras_attn.data import tokenizers
    from keras_attn.export import export_gpt_generator
    from keras_attn.export import stream_saved_model

    tokenizer = tokenizers.byte_tokenizer()
    model = _ours(args, vocabulary=tokenizer.vocabulary_size())
    rng = np.random.default_rng(2)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz "))
    texts = ["".join(rng.choice(letters, args.prompt)) for _ in range(args.batch)]
    prompts = [np.asarray(tokenizer(t)).tolist() for t in texts]
    path = export_gpt_generator(model, tokenizer, tempfile.mkdtemp() + "/gpt/1")
    loaded = tf.saved_model.load(path)
    generate = loaded.signatures["generate"]
    settings = dict(
        max_new_tokens=tf.constant(args.new_tokens),
        temperature=tf.constant(0.0),
        top_k=tf.constant(0),
        top_p=tf.constant(1.0),
        seed=tf.constant(0, tf.int64),
    )
    new = args.batch * args.new_tokens
    candidates = {
        "in-memory generate": lambda: (
            new / _timed(lambda: model.generate(prompts, args.new_tokens))
        ),
        "SavedModel generate": lambda: (
            new / _timed(lambda: generate(prompt=tf.constant(texts), **settings))
        ),
        "SavedModel stream": lambda: (
            new
            / _timed(lambda: list(stream_saved_model(loaded, texts, args.new_tokens)))
        ),
    }
    title = f"export: batch {args.batch}, prompt {args.prompt}, {args.new_tokens} new"
    _report(title, candidates, args)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Backend: set KERAS_BACKEND (tensorflow or jax).",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: a smoke run of seconds"
    )
    parser.add_argument(
        "--parts",
        default="generate,context,train,stream,export",
        help="comma-separated subset of: generate, context, train, stream, "
        "export (export needs TensorFlow)",
    )
    parser.add_argument(
        "--precision", default="float32", choices=("float32", "mixed_bfloat16")
    )
    parser.add_argument(
        "--dropout",
        type=dropout_rate,
        default=0.1,
        help="dropout rate of both models, drawn in the train steps only (the "
        "recipes' default: 0.1; the figures before 2026-12-03 used 0)",
    )
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=None,
        help="interleaved timing rounds (3; 1 with --quick): on a 2-core "
        "machine the train ratio swung by +-0.1 between 3-round runs",
    )
    parser.add_argument(
        "--batch",
        type=positive_int,
        default=None,
        help="generation batch (8; 2 with --quick): the key/value cache read "
        "per step grows with it, the weights read do not",
    )
    parser.add_argument(
        "--train-jit",
        default="both",
        choices=("both", "xla", "no-xla"),
        help="which train-step modes to time (TensorFlow; JAX always jits)",
    )
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name, None) is None:  # a flag given keeps its value
            setattr(args, name, value)
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}

    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    cores = os.cpu_count()
    print(f"cpu:        {cpu_model()} ({cores} cores)")
    print(f"keras:      {keras.__version__}")
    print(f"tensorflow: {package_version('tensorflow')}")
    print(f"keras-hub:  {package_version('keras-hub')}")
    if keras.backend.backend() == "jax":
        print(f"jax:        {package_version('jax')}")
    print(f"backend:    {keras.backend.backend()}")
    print(f"load avg:   {loadavg()} (1, 5, 15 min, before the run)")
    print(f"dropout:    {args.dropout} (train steps)")
    print(
        f"model:      {args.layers} layers, width {args.width}, {args.heads} "
        f"heads, intermediate {args.intermediate_dim}, vocabulary "
        f"{args.vocabulary}, {args.precision}, {args.rounds} rounds"
    )
    print()
    model = None
    if "generate" in parts:
        model = bench_generate(args)
    if "context" in parts:
        bench_context(args, model or _ours(args))
    if "train" in parts:
        bench_train(args)
    if "stream" in parts:
        bench_stream(args)
    if "export" in parts and keras.backend.backend() == "tensorflow":
        bench_export(args)
    print(f"load avg after: {loadavg()}")


if __name__ == "__main__":
    main()
