"""Loads SavedModels and calls their signatures, as a serving process would.

    python load_and_call.py SPEC.json RESULT.json

Imports TensorFlow and TensorFlow Text only: never keras_attn or keras-hub
(the test checks `sys.modules`). Before TensorFlow Text registers its ops,
it lists the ops of each graph that core TensorFlow does not know, and
what `saved_model_cli show --all` prints for it. SPEC: `{"paths": {name:
dir}, "calls": [{"id", "model", "signature", "inputs": {name: [value,
dtype]}, "session": bool}]}`. RESULT: `{"custom_ops": {name: [op]},
"shows": {name: text}, "outputs": {id: {name: value}}, "session_outputs":
{id: {name: value}}, "errors": {id: message}, "imported": [...]}`; strings
come back as hex of their bytes. Calls with `"session": true` are also run
in a TF1 session, as TensorFlow Serving's C++ loader runs a SavedModel.
"""

import contextlib
import io
import json
import os
import sys

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry
from tensorflow.python.tools import saved_model_cli


def custom_ops(path):
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    ops = set()
    for graph in saved_model.meta_graphs:
        ops.update(node.op for node in graph.graph_def.node)
        for function in graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return sorted(op for op in ops if op_def_registry.get(op) is None)


def show_all(path):
    """What `saved_model_cli show --dir PATH --all` prints (the same
    function, without starting a TensorFlow process per SavedModel)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        saved_model_cli._show_all(path)
    return out.getvalue()


def session_call(path, signature, inputs):
    """The signature run the way TensorFlow Serving runs it: the graph loaded
    into a TF1 session (variables restored by name), tensors fed by name."""
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as sess:
        meta_graph = tf.compat.v1.saved_model.loader.load(sess, ["serve"], path)
        signature_def = meta_graph.signature_def[signature]
        feeds = {
            signature_def.inputs[k].name: np.array(
                v, dtype=object if d == "string" else d
            )
            for k, (v, d) in inputs.items()
        }
        fetches = {k: t.name for k, t in signature_def.outputs.items()}
        return sess.run(fetches, feeds)


def encode(array):
    if array.dtype == object:
        return [s.hex() for s in array.ravel().tolist()]
    return array.tolist()


def main(spec_path, result_path):
    with open(spec_path) as f:
        spec = json.load(f)
    result = {"custom_ops": {}, "shows": {}, "outputs": {}, "errors": {}}
    result["session_outputs"] = {}
    for name, path in spec["paths"].items():
        result["custom_ops"][name] = custom_ops(path)
        result["shows"][name] = show_all(path)

    import tensorflow_text  # noqa: F401  Registers the TF Text ops.

    loaded = {name: tf.saved_model.load(path) for name, path in spec["paths"].items()}
    for call in spec["calls"]:
        function = loaded[call["model"]].signatures[call["signature"]]
        inputs = {k: tf.constant(v, dtype) for k, (v, dtype) in call["inputs"].items()}
        try:
            outputs = function(**inputs)
        except tf.errors.InvalidArgumentError as error:
            result["errors"][call["id"]] = error.message
            continue
        result["outputs"][call["id"]] = {
            k: encode(v.numpy()) for k, v in outputs.items()
        }
        if call.get("session"):
            path = spec["paths"][call["model"]]
            outputs = session_call(path, call["signature"], call["inputs"])
            result["session_outputs"][call["id"]] = {
                k: encode(v) for k, v in outputs.items()
            }
    result["imported"] = sorted(
        m for m in ("keras_attn", "keras_hub", "keras") if m in sys.modules
    )
    with open(result_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
