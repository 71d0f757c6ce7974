import keras

from keras_attn.layers.attention_utils import keras_mask_of
from keras_attn.layers.attention_utils import register
from keras_attn.layers.feed_forward import FeedForward
from keras_attn.layers.multi_head_self_attention import MultiHeadSelfAttention


@register
class TransformerEncoder(keras.layers.Layer):
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
        kernel_initializer: initializer of every kernel.
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

    def __init__(
        self,
        intermediate_dim,
        num_heads,
        dropout=0.0,
        activation="relu",
        layer_norm_epsilon=1e-5,
        normalize_first=False,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.intermediate_dim = intermediate_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.normalize_first = normalize_first
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True

    def _key_dim(self, hidden_dim):
        if hidden_dim % self.num_heads:
            raise ValueError(
                f"The input width (hidden_dim) must be divisible by num_heads; "
                f"received hidden_dim={hidden_dim} and "
                f"num_heads={self.num_heads}."
            )
        return hidden_dim // self.num_heads

    def _norm_and_dropout(self, prefix, inputs_shape):
        norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            name=f"{prefix}_layer_norm",
        )
        norm.build(inputs_shape)
        dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name=f"{prefix}_dropout"
        )
        return norm, dropout

    def _build_self_attention(self, inputs_shape, causal):
        self.self_attention = MultiHeadSelfAttention(
            num_heads=self.num_heads,
            key_dim=self._key_dim(inputs_shape[-1]),
            causal=causal,
            dropout=self.dropout,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="self_attention",
        )
        self.self_attention.build(inputs_shape)
        self.self_attention_layer_norm, self.self_attention_dropout = (
            self._norm_and_dropout("self_attention", inputs_shape)
        )

    def _build_feed_forward(self, inputs_shape):
        self.feed_forward = FeedForward(
            self.intermediate_dim,
            activation=self.activation,
            dropout=self.dropout,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="feed_forward",
        )
        self.feed_forward.build(inputs_shape)
        self.feed_forward_layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="feed_forward_layer_norm",
        )
        self.feed_forward_layer_norm.build(inputs_shape)

    def build(self, inputs_shape):
        self._build_self_attention(inputs_shape, causal=False)
        self._build_feed_forward(inputs_shape)

    def _residual(self, x, norm, sublayer, dropout=None, training=None):
        """`x + sublayer(x)` with pre- or post-LayerNorm.

        `sublayer` may return a tuple (output, extras...): the extras are
        passed through.
        """
        residual = x
        if self.normalize_first:
            x = norm(x)
        out = sublayer(x)
        extras = ()
        if isinstance(out, tuple):
            out, extras = out[0], out[1:]
        if dropout is not None:
            out = dropout(out, training=training)
        x = residual + out
        if not self.normalize_first:
            x = norm(x)
        return (x,) + extras

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
        (x,) = self._residual(
            x,
            self.feed_forward_layer_norm,
            lambda x: self.feed_forward(x, training=training),
        )
        return (x, scores[0]) if return_attention_scores else x

    def compute_output_shape(self, inputs_shape, *args, **kwargs):
        return inputs_shape

    def compute_output_spec(self, *args, **kwargs):
        # How many outputs there are depends on call flags
        # (`return_attention_scores`, a cache) that `compute_output_shape`
        # never sees, so symbolic calls trace `call` instead.
        return keras.Operation.compute_output_spec(self, *args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "intermediate_dim": self.intermediate_dim,
                "num_heads": self.num_heads,
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "normalize_first": self.normalize_first,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
