import keras
import numpy as np
from keras import ops

from keras_attn import samplers
from keras_attn.checks import check_token_ids
from keras_attn.metrics import MaskedAccuracy
from keras_attn.models import text
from keras_attn.models.decoding_loop import DecodingLoop
from keras_attn.models.resident_step_loop import resident_state
from keras_attn.models.task import Task
from keras_attn.saving import register

MIN_BUFFER_LENGTH = 64


def buffer_length(needed, max_sequence_length):
    """The generation buffer for `needed` positions: the next power of two
    (at least 64), capped at `max_sequence_length`. The decoding loop is
    compiled once per batch size and buffer length.

    `needed` may be a Python int (`generate`) or an int tensor (the exported
    graph, where the prompts are only known at run time): one formula for
    both, so the two always pick the same buffer. Returns an int tensor.
    """
    candidates = [MIN_BUFFER_LENGTH]
    while candidates[-1] < max_sequence_length:
        candidates.append(candidates[-1] * 2)
    candidates = ops.minimum(
        ops.convert_to_tensor(candidates, "int32"), max_sequence_length
    )
    fits = ops.cast(candidates >= ops.cast(needed, "int32"), "int32")
    # The first candidate that fits; the largest when none does.
    index = ops.where(ops.any(fits > 0), ops.argmax(fits), ops.size(fits) - 1)
    return ops.take(candidates, index)


@register
class GPTCausalLM(Task):
    """A `GPTBackbone` with a language-modeling head: next-token logits.

    The logits come from the hidden states through the *tied* token
    embedding (`hidden @ E^T`, no extra weights). `compile()` has defaults
    for language modeling: Adam, sparse categorical cross-entropy on the
    logits that ignores label 0 (padding), and an accuracy that ignores it
    too. Train with `fit(x={"token_ids", "padding_mask"}, y=next_ids)`.

    `generate` continues prompts with a KV cache in one compiled loop: the
    prompts are written into a fixed-length buffer, one forward pass over
    the buffer fills every layer's cache, then a `while_loop` produces one
    token per step, attending over the cache. Prompt lengths, the number of
    new tokens and the random numbers are tensors, so the loop is traced
    and compiled once per batch size, buffer length (a power of two, see
    `buffer_length`) and sampler, not once per call.

    Built with a `tokenizer`, the model takes and returns text:
    `generate("ROMEO.", 50)` returns the prompt and its continuation as a
    str, `stream("ROMEO.", 50)` yields the new text piece by piece, and the
    tokenizer's vocabulary is saved in the `.keras` file with the weights.

    Args:
        backbone: a `GPTBackbone`.
        tokenizer: optional keras-hub tokenizer of the backbone's
            vocabulary (e.g. `keras_attn.data.tokenizers.train_byte_pair`).
        **kwargs: `keras.Model` arguments (`name`, ...).

    Call arguments:
        inputs: `{"token_ids": (B, T), "padding_mask": (B, T)}`.

    Returns:
        `(B, T, vocabulary_size)` logits of the next token at each position.

    Example:

    >>> import numpy as np
    >>> from keras_attn.models.gpt import GPTBackbone, GPTCausalLM
    >>> backbone = GPTBackbone(
    ...     vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=16)
    >>> model = GPTCausalLM(backbone)
    >>> inputs = {"token_ids": np.array([[5, 6, 7]]),
    ...           "padding_mask": np.array([[1, 1, 1]])}
    >>> tuple(model(inputs).shape)
    (1, 3, 50)
    >>> ids = model.generate([[5, 6, 7], [8]], max_new_tokens=2)
    >>> ids.shape, [len(row) for row in model.strip_padding(ids)]
    ((2, 5), [5, 3])

    Text in, text out, with a tokenizer:

    >>> from keras_attn.data import tokenizers
    >>> tokenizer = tokenizers.byte_tokenizer()
    >>> backbone = GPTBackbone(
    ...     vocabulary_size=tokenizer.vocabulary_size(), num_layers=1,
    ...     num_heads=2, hidden_dim=8, intermediate_dim=16,
    ...     max_sequence_length=32)
    >>> model = GPTCausalLM(backbone, tokenizer=tokenizer)
    >>> text = model.generate("ROMEO.", max_new_tokens=5)
    >>> isinstance(text, str) and text.startswith("ROMEO.")
    True

    References:
        Radford et al., "Language Models are Unsupervised Multitask
        Learners", OpenAI 2019.
    """

    def __init__(self, backbone, tokenizer=None, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.tokenizer = tokenizer

        # === Functional graph ===
        inputs = backbone.input
        hidden = backbone(inputs)  # (B, T, D)
        logits = backbone.token_embedding(hidden, reverse=True)  # (B, T, V)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

    def compile(
        self,
        optimizer="auto",
        loss="auto",
        weighted_metrics="auto",
        **kwargs,
    ):
        """`keras.Model.compile` with language-modeling defaults.

        `"auto"` gives `Adam(1e-3)`, `SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=0)` (padding labels are 0) and
        `MaskedAccuracy(ignore_class=0)`.
        """
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-3)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, ignore_class=0
            )
        if weighted_metrics == "auto":
            weighted_metrics = [MaskedAccuracy(ignore_class=0, name="accuracy")]
        super().compile(
            optimizer=optimizer, loss=loss, weighted_metrics=weighted_metrics, **kwargs
        )

    def logits(self, hidden):
        """Hidden states `(..., D)` -> float32 logits `(..., V)`."""
        logits = self.backbone.token_embedding(hidden, reverse=True)
        return ops.cast(logits, "float32")

    def generate(
        self,
        prompts,
        max_new_tokens,
        sampler="greedy",
        stop_token_ids=None,
        seed=None,
        padding_mask=None,
        jit_compile=True,
    ):
        """Continue each prompt by `max_new_tokens` tokens (`stream` yields
        them one step at a time).

        Args:
            prompts: a str or a list of str (with a `tokenizer`: text
                out, each prompt followed by its continuation, the stop
                token left out), a list of lists of token ids (ragged), a padded
                `(B, T)` int array (0 pads, or see `padding_mask`), or the
                model's input dict `{"token_ids", "padding_mask"}`. Each
                row continues from its own last token. An empty prompt
                raises a ValueError: start it with a token such as
                `<|endoftext|>`.
            max_new_tokens: tokens to add to every prompt, >= 1. The
                longest prompt plus `max_new_tokens` must fit in
                `max_sequence_length`, or a ValueError says by how much it
                does not (no silent truncation).
            sampler: a `keras_attn.samplers` name or instance.
            stop_token_ids: ids that end a row (e.g. `<|endoftext|>`);
                the stop token is kept and the rest of the row is 0.
            seed: int seed of the random numbers, or None for fresh ones;
                the same seed gives the same tokens.
            padding_mask: `(B, T)` mask of real tokens for array prompts.
            jit_compile: compile the loop with XLA (TensorFlow backend;
                JAX always compiles).

        Returns:
            NumPy int32 `(B, longest prompt + max_new_tokens)`: each prompt
            followed by its new tokens, then 0s (after a stop token, or
            after shorter prompts). The padding id 0 is never generated, so
            `strip_padding` (which drops trailing 0s) recovers each row.
        """
        if text.is_text(prompts):
            options = dict(sampler=sampler, seed=seed, jit_compile=jit_compile)
            return self._generate_text(prompts, max_new_tokens, stop_token_ids, options)
        sampler = samplers.get(sampler)
        inputs, needed = self._generate_inputs(
            prompts, max_new_tokens, sampler, stop_token_ids, seed, padding_mask
        )
        generate_function = self.make_generate_function(sampler, jit_compile)
        ids = generate_function.predict_on_batch(inputs)
        return np.asarray(ops.convert_to_numpy(ids))[:, :needed]

    def _on_ids(self, method, prompts, max_new_tokens, stop_token_ids, options):
        """`method` (`generate` or `stream`) on the ids of text prompts."""
        tokenizer = text.require_tokenizer(self, "prompts")
        texts = [prompts] if isinstance(prompts, str) else list(prompts)
        ids = text.tokenize(tokenizer, texts)
        result = method(ids, max_new_tokens, stop_token_ids=stop_token_ids, **options)
        return tokenizer, texts, result

    def _generate_text(self, prompts, max_new_tokens, stop_token_ids, options):
        tokenizer, _, ids = self._on_ids(
            self.generate, prompts, max_new_tokens, stop_token_ids, options
        )
        stop = set(stop_token_ids or ())
        outputs = [
            text.detokenize(tokenizer, [i for i in row if i not in stop])
            for row in self.strip_padding(ids)
        ]
        return outputs[0] if isinstance(prompts, str) else outputs

    def _generate_inputs(
        self, prompts, max_new_tokens, sampler, stop_token_ids, seed, padding_mask
    ):
        """The checked inputs of the decoding loop (see
        `make_generate_function`) and the output length."""
        rows = self._prompt_rows(prompts, padding_mask)
        if (
            isinstance(max_new_tokens, bool)
            or not isinstance(max_new_tokens, (int, np.integer))
            or max_new_tokens < 1
        ):
            raise ValueError(
                "`max_new_tokens` must be an integer >= 1; received "
                f"{max_new_tokens!r}."
            )
        vocabulary_size = self.backbone.vocabulary_size
        top_k = getattr(sampler, "top_k", None) or getattr(sampler, "k", None)
        if top_k is not None and top_k > vocabulary_size:
            raise ValueError(
                f"The sampler's top-k ({top_k}) is larger than the vocabulary "
                f"({vocabulary_size} tokens); use a k <= {vocabulary_size}."
            )
        longest = max(len(row) for row in rows)
        needed = longest + int(max_new_tokens)
        max_length = self.backbone.max_sequence_length
        if needed > max_length:
            raise ValueError(
                f"The longest prompt ({longest} tokens) plus max_new_tokens="
                f"{max_new_tokens} is {needed} tokens, more than "
                f"max_sequence_length={max_length}. Shorten the prompts or "
                "ask for fewer tokens."
            )
        batch = len(rows)
        length = int(ops.convert_to_numpy(buffer_length(needed, max_length)))
        token_ids = np.zeros((batch, length), "int32")
        for i, row in enumerate(rows):
            token_ids[i, : len(row)] = row
        stop = np.zeros((batch, vocabulary_size), bool)
        for token in stop_token_ids or ():
            if not 0 <= int(token) < vocabulary_size:
                raise ValueError(
                    f"`stop_token_ids` must be ids in [0, {vocabulary_size}); "
                    f"received {token}."
                )
            stop[:, int(token)] = True
        inputs = {
            "token_ids": token_ids,
            "lengths": np.array([len(row) for row in rows], "int32"),
            "max_new_tokens": np.full((batch,), max_new_tokens, "int32"),
            # One uniform number per row and position: the loop's only
            # randomness, drawn here so the compiled loop holds no state.
            "uniform": np.random.default_rng(seed).random(
                (batch, length), dtype="float32"
            ),
            "stop": stop,
        }
        return inputs, needed

    def stream(
        self,
        prompts,
        max_new_tokens,
        sampler="greedy",
        stop_token_ids=None,
        seed=None,
        padding_mask=None,
        jit_compile=True,
    ):
        """`generate`, one step at a time: yields the new tokens as they come.

        Takes `generate`'s arguments and makes the same tokens for the same
        seed (the same random numbers, the same step; tested), but runs one
        compiled decoding step per `next()`, so a caller can print each
        token as soon as it exists. Between steps the loop's state, the
        key/value cache included, stays in variables on the device (a
        `ResidentStepLoop`: one per stream running at the time, each
        compiled; the last one is kept for the next stream of the same
        shapes), and only the new tokens, the position and the done flags
        come back.

        Yields:
            NumPy int32 `(B,)` per step: the token each row produced at this
            step, or 0 where it produced none (its prompt is longer and
            still being read, or it has stopped). Appending each row's
            non-zero tokens to its prompt gives `generate`'s row. With text
            prompts (a model with a `tokenizer`), the new text of each step
            instead: a str for a str prompt, a list of str for a list; the
            pieces joined give `generate`'s continuation.

        Example:

        >>> import numpy as np
        >>> from keras_attn.models.gpt import GPTBackbone, GPTCausalLM
        >>> backbone = GPTBackbone(
        ...     vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
        ...     intermediate_dim=16, max_sequence_length=16)
        >>> model = GPTCausalLM(backbone)
        >>> steps = list(model.stream([[5, 6, 7]], max_new_tokens=3))
        >>> new = [int(step[0]) for step in steps]
        >>> new == model.generate([[5, 6, 7]], max_new_tokens=3)[0, 3:].tolist()
        True
        """
        if text.is_text(prompts):
            options = dict(sampler=sampler, seed=seed, jit_compile=jit_compile)
            yield from self._stream_text(
                prompts, max_new_tokens, stop_token_ids, options
            )
            return
        sampler = samplers.get(sampler)
        inputs, _ = self._generate_inputs(
            prompts, max_new_tokens, sampler, stop_token_ids, seed, padding_mask
        )
        loop = self.make_generate_function(sampler, jit_compile, step=True)
        state = loop.predict_on_batch(inputs)  # the prefill
        end = min(
            int(np.max(inputs["lengths"] + inputs["max_new_tokens"])),
            inputs["token_ids"].shape[1],
        )
        # The steps keep the state (the cache) on the device; each brings
        # back only its new tokens. The inputs go to the device once.
        inputs = keras.tree.map_structure(ops.convert_to_tensor, inputs)
        with resident_state(loop, state) as step:
            while int(state["index"][0]) < end and not np.all(state["done"]):
                state = step.predict_on_batch(inputs)
                yield np.asarray(state["new_tokens"])

    def _stream_text(self, prompts, max_new_tokens, stop_token_ids, options):
        tokenizer, texts, steps = self._on_ids(
            self.stream, prompts, max_new_tokens, stop_token_ids, options
        )
        stop = set(stop_token_ids or ())
        new = [[] for _ in texts]  # each row's new ids
        shown = [""] * len(texts)  # the text already yielded
        for step in steps:
            for row, token in enumerate(step.tolist()):
                if token and token not in stop:
                    new[row].append(token)
            wholes = [text.detokenize(tokenizer, row) for row in new]
            pieces, shown = text.new_pieces(wholes, shown, step != 0)
            yield pieces[0] if isinstance(prompts, str) else pieces
        # What was held back (an undecodable end) comes last.
        wholes = [text.detokenize(tokenizer, row) for row in new]
        rest, _ = text.new_pieces(wholes, shown, [False] * len(new))
        if any(rest):
            yield rest[0] if isinstance(prompts, str) else rest

    @staticmethod
    def strip_padding(ids):
        """`generate`'s output as a list of lists without the trailing 0s."""
        rows = []
        for row in np.asarray(ids).tolist():
            while row and row[-1] == 0:
                row.pop()
            rows.append(row)
        return rows

    def _prompt_rows(self, prompts, padding_mask):
        if isinstance(prompts, dict):
            prompts, padding_mask = prompts["token_ids"], prompts.get("padding_mask")
        if isinstance(prompts, (list, tuple)) and all(
            isinstance(row, (list, tuple, np.ndarray)) for row in prompts
        ):
            vocabulary_size = self.backbone.vocabulary_size
            rows = [
                check_token_ids(np.ravel(row), vocabulary_size, f"prompts[{i}]")
                .astype("int64")
                .tolist()
                for i, row in enumerate(prompts)
            ]
        else:
            array = np.asarray(ops.convert_to_numpy(prompts))
            if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer):
                raise ValueError(
                    "`prompts` must be a list of lists of ids, a (batch, length) "
                    f"int array or a dict of them; received {type(prompts).__name__}"
                    f" with shape {array.shape} and dtype {array.dtype}."
                )
            mask = array != 0 if padding_mask is None else padding_mask
            mask = np.asarray(ops.convert_to_numpy(mask)).astype(bool)
            if mask.shape != array.shape:
                raise ValueError(
                    f"`padding_mask` must have the prompts' shape {array.shape}; "
                    f"received {mask.shape}."
                )
            rows = [row[keep].tolist() for row, keep in zip(array, mask)]
        if not rows:
            raise ValueError("`prompts` is empty; expected at least one prompt.")
        vocabulary_size = self.backbone.vocabulary_size
        for i, row in enumerate(rows):
            if not row:
                raise ValueError(
                    f"Prompt {i} is empty. Start every prompt with at least one "
                    "token, e.g. the end-of-text id `<|endoftext|>`."
                )
            check_token_ids(row, vocabulary_size, f"prompts[{i}]")
        return rows

    def make_generate_function(self, sampler="greedy", jit_compile=True, step=False):
        """The compiled generation loop for `sampler`, a `DecodingLoop`.

        `generate` runs it with `predict_on_batch`; the SavedModel export
        traces its `call` (with a `TunableSampler`, whose settings are
        inputs). Its input is the dict `generate` builds: `token_ids`
        `(B, L)` prompts in a buffer of `buffer_length(...)` positions,
        `lengths` `(B,)`, `max_new_tokens` `(B,)`, `uniform` `(B, L)` random
        numbers, `stop` `(B, V)` stop-token flags and optionally
        `sampler_settings`; its output the `(B, L)` ids. One loop is made
        per sampler setting and `jit_compile` (XLA on TensorFlow; JAX always
        compiles), and kept. `step=True` gives the loop of `stream`: its
        first call prefills and returns the loop's state, each call with
        that `state` in the inputs runs one step.
        """
        sampler = samplers.get(sampler)
        key = (type(sampler).__name__, repr(sampler.get_config()), jit_compile, step)

        def make():
            loop = GPTGenerateLoop(self, sampler, step=step, name="gpt_generator")
            loop.jit_compile = jit_compile
            return loop

        return self._cached_generate_function(key, make)


class GPTGenerateLoop(DecodingLoop):
    """The KV-cached generation loop over a `GPTCausalLM` (see
    `GPTCausalLM.make_generate_function`): a prefill, then `step` until
    every row is done. With `step=True` each call runs one of the two (the
    loop of `GPTCausalLM.stream`), with the same code."""

    def __init__(self, causal_lm, sampler, step=False, **kwargs):
        super().__init__(causal_lm, **kwargs)
        self.sampler = sampler
        self.step_by_step = step

    def loop(self, inputs):
        if self.step_by_step:
            if "state" not in inputs:
                return self._as_dict(self.prefill(inputs))
            state = inputs["state"]
            index = ops.cast(state["index"][0], "int32")
            done = ops.cast(state["done"], "bool")
            state = (index, state["token_ids"], tuple(state["cache"]), done)
            index, ids, cache, now_done = self.step(inputs, *state)
            # What this step added: nothing for rows inside their prompt or
            # already stopped.
            token = ops.take(ids, index - 1, axis=1)
            lengths = ops.cast(inputs["lengths"], "int32")
            new = ops.logical_and(index - 1 >= lengths, ops.logical_not(done))
            return {
                **self._as_dict((index, ids, cache, now_done)),
                "new_tokens": ops.where(new, token, 0),
            }
        index, ids, cache, done = self.prefill(inputs)
        limit = ops.cast(inputs["lengths"] + inputs["max_new_tokens"], "int32")
        end = ops.minimum(ops.max(limit), ops.shape(ids)[1])

        def cond(index, ids, cache, done):
            return ops.logical_and(index < end, ops.logical_not(ops.all(done)))

        def body(*state):
            return self.step(inputs, *state)

        _, ids, _, _ = ops.while_loop(cond, body, (index, ids, cache, done))
        return ids

    @staticmethod
    def _as_dict(state):
        index, ids, cache, done = state
        batch = ops.shape(ids)[0]
        return {
            "index": ops.full((batch,), index, "int32"),
            "token_ids": ids,
            "cache": cache,
            "done": done,
        }

    def prefill(self, inputs):
        """One pass over the buffer writes every position's keys and values.
        Those past a row's prompt are rewritten as the loop reaches them,
        before any query can see them (causal attention). Returns the loop
        state `(index, ids, cache, done)`."""
        backbone = self.task.backbone
        # B: batch, L: buffer length, V: vocabulary.
        token_ids = ops.cast(inputs["token_ids"], "int32")  # (B, L)
        lengths = ops.cast(inputs["lengths"], "int32")  # (B,)
        batch, length = ops.shape(token_ids)[0], ops.shape(token_ids)[1]
        _, cache = backbone.call_with_cache(
            token_ids, backbone.init_cache(batch, length), 0
        )
        return (
            ops.min(lengths),
            token_ids,
            tuple(cache),
            ops.zeros_like(lengths, "bool"),
        )

    def step(self, inputs, index, ids, cache, done):
        """Run the token at `index - 1` to choose the token at `index`."""
        lm, backbone = self.task, self.task.backbone
        lengths = ops.cast(inputs["lengths"], "int32")  # (B,)
        limit = lengths + ops.cast(inputs["max_new_tokens"], "int32")  # (B,)
        uniform = inputs["uniform"]  # (B, L)
        stop = ops.cast(inputs["stop"], "bool")  # (B, V)
        # Optional per-row sampler settings, e.g. `TunableSampler`'s
        # temperature, top_k and top_p as (B,) tensors: one traced loop then
        # serves every setting (the exported `generate` signature uses this).
        settings = inputs.get("sampler_settings", {})
        batch = ops.shape(ids)[0]
        # `take`, not `slice`: XLA on TensorFlow needs a slice's start as a
        # constant, and would compile the step anew for every index value.
        previous = ops.take(ids, index - 1, axis=1)[:, None]  # (B, 1)
        hidden, cache = backbone.call_with_cache(previous, cache, index - 1)
        logits = lm.logits(hidden[:, 0])  # (B, V)
        # Id 0 pads: never generate it.
        logits = ops.slice_update(logits, [0, 0], ops.full((batch, 1), -1e9))
        draw = ops.take(uniform, index, axis=1)  # (B,)
        sampled = self.sampler.next_token(logits, draw, **settings)  # (B,)
        # Rows still inside their prompt keep the prompt's token.
        prompt_token = ops.take(ids, index, axis=1)  # (B,)
        in_prompt = index < lengths
        token = ops.where(in_prompt, prompt_token, ops.where(done, 0, sampled))
        is_stop = ops.take_along_axis(stop, token[:, None], axis=1)[:, 0]
        done = done | (~in_prompt & is_stop) | (index + 1 >= limit)
        ids = ops.slice_update(ids, [0, index], token[:, None])  # (B, L)
        return index + 1, ids, tuple(cache), done
