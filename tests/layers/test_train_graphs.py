"""What TensorFlow runs for a train step of each attention layer.

Without XLA, TensorFlow executes the gradient graph op by op, so an op with
an expensive gradient costs every step. Indexing a stacked tensor
(`qkv[0]`, `qkv[1]`, `qkv[2]`) has one: each `StridedSliceGrad` fills a
tensor of the full stacked size with zeros and the three are added. That
made `MultiHeadSelfAttention` train 1.7x slower than core Keras without
XLA (docs/benchmarks.md, issue 12) while XLA hid it. These tests read the
gradient graph of every attention layer and fail on such ops.
"""

import numpy as np
import pytest

from keras_attn.layers import MultiHeadAttention
from keras_attn.layers import MultiHeadSelfAttention
from keras_attn.layers import TransformerDecoder
from keras_attn.layers import TransformerEncoder

pytestmark = pytest.mark.tf_only

# The gradient that materialises a zero-filled tensor of the sliced input's size.
SLOW_GRADIENTS = {"StridedSliceGrad"}

X = np.random.RandomState(0).rand(2, 6, 16).astype("float32")
SOURCE = np.random.RandomState(1).rand(2, 5, 16).astype("float32")


def _train_graph(layer, inputs):
    """The TensorFlow graph of the forward and backward pass of `layer`."""
    import tensorflow as tf

    layer(*inputs)  # build

    @tf.function
    def step(*inputs):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.cast(layer(*inputs), "float32"))
        return tape.gradient(loss, layer.trainable_weights)

    return step.get_concrete_function(*inputs).graph


def _gradient_op_types(layer, inputs):
    graph = _train_graph(layer, inputs)
    types = {op.type for op in graph.get_operations()}
    for function in graph._functions.values():  # nested function bodies
        types.update(node.op for node in function.definition.node_def)
    return types


@pytest.mark.parametrize(
    "make, inputs",
    [
        (lambda: MultiHeadSelfAttention(num_heads=2, key_dim=8), (X,)),
        (lambda: MultiHeadSelfAttention(2, 8, causal=True), (X,)),
        (lambda: MultiHeadAttention(num_heads=2, key_dim=8), (X, SOURCE)),
        (lambda: TransformerEncoder(intermediate_dim=32, num_heads=2), (X,)),
        (lambda: TransformerDecoder(intermediate_dim=32, num_heads=2), (X, SOURCE)),
    ],
    ids=["self", "causal_self", "cross", "encoder", "decoder"],
)
def test_train_step_has_no_zero_filling_gradients(make, inputs):
    types = _gradient_op_types(make(), inputs)
    assert "MatMul" in types or "BatchMatMulV2" in types  # the graph was read
    assert not types & SLOW_GRADIENTS, sorted(types & SLOW_GRADIENTS)


def _float32_shapes(layer, inputs):
    """The static shapes of every float32 tensor in `layer`'s train graph."""
    return {
        tuple(tensor.shape.as_list())
        for op in _train_graph(layer, inputs).get_operations()
        for tensor in op.outputs
        if tensor.dtype == "float32" and tensor.shape.rank is not None
    }


# bfloat16 has float32's exponent range, so its scores cannot overflow the
# softmax the way float16 ones do; upcasting the (B, N, T, S) scores to
# float32 and back cost ~9% of a MultiHeadSelfAttention train step in
# mixed_bfloat16 on a CPU with AMX (oneDNN computes a bfloat16 softmax in
# float32 inside the kernel anyway; docs/benchmarks.md).
@pytest.mark.parametrize(
    "make, inputs",
    [
        (lambda: MultiHeadSelfAttention(2, 8, dropout=0.1), (X,)),
        (lambda: MultiHeadAttention(2, 8, dropout=0.1), (X, SOURCE)),
        (lambda: TransformerEncoder(32, 2, dropout=0.1), (X,)),
        (lambda: TransformerDecoder(32, 2, dropout=0.1), (X, SOURCE)),
    ],
    ids=["self", "cross", "encoder", "decoder"],
)
def test_bfloat16_attention_weights_stay_bfloat16(make, inputs):
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        layer = make()
    finally:
        keras.config.set_dtype_policy(previous)
    shapes = _float32_shapes(layer, inputs)
    assert (16, 8) in shapes or (16, 16) in shapes  # float32 weights were read
    length, source = inputs[0].shape[1], inputs[-1].shape[1]
    # (B, N, T, T) self-attention and (B, N, T, S) cross-attention weights.
    weights = {(length, length), (length, source)}
    weights_shaped = {s for s in shapes if len(s) == 4 and s[-2:] in weights}
    assert not weights_shaped, sorted(weights_shaped)
