import os

import numpy as np

from keras_attn.export import saved_model_tools
from keras_attn.models import GPTCausalLM
from keras_attn.models.gpt.gpt_causal_lm import buffer_length
from keras_attn.samplers import TunableSampler

# Signature input -> (dtype, what a value must be, the check in the graph).
SETTINGS = {
    "max_new_tokens": ("int32", "an integer >= 1", lambda x: x >= 1),
    "temperature": (
        "float32",
        "a finite number >= 0 (0: greedy)",
        lambda x: (x >= 0.0) & (x < float("inf")),
    ),
    "top_k": ("int32", "an integer >= 0 (0: off)", lambda x: x >= 0),
    "top_p": ("float32", "a number in (0, 1] (1: off)", lambda x: (x > 0) & (x <= 1)),
    "seed": ("int64", "an integer (< 0: fresh random numbers)", lambda x: x == x),
}


def export_gpt_generator(causal_lm, tokenizer, path, stop_token_ids=None):
    """Export a `GPTCausalLM` with a `generate` signature: prompts in, text out.

    The whole generation runs in the graph: the prompts are tokenized,
    continued by `GPTCausalLM.generate`'s own KV-cached `while_loop` (the
    loop of `make_generate_function`, traced once and compiled with XLA per
    batch size and buffer length, as in memory), and detokenized. The number of new
    tokens and the sampler settings are runtime inputs, so one SavedModel
    serves greedy decoding and any temperature / top-k / top-p sampling.

    Signatures `generate` and `serving_default` take:

    - `prompt`: `(N,)` strings; each must give at least one token.
    - `max_new_tokens` (int32), `temperature` (float32), `top_k` (int32),
      `top_p` (float32), `seed` (int64): each a scalar for every prompt, or
      one value per prompt (`(N,)`, so TensorFlow Serving's row format and
      request batching work). They mean what they mean for
      `keras_attn.samplers.TunableSampler`: `temperature=0` is greedy,
      `top_k=0` and `top_p=1` turn those filters off. The longest prompt
      plus its `max_new_tokens` must fit in `max_sequence_length`.
    - `seed`: prompt `b` with seed `s >= 0` draws its random numbers from
      `tf.random.stateless_uniform([max_sequence_length], seed=[s, 0],
      alg="philox")`, number `i` for the token at position `i`; the same
      prompt, settings and seed give the same text whatever else is in the
      batch. A negative seed draws fresh numbers each call.

    They return `text`, each prompt followed by its continuation, and
    `completion`, the continuation alone, both `(N,)` strings; the stop
    token that ends a continuation is left out. Bad inputs raise
    `InvalidArgumentError` (an HTTP 400 from TensorFlow Serving) with a
    message that names the input.

    Args:
        causal_lm: a trained `GPTCausalLM`.
        tokenizer: its keras-hub tokenizer (e.g. `train_byte_pair`'s).
        path: the SavedModel folder to write (for TensorFlow Serving,
            `.../NAME/1`).
        stop_token_ids: ids that end a prompt's continuation (e.g.
            `<|endoftext|>`), as for `generate`.

    Returns:
        `path`.

    Example:

    >>> import keras
    >>> if keras.backend.backend() != "tensorflow":
    ...     import pytest; pytest.skip("SavedModel export needs TensorFlow")
    >>> import os, tempfile
    >>> import tensorflow as tf
    >>> from keras_attn.data import tokenizers
    >>> from keras_attn.export import export_gpt_generator
    >>> from keras_attn.models import GPTBackbone, GPTCausalLM
    >>> tokenizer = tokenizers.byte_tokenizer()
    >>> lm = GPTCausalLM(GPTBackbone(tokenizer.vocabulary_size(), num_layers=1,
    ...     num_heads=2, hidden_dim=8, intermediate_dim=16,
    ...     max_sequence_length=32))
    >>> path = os.path.join(tempfile.mkdtemp(), "gpt", "1")
    >>> path = export_gpt_generator(lm, tokenizer, path)
    >>> generate = tf.saved_model.load(path).signatures["generate"]
    >>> out = generate(prompt=tf.constant(["Hi", "Hello"]),
    ...     max_new_tokens=tf.constant(4), temperature=tf.constant(0.8),
    ...     top_k=tf.constant(0), top_p=tf.constant(0.9),
    ...     seed=tf.constant(7, tf.int64))
    >>> [len(t) > len(p) for t, p in zip(out["text"].numpy(), [b"Hi", b"Hello"])]
    [True, True]
    """
    tf = saved_model_tools.require_tensorflow()
    saved_model_tools.check_model(causal_lm, [GPTCausalLM], "causal_lm")
    saved_model_tools.check_tokenizer(tokenizer)
    path = saved_model_tools.check_path(path)
    backbone = causal_lm.backbone
    vocabulary_size = backbone.vocabulary_size
    max_length = backbone.max_sequence_length
    stop_row = np.zeros(vocabulary_size, bool)
    for token in stop_token_ids or ():
        saved_model_tools.check_integer(
            token, "stop_token_ids[i]", 0, vocabulary_size - 1
        )
        stop_row[token] = True
    stop_row = tf.constant(stop_row)
    sampler = TunableSampler()
    generator = causal_lm.make_generate_function(sampler)
    stepper = causal_lm.make_generate_function(sampler, step=True)

    # The decoding loop is compiled with XLA, as `generate` compiles it in
    # memory (once per batch size and buffer length, at the first request
    # of each); the string ops around it cannot be. As a plain graph loop
    # the exported `generate` ran at 0.29x the in-memory one (float32,
    # docs/benchmarks.md). The streaming prefill and step are compiled the
    # same way.
    @tf.function(jit_compile=True, autograph=False)
    def decode(inputs):
        return generator.call(inputs)

    @tf.function(jit_compile=True, autograph=False)
    def step(inputs):
        return stepper.call(inputs)

    def loop_inputs(prompt, max_new_tokens, temperature, top_k, top_p, seed):
        """The checked inputs of the decoding loop, and the output length."""
        ids = saved_model_tools.tokenize(tokenizer, prompt)  # (N, None)
        batch = ids.nrows(out_type=tf.int32)
        lengths = tf.cast(ids.row_lengths(), tf.int32)  # (N,)
        given = (max_new_tokens, temperature, top_k, top_p, seed)
        settings, checks = {}, []
        for name, value in zip(SETTINGS, given):
            settings[name], check = _per_row(tf, name, value, batch)  # (N,)
            checks.append(check)
        limit = lengths + settings["max_new_tokens"]  # (N,)
        checks += [
            tf.debugging.assert_greater_equal(
                lengths,
                1,
                message="Every prompt must give at least one token; received "
                "an empty prompt.",
            ),
            tf.debugging.assert_less_equal(
                limit,
                max_length,
                message="A prompt's tokens plus its max_new_tokens exceed the "
                f"model's max_sequence_length={max_length}; shorten the prompt "
                "or ask for fewer tokens.",
            ),
        ]
        with tf.control_dependencies(checks):
            needed = tf.maximum(tf.reduce_max(limit), 1)
            length = buffer_length(needed, max_length)
            token_ids = ids.to_tensor(0)  # (N, longest prompt)
            token_ids = tf.pad(
                token_ids, [[0, 0], [0, length - tf.shape(token_ids)[1]]]
            )
            inputs = {
                "token_ids": token_ids,  # (N, L)
                "lengths": lengths,
                "max_new_tokens": settings["max_new_tokens"],
                "uniform": _uniform(tf, settings["seed"], max_length)[:, :length],
                "stop": tf.tile(stop_row[None], [batch, 1]),  # (N, V)
                "sampler_settings": {
                    name: settings[name] for name in ("temperature", "top_k", "top_p")
                },
            }
            return inputs, needed

    def texts(ids, lengths):
        """`text` and `completion` of `(N, L)` ids: 0s and stop tokens past
        the prompts left out."""
        new = tf.range(tf.shape(ids)[1])[None, :] >= lengths[:, None]  # (N, L)
        keep = (ids != 0) & ~(new & tf.gather(stop_row, ids))
        return {
            "text": saved_model_tools.detokenize(tokenizer, ids, keep),
            "completion": saved_model_tools.detokenize(tokenizer, ids, keep & new),
        }

    def generate(*settings):
        inputs, needed = loop_inputs(*settings)
        out = decode(inputs)[:, :needed]  # (N, needed)
        return texts(out, inputs["lengths"])

    # Streaming: the loop's state goes out and comes back at every step (the
    # loop of `GPTCausalLM.stream`, with the prefill and step of `generate`).
    cache_specs = [
        # Each layer's `(B, N, L, H)` keys and values, in its compute dtype.
        tf.TensorSpec(
            [None, tensor.shape[1], None, tensor.shape[3]], tensor.dtype, name
        )
        for i, pair in enumerate(backbone.init_cache(1, 1))
        for name, tensor in zip((f"key_{i}", f"value_{i}"), pair)
    ]
    state_specs = [
        tf.TensorSpec([None, None], tf.int32, "token_ids"),
        tf.TensorSpec([None], tf.int32, "lengths"),
        tf.TensorSpec([None], tf.int32, "max_new_tokens"),
        tf.TensorSpec([None, None], tf.float32, "uniform"),
        tf.TensorSpec([None], tf.float32, "temperature"),
        tf.TensorSpec([None], tf.int32, "top_k"),
        tf.TensorSpec([None], tf.float32, "top_p"),
        tf.TensorSpec([None], tf.int32, "index"),
        tf.TensorSpec([None], tf.bool, "done"),
    ] + cache_specs

    def state_out(inputs, state):
        cache = [tensor for pair in state["cache"] for tensor in pair]
        out = {
            "token_ids": state["token_ids"],
            "lengths": inputs["lengths"],
            "max_new_tokens": inputs["max_new_tokens"],
            "uniform": inputs["uniform"],
            **inputs["sampler_settings"],
            "index": state["index"],
            "done": state["done"],
        }
        out.update((spec.name, tensor) for spec, tensor in zip(cache_specs, cache))
        return out

    def stream_start(*settings):
        inputs, _ = loop_inputs(*settings)
        return state_out(inputs, step(inputs))

    def stream_step(*tensors):
        given = {spec.name: tensor for spec, tensor in zip(state_specs, tensors)}
        cache = [given[spec.name] for spec in cache_specs]
        inputs = {
            "token_ids": given["token_ids"],
            "lengths": given["lengths"],
            "max_new_tokens": given["max_new_tokens"],
            "uniform": given["uniform"],
            "stop": tf.tile(stop_row[None], [tf.shape(given["lengths"])[0], 1]),
            "sampler_settings": {
                name: given[name] for name in ("temperature", "top_k", "top_p")
            },
            "state": {
                "index": given["index"],
                "token_ids": given["token_ids"],
                "cache": tuple(zip(cache[::2], cache[1::2])),
                "done": given["done"],
            },
        }
        state = step(inputs)
        return {
            **state_out(inputs, state),
            "new_tokens": state["new_tokens"],
            "completion": texts(state["token_ids"], given["lengths"])["completion"],
        }

    specs = [saved_model_tools.string_spec("prompt")] + [
        tf.TensorSpec(None, dtype, name=name) for name, (dtype, *_) in SETTINGS.items()
    ]
    return saved_model_tools.write_saved_model(
        path,
        tokenizers=[tokenizer],
        endpoints={
            "generate": (generate, specs),
            "stream_start": (stream_start, specs),
            "stream_step": (stream_step, state_specs),
        },
        default="generate",
    )


def stream_saved_model(
    saved_model,
    prompts,
    max_new_tokens,
    temperature=0.0,
    top_k=0,
    top_p=1.0,
    seed=-1,
):
    """Stream continuations from an exported GPT: text as it is generated.

    Drives the SavedModel's `stream_start` and `stream_step` signatures
    (written by `export_gpt_generator`): the first tokenizes the prompts and
    runs the prefill, each call of the second runs one decoding step. The
    loop's state (the ids, the key/value caches, the random numbers) goes
    out of one call and back into the next, so the SavedModel itself holds
    no state and serves any number of streams at once. The steps are the
    ones the `generate` signature loops over, so the same prompts, settings
    and seed give the same text.

    Args:
        saved_model: a SavedModel folder, or the object
            `tf.saved_model.load` returned for it.
        prompts: a str, or a list of str.
        max_new_tokens, temperature, top_k, top_p, seed: as for the
            `generate` signature (see `export_gpt_generator`): each a
            scalar, or one value per prompt. The defaults are greedy.

    Yields:
        The new text of each step: a str for a str prompt, a list of str
        (one per prompt) for a list. A character whose UTF-8 bytes are not
        all generated yet is held back until they are. The pieces joined
        give the `generate` signature's `completion`.

    Raises:
        ValueError: the SavedModel has no streaming signatures (it was
            exported before they existed: export it again).

    Example:

    >>> import keras
    >>> if keras.backend.backend() != "tensorflow":
    ...     import pytest; pytest.skip("SavedModel export needs TensorFlow")
    >>> import os, tempfile
    >>> from keras_attn.data import tokenizers
    >>> from keras_attn.export import export_gpt_generator, stream_saved_model
    >>> from keras_attn.models import GPTBackbone, GPTCausalLM
    >>> tokenizer = tokenizers.byte_tokenizer()
    >>> lm = GPTCausalLM(GPTBackbone(tokenizer.vocabulary_size(), num_layers=1,
    ...     num_heads=2, hidden_dim=8, intermediate_dim=16,
    ...     max_sequence_length=32))
    >>> path = export_gpt_generator(lm, tokenizer, tempfile.mkdtemp() + "/gpt")
    >>> pieces = list(stream_saved_model(path, "Hi", max_new_tokens=4))
    >>> len(pieces) >= 1 and all(isinstance(p, str) for p in pieces)
    True
    """
    import tensorflow as tf

    from keras_attn.models import text
    from keras_attn.serving.served_model import load_saved_model

    if isinstance(saved_model, (str, os.PathLike)):
        saved_model = load_saved_model(os.fspath(saved_model))
    signatures = getattr(saved_model, "signatures", {})
    if not {"stream_start", "stream_step"} <= set(signatures.keys()):
        raise ValueError(
            "The SavedModel has no `stream_start`/`stream_step` signatures "
            f"(it has {sorted(signatures.keys())}); export it again with "
            "export_gpt_generator to stream."
        )
    if not text.is_text(prompts):
        raise TypeError(
            "`prompts` must be a str or a non-empty list of str; received "
            f"{type(prompts).__name__}."
        )
    texts = [prompts] if isinstance(prompts, str) else list(prompts)
    given = (max_new_tokens, temperature, top_k, top_p, seed)
    settings = {
        name: tf.constant(value, dtype)
        for (name, (dtype, *_)), value in zip(SETTINGS.items(), given)
    }
    step = signatures["stream_step"]
    _, specs = step.structured_input_signature
    state = signatures["stream_start"](prompt=tf.constant(texts), **settings)
    shown = wholes = [""] * len(texts)
    # One step per position at most: a bound on the loop, not its end.
    for _ in range(int(state["token_ids"].shape[1])):
        if bool(tf.reduce_all(state["done"])):
            break
        out = step(**{name: state[name] for name in specs})
        wholes = [s.decode("utf-8") for s in out["completion"].numpy()]
        made = out["new_tokens"].numpy() != 0
        pieces, shown = text.new_pieces(wholes, shown, made)
        state = out
        yield pieces[0] if isinstance(prompts, str) else pieces
    rest, _ = text.new_pieces(wholes, shown, [False] * len(texts))
    if any(rest):
        yield rest[0] if isinstance(prompts, str) else rest


def _per_row(tf, name, value, batch):
    """A scalar or `(N,)` setting as `(N,)`, and the assertion that checks it."""
    dtype, expected, is_valid = SETTINGS[name]
    value = tf.reshape(value, [-1])
    ok = tf.logical_and(
        tf.reduce_any([tf.size(value) == 1, tf.size(value) == batch]),
        tf.reduce_all(is_valid(value)),
    )
    check = tf.debugging.Assert(
        ok,
        [
            f"`{name}` must be {expected}, a scalar or one per prompt; received",
            value,
        ],
    )
    with tf.control_dependencies([check]):
        return tf.broadcast_to(value, [batch]), check


def _uniform(tf, seeds, max_length):
    """`(N, max_length)` uniform numbers, row `b` from its own seed."""
    fresh = tf.random.uniform(tf.shape(seeds), maxval=2**62, dtype=tf.int64)
    seeds = tf.where(seeds < 0, fresh, seeds)

    def row(seed):
        return tf.random.stateless_uniform(
            [max_length], seed=tf.stack([seed, 0]), alg="philox"
        )

    return tf.map_fn(row, seeds, fn_output_signature=tf.float32)
