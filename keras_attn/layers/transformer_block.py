import keras

from keras_attn.checks import check_positive_int
from keras_attn.layers.feed_forward import FeedForward
from keras_attn.layers.initializers import clone_initializer
from keras_attn.layers.multi_head_attention import MultiHeadAttention
from keras_attn.layers.multi_head_self_attention import MultiHeadSelfAttention


class TransformerBlock(keras.layers.Layer):
    """What `TransformerEncoder` and `TransformerDecoder` share: arguments,
    config, the builders of their sublayers and the residual wrapper.

    Not a layer to call: each subclass has its own `build` and `call`.
    Every sublayer gets its own clone of `kernel_initializer`.

    Args:
        intermediate_dim: hidden width of the feed-forward sublayer.
        num_heads: attention heads; must divide the input width.
        dropout: dropout rate of the attention weights and sublayer outputs.
        activation: feed-forward activation.
        layer_norm_epsilon: epsilon of the LayerNorms.
        normalize_first: pre-LN (on each sublayer's input) instead of
            post-LN (after each residual add).
        kernel_initializer: initializer of every kernel.
        flash_attention: let the attention sublayers use
            `keras.ops.dot_product_attention`'s fused kernel where the call
            allows it (see `MultiHeadAttention`).
        **kwargs: base layer arguments.
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
        flash_attention=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.intermediate_dim = check_positive_int(intermediate_dim, "intermediate_dim")
        self.num_heads = check_positive_int(num_heads, "num_heads")
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.normalize_first = normalize_first
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.flash_attention = flash_attention
        self.supports_masking = True

    # --- sublayer builders -------------------------------------------------

    def _key_dim(self, hidden_dim):
        if hidden_dim % self.num_heads:
            raise ValueError(
                f"The input width (hidden_dim) must be divisible by num_heads; "
                f"received hidden_dim={hidden_dim} and "
                f"num_heads={self.num_heads}."
            )
        return hidden_dim // self.num_heads

    def _layer_norm(self, name, inputs_shape):
        norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
        )
        norm.build(inputs_shape)
        return norm

    def _dropout(self, name):
        return keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name=name)

    def _attention(self, cls, name, query_shape, *other_shapes, **kwargs):
        layer = cls(
            num_heads=self.num_heads,
            key_dim=self._key_dim(query_shape[-1]),
            dropout=self.dropout,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            flash_attention=self.flash_attention,
            dtype=self.dtype_policy,
            name=name,
            **kwargs,
        )
        layer.build(query_shape, *other_shapes)
        return layer

    def _build_self_attention(self, inputs_shape, causal):
        self.self_attention = self._attention(
            MultiHeadSelfAttention, "self_attention", inputs_shape, causal=causal
        )
        self.self_attention_layer_norm = self._layer_norm(
            "self_attention_layer_norm", inputs_shape
        )
        self.self_attention_dropout = self._dropout("self_attention_dropout")

    def _build_cross_attention(self, query_shape, value_shape):
        self.cross_attention = self._attention(
            MultiHeadAttention, "cross_attention", query_shape, value_shape
        )
        self.cross_attention_layer_norm = self._layer_norm(
            "cross_attention_layer_norm", query_shape
        )
        self.cross_attention_dropout = self._dropout("cross_attention_dropout")

    def _build_feed_forward(self, inputs_shape):
        self.feed_forward = FeedForward(
            self.intermediate_dim,
            activation=self.activation,
            dropout=self.dropout,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="feed_forward",
        )
        self.feed_forward.build(inputs_shape)
        self.feed_forward_layer_norm = self._layer_norm(
            "feed_forward_layer_norm", inputs_shape
        )

    # --- the residual wrapper ----------------------------------------------

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

    def _feed_forward_residual(self, x, training):
        (x,) = self._residual(
            x,
            self.feed_forward_layer_norm,
            lambda x: self.feed_forward(x, training=training),
        )
        return x

    # --- shapes and config -------------------------------------------------

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
                "flash_attention": self.flash_attention,
            }
        )
        return config
