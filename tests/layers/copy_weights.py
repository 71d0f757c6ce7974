"""Copy weights from core Keras / keras-hub layers into keras_attn layers.

The layouts differ (Keras keeps per-head kernels as `(D, N, H)`; keras_attn
uses flat `(D, N·H)` Dense kernels, fused for self-attention), so each copy
reshapes explicitly: a wrong mapping makes the parity tests fail.
"""

import numpy as np

from tests.test_case import to_numpy


def _flat_in(dense):  # EinsumDense (D, N, H) -> (D, N*H), bias (N*H,)
    k = to_numpy(dense.kernel)
    return k.reshape(k.shape[0], -1), to_numpy(dense.bias).reshape(-1)


def copy_keras_mha(keras_mha, ours):
    """keras.layers.MultiHeadAttention -> MultiHeadAttention/SelfAttention."""
    q, k, v = (
        _flat_in(keras_mha._query_dense),
        _flat_in(keras_mha._key_dense),
        _flat_in(keras_mha._value_dense),
    )
    if hasattr(ours, "qkv_dense"):
        ours.qkv_dense.set_weights(
            [np.concatenate([q[0], k[0], v[0]], 1), np.concatenate([q[1], k[1], v[1]])]
        )
    else:
        ours.query_dense.set_weights(list(q))
        ours.key_dense.set_weights(list(k))
        ours.value_dense.set_weights(list(v))
    out = keras_mha._output_dense
    kernel = to_numpy(out.kernel)
    ours.output_dense.set_weights(
        [kernel.reshape(-1, kernel.shape[-1]), to_numpy(out.bias)]
    )


def _copy_block_common(hub, ours):
    copy_keras_mha(hub._self_attention_layer, ours.self_attention)
    ours.self_attention_layer_norm.set_weights(
        hub._self_attention_layer_norm.get_weights()
    )
    ours.feed_forward.intermediate_dense.set_weights(
        hub._feedforward_intermediate_dense.get_weights()
    )
    ours.feed_forward.output_dense.set_weights(
        hub._feedforward_output_dense.get_weights()
    )
    ours.feed_forward_layer_norm.set_weights(hub._feedforward_layer_norm.get_weights())


def copy_hub_encoder(hub, ours):
    _copy_block_common(hub, ours)


def copy_hub_decoder(hub, ours):
    _copy_block_common(hub, ours)
    if hub._cross_attention_layer is not None:
        copy_keras_mha(hub._cross_attention_layer, ours.cross_attention)
        ours.cross_attention_layer_norm.set_weights(
            hub._cross_attention_layer_norm.get_weights()
        )
