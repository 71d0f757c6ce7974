"""Convert backbones to and from keras-hub: BERT, GPT-2 and ViT.

| keras_attn    | keras-hub                        |
|---------------|----------------------------------|
| `BertBackbone`| `keras_hub.models.BertBackbone`  |
| `GPTBackbone` | `keras_hub.models.GPT2Backbone`  |
| `ViTBackbone` | `keras_hub.models.ViTBackbone`   |

Both sides take the same inputs (dicts of `token_ids`, `segment_ids` for
BERT, `padding_mask` with 1 on real tokens; images for ViT) and give the
same outputs at the real positions. At padded positions they differ and
neither is meaningful: keras-hub lets padded queries attend to the real
tokens, keras_attn zeroes their attention output.

Weights are copied exactly; only their layout changes. keras-hub keeps each
attention projection as an `(D, N, H)` kernel (output `(N, H, D)`);
keras_attn fuses query, key and value into one `(D, 3·N·H)` kernel and
keeps the output as `(N·H, D)`.

keras-hub's BERT and GPT-2 have a fixed tanh-approximated GELU and fixed
LayerNorm epsilons (1e-12 for BERT, 1e-5 for GPT-2): `to_keras_hub` refuses
a backbone built otherwise (e.g. a Hugging Face checkpoint with the exact
erf GELU) rather than return a model that computes something else.
keras-hub's ViT has the exact GELU, as ours; `from_keras_hub` refuses one
without biases, with channels-first images or with an attention dropout
other than its dropout (ours has one rate for both).
"""

import keras
import numpy as np

from keras_attn.layers.feed_forward import gelu_approximate
from keras_attn.models.bert.bert_backbone import BertBackbone
from keras_attn.models.gpt.gpt_backbone import GPTBackbone
from keras_attn.models.vit.vit_backbone import ViTBackbone

HUB_BERT_EPSILON = 1e-12
HUB_GPT2_EPSILON = 1e-5


def from_keras_hub(hub_backbone):
    """A keras_attn backbone with the weights of a keras-hub backbone.

    Args:
        hub_backbone: a `keras_hub.models.BertBackbone`,
            `keras_hub.models.GPT2Backbone` or `keras_hub.models.ViTBackbone`
            (e.g. from `from_preset`).

    Returns:
        A `BertBackbone` (tanh GELU, epsilon 1e-12), a `GPTBackbone` or a
        `ViTBackbone` of the same configuration, dropout and dtype policy.

    Example:

    >>> import keras_hub
    >>> from keras_attn.models.keras_hub_conversion import from_keras_hub
    >>> hub = keras_hub.models.GPT2Backbone(vocabulary_size=12, num_layers=1,
    ...     num_heads=2, hidden_dim=8, intermediate_dim=16,
    ...     max_sequence_length=16)
    >>> backbone = from_keras_hub(hub)
    >>> type(backbone).__name__, backbone.count_params() == hub.count_params()
    ('GPTBackbone', True)
    """
    import keras_hub

    if isinstance(hub_backbone, keras_hub.models.ViTBackbone):
        return _vit_from_keras_hub(hub_backbone)
    hub_types = (keras_hub.models.BertBackbone, keras_hub.models.GPT2Backbone)
    if not isinstance(hub_backbone, hub_types):
        raise TypeError(
            "from_keras_hub converts keras_hub.models.BertBackbone, "
            f"GPT2Backbone and ViTBackbone; received {type(hub_backbone).__name__}."
        )
    common = dict(
        vocabulary_size=hub_backbone.vocabulary_size,
        num_layers=hub_backbone.num_layers,
        num_heads=hub_backbone.num_heads,
        hidden_dim=hub_backbone.hidden_dim,
        intermediate_dim=hub_backbone.intermediate_dim,
        dropout=hub_backbone.dropout,
        max_sequence_length=hub_backbone.max_sequence_length,
        dtype=hub_backbone.token_embedding.dtype_policy,
    )
    if isinstance(hub_backbone, keras_hub.models.BertBackbone):
        ours = BertBackbone(
            num_segments=hub_backbone.num_segments,
            layer_norm_epsilon=HUB_BERT_EPSILON,
            activation=gelu_approximate,
            **common,
        )
        _copy(_bert_pairs(ours, hub_backbone), into_hub=False)
    else:
        ours = GPTBackbone(layer_norm_epsilon=HUB_GPT2_EPSILON, **common)
        _copy(_gpt2_pairs(ours, hub_backbone), into_hub=False)
    return ours


def _vit_from_keras_hub(hub):
    refused = {
        "use_mha_bias": not hub.use_mha_bias,
        "use_mlp_bias": not hub.use_mlp_bias,
        "use_patch_bias": not hub.use_patch_bias,
        "data_format": hub.data_format != "channels_last",
        "attention_dropout": hub.attention_dropout != hub.dropout_rate,
    }
    if any(refused.values()):
        settings = {name: getattr(hub, name) for name, bad in refused.items() if bad}
        raise ValueError(
            "ViTBackbone has biases everywhere, channels-last images and one "
            f"dropout rate; this keras-hub ViT has {settings}."
        )
    ours = ViTBackbone(
        image_shape=tuple(hub.image_shape),
        patch_size=hub.patch_size,
        num_layers=hub.num_layers,
        num_heads=hub.num_heads,
        hidden_dim=hub.hidden_dim,
        intermediate_dim=hub.mlp_dim,
        dropout=hub.dropout_rate,
        layer_norm_epsilon=hub.layer_norm_epsilon,
        use_class_token=hub.use_class_token,
        dtype=hub.get_layer("vit_encoder").dtype_policy,
    )
    _copy(_vit_pairs(ours, hub), into_hub=False)
    return ours


def to_keras_hub(backbone):
    """The keras-hub backbone with the weights of a keras_attn backbone.

    Args:
        backbone: a `BertBackbone` (tanh GELU, `layer_norm_epsilon=1e-12`)
            or a `GPTBackbone` (`layer_norm_epsilon=1e-5`).

    Returns:
        A `keras_hub.models.BertBackbone` or `keras_hub.models.GPT2Backbone`
        of the same configuration, dropout and dtype policy.

    Raises:
        ValueError: the backbone's activation or LayerNorm epsilon is one
            that the keras-hub model cannot express.

    Example:

    >>> from keras_attn.models.bert import BertBackbone
    >>> from keras_attn.models.keras_hub_conversion import to_keras_hub
    >>> backbone = BertBackbone(vocabulary_size=12, num_layers=1,
    ...     num_heads=2, hidden_dim=8, intermediate_dim=16,
    ...     max_sequence_length=16)
    >>> hub = to_keras_hub(backbone)
    >>> type(hub).__name__, hub.count_params() == backbone.count_params()
    ('BertBackbone', True)
    """
    import keras_hub

    if not isinstance(backbone, (BertBackbone, GPTBackbone)):
        raise TypeError(
            "to_keras_hub converts keras_attn BertBackbone and GPTBackbone; "
            f"received {type(backbone).__name__}."
        )
    common = dict(
        vocabulary_size=backbone.vocabulary_size,
        num_layers=backbone.num_layers,
        num_heads=backbone.num_heads,
        hidden_dim=backbone.hidden_dim,
        intermediate_dim=backbone.intermediate_dim,
        dropout=backbone.dropout,
        max_sequence_length=backbone.max_sequence_length,
        # The layers' policy (GPTBackbone's own attribute stays float32).
        dtype=backbone.token_embedding.dtype_policy,
    )
    if isinstance(backbone, BertBackbone):
        activation = keras.activations.serialize(backbone.activation)
        if backbone.activation is not gelu_approximate:
            raise ValueError(
                "keras_hub.models.BertBackbone always uses the tanh-approximated "
                f"GELU; this backbone's activation is {activation!r}, so the "
                "keras-hub model would compute something else. Build the "
                "backbone with the default activation to convert it."
            )
        _check_epsilon(backbone, HUB_BERT_EPSILON, "BertBackbone")
        hub = keras_hub.models.BertBackbone(
            num_segments=backbone.num_segments, **common
        )
        _copy(_bert_pairs(backbone, hub), into_hub=True)
        return hub
    _check_epsilon(backbone, HUB_GPT2_EPSILON, "GPT2Backbone")
    hub = keras_hub.models.GPT2Backbone(**common)
    _copy(_gpt2_pairs(backbone, hub), into_hub=True)
    return hub


def _check_epsilon(backbone, expected, hub_name):
    if backbone.layer_norm_epsilon != expected:
        raise ValueError(
            f"keras_hub.models.{hub_name} has LayerNorm epsilon {expected}; this "
            f"backbone has layer_norm_epsilon={backbone.layer_norm_epsilon}."
        )


# Pairs are `(our variable, [keras-hub variables])`: our value is the
# keras-hub values, each reshaped to our rank, concatenated on the last axis
# (query, key, value -> the fused kernel; (N, H, D) -> (N·H, D)).


def _embedding_pairs(ours, hub):
    return [
        (ours.token_embedding.embeddings, [hub.token_embedding.embeddings]),
        (
            ours.embeddings.position_embedding.position_embeddings,
            [hub.position_embedding.position_embeddings],
        ),
    ]


def _dense_pairs(ours, hub):
    return [(ours.kernel, [hub.kernel]), (ours.bias, [hub.bias])]


def _norm_pairs(ours, hub):
    return [(ours.gamma, [hub.gamma]), (ours.beta, [hub.beta])]


def _block_pairs(ours, hub):
    """A keras_attn Transformer block and keras-hub's, self-attention only."""
    attention, hub_attention = ours.self_attention, hub._self_attention_layer
    projections = [
        hub_attention._query_dense,
        hub_attention._key_dense,
        hub_attention._value_dense,
    ]
    return [
        (attention.qkv_dense.kernel, [p.kernel for p in projections]),
        (attention.qkv_dense.bias, [p.bias for p in projections]),
        *_dense_pairs(attention.output_dense, hub_attention._output_dense),
        *_norm_pairs(ours.self_attention_layer_norm, hub._self_attention_layer_norm),
        *_dense_pairs(
            ours.feed_forward.intermediate_dense, hub._feedforward_intermediate_dense
        ),
        *_dense_pairs(ours.feed_forward.output_dense, hub._feedforward_output_dense),
        *_norm_pairs(ours.feed_forward_layer_norm, hub._feedforward_layer_norm),
    ]


def _bert_pairs(ours, hub):
    pairs = _embedding_pairs(ours, hub)
    pairs.append(
        (
            ours.embeddings.segment_embedding.embeddings,
            [hub.segment_embedding.embeddings],
        )
    )
    pairs += _norm_pairs(ours.embeddings_layer_norm, hub.embeddings_layer_norm)
    for layer, hub_layer in zip(ours.transformer_layers, hub.transformer_layers):
        pairs += _block_pairs(layer, hub_layer)
    pairs += _dense_pairs(ours.pooled_dense, hub.pooled_dense)
    return pairs


def _gpt2_pairs(ours, hub):
    pairs = _embedding_pairs(ours, hub)
    for layer, hub_layer in zip(ours.transformer_layers, hub.transformer_layers):
        pairs += _block_pairs(layer, hub_layer)
    pairs += _norm_pairs(ours.layer_norm, hub.layer_norm)
    return pairs


def _vit_pairs(ours, hub):
    patching = hub.get_layer("vit_patching_and_embedding")
    encoder = hub.get_layer("vit_encoder")
    pairs = [
        *_dense_pairs(ours.embeddings.projection, patching.patch_embedding),
        (
            ours.embeddings.position_embeddings,
            [patching.position_embedding.embeddings],
        ),
    ]
    if ours.use_class_token:
        pairs.append((ours.embeddings.class_token, [patching.class_token]))
    for layer, block in zip(ours.transformer_layers, encoder.encoder_layers):
        attention = block.mha
        projections = [
            attention._query_dense,
            attention._key_dense,
            attention._value_dense,
        ]
        pairs += [
            (layer.self_attention.qkv_dense.kernel, [p.kernel for p in projections]),
            (layer.self_attention.qkv_dense.bias, [p.bias for p in projections]),
            *_dense_pairs(layer.self_attention.output_dense, attention._output_dense),
            *_norm_pairs(layer.self_attention_layer_norm, block.layer_norm_1),
            *_dense_pairs(layer.feed_forward.intermediate_dense, block.mlp.dense_1),
            *_dense_pairs(layer.feed_forward.output_dense, block.mlp.dense_2),
            *_norm_pairs(layer.feed_forward_layer_norm, block.layer_norm_2),
        ]
    pairs += _norm_pairs(ours.layer_norm, encoder.layer_norm)
    return pairs


def _copy(pairs, into_hub):
    for variable, hub_variables in pairs:
        part = tuple(variable.shape[:-1]) + (variable.shape[-1] // len(hub_variables),)
        if into_hub:
            value = keras.ops.convert_to_numpy(variable)
            for hub_variable, piece in zip(
                hub_variables, np.split(value, len(hub_variables), axis=-1)
            ):
                hub_variable.assign(piece.reshape(hub_variable.shape))
        else:
            pieces = [
                keras.ops.convert_to_numpy(h).reshape(part) for h in hub_variables
            ]
            variable.assign(np.concatenate(pieces, axis=-1))
