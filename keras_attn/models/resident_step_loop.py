import contextlib

import keras
from keras import ops
from keras import tree

from keras_attn.models.decoding_loop import DecodingLoop


class ResidentStepLoop(DecodingLoop):
    """One step of a step-by-step decoding loop, with the loop's state kept
    in variables on the device.

    A step loop (`GPTCausalLM.make_generate_function(..., step=True)`) takes
    its state as an input and returns the next one: what an exported
    signature needs, since a SavedModel keeps nothing between requests. Run
    in memory through `predict_on_batch`, though, that state (the whole
    key/value cache) came back to NumPy and went back to the device at every
    step, and the copies cost more than the step (`docs/benchmarks.md`,
    streaming). This loop holds the state in non-trainable variables made
    for one state's shapes; each call runs one step of `step_loop` on them,
    assigns the new state in place, and returns only what the caller reads:
    `new_tokens` `(B,)`, `index` `(B,)` and `done` `(B,)`. `GPTCausalLM.stream`
    gets one with `resident_state`.

    Args:
        step_loop: the `DecodingLoop` whose `loop` runs one step when its
            inputs hold a `state`.
        state: a state of that loop (a dict of arrays), which fixes the
            shapes and dtypes of the variables.

    Example:

    >>> from keras_attn import samplers
    >>> from keras_attn.models import GPTBackbone, GPTCausalLM
    >>> from keras_attn.models.resident_step_loop import resident_state
    >>> lm = GPTCausalLM(GPTBackbone(
    ...     vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=16))
    >>> sampler = samplers.get("greedy")
    >>> inputs, _ = lm._generate_inputs([[5, 6, 7]], 3, sampler, None, 0, None)
    >>> step_loop = lm.make_generate_function(sampler, step=True)
    >>> state = step_loop.predict_on_batch(inputs)  # the prefill
    >>> with resident_state(step_loop, state) as loop:
    ...     out = loop.predict_on_batch(inputs)
    >>> sorted(out), out["index"].tolist()
    (['done', 'index', 'new_tokens'], [4])
    """

    def __init__(self, step_loop, state, **kwargs):
        super().__init__(step_loop.task, **kwargs)
        self.step_loop = step_loop
        self.jit_compile = step_loop.jit_compile
        self._keys = sorted(state)
        # The state's layout, without holding on to its arrays.
        self._structure = tree.map_structure(lambda _: 0, state)
        self.state_variables = [
            self.add_weight(
                shape=tuple(leaf.shape),
                dtype=_dtype(leaf),
                initializer="zeros",
                trainable=False,
                autocast=False,
                name=f"state_{i}",
            )
            for i, leaf in enumerate(tree.flatten(state))
        ]

    def assign_state(self, state):
        """Load `state` (the same keys, shapes and dtypes) into the variables."""
        expected = [(tuple(v.shape), v.dtype) for v in self.state_variables]
        if sorted(state) != self._keys or _signature(state) != tuple(expected):
            raise ValueError(
                f"This loop holds a state with keys {self._keys} and leaves "
                f"(shape, dtype) {expected}; received keys {sorted(state)} and "
                f"leaves {list(_signature(state))}."
            )
        for variable, leaf in zip(self.state_variables, tree.flatten(state)):
            variable.assign(leaf)

    def loop(self, inputs):
        values = [variable.value for variable in self.state_variables]
        state = tree.pack_sequence_as(self._structure, values)
        out = self.step_loop.loop({**inputs, "state": state})
        leaves = tree.flatten({key: out[key] for key in self._keys})
        for variable, leaf in zip(self.state_variables, leaves):
            variable.assign(ops.cast(leaf, variable.dtype))
        return {key: out[key] for key in ("new_tokens", "index", "done")}


def _dtype(array):
    return keras.backend.standardize_dtype(array.dtype)


def _signature(state):
    # `tree.flatten` orders a dict's leaves by key.
    return tuple((tuple(x.shape), _dtype(x)) for x in tree.flatten(state))


@contextlib.contextmanager
def resident_state(step_loop, state):
    """A `ResidentStepLoop` of `step_loop` holding `state`, for the `with`.

    When the `with` ends the loop is kept on `step_loop` for the next
    stream: one free loop at most, which a stream of the same shapes reuses
    (its program compiled already) and a stream of other shapes replaces.
    So between streams a model keeps one state (one key/value cache) on the
    device per step loop, as it keeps the compiled loops themselves. A
    stream that starts while another holds the free loop gets a new one,
    compiled anew.
    """
    key = _signature(state)
    free = step_loop.__dict__.pop("_free_resident_loop", None)
    if free is not None and free[0] == key:
        loop = free[1]
    else:
        del free  # its state and program go before the new ones are made
        loop = ResidentStepLoop(step_loop, state)
    loop.assign_state(state)
    try:
        yield loop
    finally:
        step_loop.__dict__["_free_resident_loop"] = (key, loop)
