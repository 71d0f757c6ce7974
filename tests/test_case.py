"""The one layer-test harness every layer of keras_attn goes through.

`run_layer_test` checks, for one layer configuration and one set of inputs:
config round trip, exact weight counts, distinct initial kernels, eager and
symbolic output shapes and dtypes, `.keras` save/load with equal outputs, one
`fit` step that changes the weights, `mixed_float16` / `mixed_bfloat16`
without NaN, and an XLA-compiled call equal to the eager one.
"""

import os
import tempfile

import keras
import numpy as np
from keras import ops


def to_numpy(x):
    return None if x is None else np.asarray(ops.convert_to_numpy(x))


def dtype_of(x):
    return keras.backend.standardize_dtype(x.dtype)


def flatten(outputs):
    return list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]


def load_in_fresh_process(path, expression, *args):
    """`expression` evaluated in a new Python process on `model`, the
    `.keras` file at `path` loaded there after `import keras_attn` (which
    registers the classes), with `args` as `sys.argv[2:]`: its JSON value."""
    import json
    import subprocess
    import sys

    script = (
        "import json, sys, keras, keras_attn\n"
        "model = keras.saving.load_model(sys.argv[1])\n"
        f"print(json.dumps({expression}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_close(actual, expected, atol=1e-5, rtol=1e-5, msg=""):
    np.testing.assert_allclose(
        to_numpy(actual), to_numpy(expected), atol=atol, rtol=rtol, err_msg=msg
    )


def assert_distinct_initial_weights(layer):
    """No two kernels (or tables) of `layer` start with the same values.

    Sublayers that share one initializer instance get identical starting
    weights (a Keras 3 initializer fixes its seed when it is created), so
    e.g. query, key and value would stay interchangeable. Weights that
    start constant by design (biases, LayerNorm scales, a GRU's `(2, 3H)`
    bias) are not compared.
    """
    weights, values = [], []
    for w in layer.weights:
        value = to_numpy(w)
        if value.ndim >= 2 and not np.all(value == value.flat[0]):
            weights.append(w)
            values.append(value)
    for i, a in enumerate(values):
        for j in range(i):
            b = values[j]
            if a.shape == b.shape and np.array_equal(a, b):
                raise AssertionError(
                    f"{weights[i].path} and {weights[j].path} start equal: "
                    "give every sublayer its own clone of the initializer."
                )


def _symbolic_inputs(inputs):
    return {
        name: keras.Input(
            shape=np.shape(value)[1:], dtype=str(np.asarray(value).dtype), name=name
        )
        for name, value in inputs.items()
    }


def _build_model(layer, inputs, call_kwargs):
    symbolic = _symbolic_inputs(inputs)
    outputs = layer(**symbolic, **call_kwargs)
    return keras.Model(symbolic, outputs), outputs


def run_layer_test(
    layer_cls,
    init_kwargs,
    inputs,
    expected_output_shapes,
    expected_num_trainable_weights,
    expected_num_params,
    call_kwargs=None,
    expected_num_non_trainable_weights=0,
    run_training=True,
    run_mixed_precision=True,
    run_xla=True,
):
    """Run the standard checks on one layer.

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor arguments.
        inputs: dict of call argument name -> NumPy array (batch first).
        expected_output_shapes: list of output shapes (one per output).
        expected_num_trainable_weights: number of trainable variables.
        expected_num_params: exact number of scalar parameters.
        call_kwargs: non-tensor call arguments (flags).
    """
    call_kwargs = call_kwargs or {}

    # Config round trip.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    assert layer_cls.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert type(restored) is layer_cls

    # Eager call: shapes, dtypes, weight counts.
    outputs = flatten(layer(**inputs, **call_kwargs))
    assert [tuple(o.shape) for o in outputs] == [
        tuple(s) for s in expected_output_shapes
    ]
    for o in outputs:
        if "float" in dtype_of(o):
            assert dtype_of(o) == layer.compute_dtype
            assert np.all(np.isfinite(to_numpy(o)))
    assert len(layer.trainable_weights) == expected_num_trainable_weights
    assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights
    assert layer.count_params() == expected_num_params
    assert_distinct_initial_weights(layer)

    # Symbolic call: shapes with an unknown batch size.
    layer = layer_cls(**init_kwargs)
    model, symbolic_outputs = _build_model(layer, inputs, call_kwargs)
    assert len(flatten(symbolic_outputs)) == len(expected_output_shapes)
    for o, shape in zip(flatten(symbolic_outputs), expected_output_shapes):
        assert tuple(o.shape) == (None,) + tuple(shape[1:])
    eager = [to_numpy(o) for o in flatten(model(inputs, training=False))]

    # .keras round trip: same class, same outputs.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    for a, b in zip(flatten(loaded(inputs, training=False)), eager):
        assert_close(a, b, msg="outputs differ after .keras save/load")

    # XLA (jit) compile gives the eager outputs.
    if run_xla:
        model.compile(jit_compile=True)
        compiled = flatten(model.predict_on_batch(inputs))
        for a, b in zip(compiled, eager):
            assert_close(a, b, atol=1e-4, msg="XLA output differs from eager")

    # One fit step on the first output moves the weights.
    if run_training and layer.trainable_weights:
        first = flatten(symbolic_outputs)[0]
        train_model = keras.Model(model.inputs, first)
        train_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        before = [to_numpy(w) for w in layer.trainable_weights]
        target = np.ones(eager[0].shape, "float32")
        history = train_model.fit(inputs, target, batch_size=len(target), verbose=0)
        assert np.isfinite(history.history["loss"][0])
        after = [to_numpy(w) for w in layer.trainable_weights]
        assert any(not np.allclose(a, b) for a, b in zip(before, after))

    # Mixed precision: outputs in the compute dtype, finite.
    if run_mixed_precision:
        for policy in ("mixed_float16", "mixed_bfloat16"):
            layer = layer_cls(**init_kwargs, dtype=policy)
            for o in flatten(layer(**inputs, **call_kwargs)):
                if "float" in dtype_of(o):
                    compute = policy.split("_")[1]
                    assert dtype_of(o) == compute, (policy, o.dtype)
                    values = to_numpy(ops.cast(o, "float32"))
                    assert np.all(np.isfinite(values)), policy


def byte_gpt():
    """A tiny random `GPTCausalLM` over `byte_tokenizer`, with the tokenizer
    attached (text in, text out)."""
    from keras_attn.data import tokenizers
    from keras_attn.models import GPTBackbone
    from keras_attn.models import GPTCausalLM

    tokenizer = tokenizers.byte_tokenizer()
    backbone = GPTBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=32,
    )
    return GPTCausalLM(backbone, tokenizer=tokenizer)
