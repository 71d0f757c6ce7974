from keras_attn.layers.attention_utils import keras_mask_of
from keras_attn.layers.transformer_block import TransformerBlock
from keras_attn.saving import register


@register
class TransformerEncoder(TransformerBlock):
    """One Transformer encoder block: self-attention then feed-forward.

    Each of the two sublayers is wrapped in a residual connection and a
    LayerNorm: after the residual add (post-LN, Vaswani et al. 2017) or, with
    `normalize_first=True`, on the sublayer's input (pre-LN, as in GPT-2),
    which trains more stably in deep stacks.

    Args:
        intermediate_dim: hidden width of the feed-forward sublayer.
        num_heads: attention heads; must divide the input width.
        dropout: dropout rate of the attention weights and sublayer outputs.
        activation: feed-forward activation.
        layer_norm_epsilon: epsilon of the LayerNorms.
        normalize_first: pre-LN instead of post-LN.
        kernel_initializer: initializer of every kernel (each sublayer gets
            its own clone).
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `(B, T, D)`.
        mask: `(B, T)` padding mask; the Keras mask of `inputs` by default.
        attention_mask: `(B, T, T)` boolean mask, combined with the padding.
        return_attention_scores: also return the `(B, N, T, T)` weights.
        training: whether dropout is active.

    Returns:
        `(B, T, D)`, and the attention weights if requested.

    Example:

    >>> import numpy as np
    >>> from keras_attn.layers import TransformerEncoder
    >>> encoder = TransformerEncoder(intermediate_dim=64, num_heads=4)
    >>> x = np.random.rand(2, 10, 32).astype("float32")
    >>> tuple(encoder(x).shape)
    (2, 10, 32)

    References:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
        Xiong et al., "On Layer Normalization in the Transformer
        Architecture", ICML 2020.
    """

    def build(self, inputs_shape):
        self._build_self_attention(inputs_shape, causal=False)
        self._build_feed_forward(inputs_shape)

    def call(
        self,
        inputs,
        mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        mask = keras_mask_of(inputs) if mask is None else mask
        x, *scores = self._residual(
            inputs,
            self.self_attention_layer_norm,
            lambda x: self.self_attention(
                x,
                mask=mask,
                attention_mask=attention_mask,
                return_attention_scores=return_attention_scores,
                training=training,
            ),
            self.self_attention_dropout,
            training,
        )
        x = self._feed_forward_residual(x, training)
        return (x, scores[0]) if return_attention_scores else x
