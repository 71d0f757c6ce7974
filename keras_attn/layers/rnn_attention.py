import keras
from keras import ops

from keras_attn.layers.attention_utils import compute_attention_mask
from keras_attn.layers.attention_utils import masked_softmax
from keras_attn.layers.initializers import clone_initializer


class RNNAttention(keras.layers.Layer):
    """What Bahdanau and Luong attention share: masks, softmax, context.

    An RNN decoder state (or a whole decoder sequence) attends over the
    encoder outputs: a score for every `(query, key)` pair, a masked softmax
    over the source positions, and the weighted sum of the values. The
    subclasses differ only in `build` (their weights) and `_score`.

    Call arguments:
        query: `(B, Dq)` one decoder step, or `(B, T, Dq)` a whole decoder
            sequence.
        value: `(B, S, Dv)` encoder outputs.
        key: `(B, S, Dk)` scored against the query; `value` by default.
        value_mask: `(B, S)` boolean padding mask of the encoder outputs.
            Filled in from the Keras mask of `value` (e.g. set by
            `Embedding(mask_zero=True)` before the encoder) when not given.

    Returns:
        `(context, weights)`: `context` is `(B, Dv)` or `(B, T, Dv)` (shaped
        like the query), `weights` is `(B, S)` or `(B, T, S)`; each row sums
        to one over the unmasked encoder positions, and is all zeros when
        every position is masked.
    """

    def __init__(self, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True

    def _dense(self, units, name, input_shape, use_bias=False):
        layer = keras.layers.Dense(
            units,
            use_bias=use_bias,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name=name,
        )
        layer.build(input_shape)
        return layer

    def _score(self, query, key):
        """`(B, T, Dq), (B, S, Dk) -> (B, T, S)` unnormalised scores."""
        raise NotImplementedError

    def call(self, query, value, key=None, value_mask=None, training=None):
        if len(value.shape) != 3:
            raise ValueError(
                "`value` must be (batch, source_length, features); received "
                f"shape {tuple(value.shape)}."
            )
        if len(query.shape) not in (2, 3):
            raise ValueError(
                "`query` must be (batch, features) or (batch, target_length, "
                f"features); received shape {tuple(query.shape)}."
            )
        key = value if key is None else key
        single_step = len(query.shape) == 2
        if single_step:
            query = ops.expand_dims(query, 1)  # (B, 1, Dq)
        mask = compute_attention_mask(query, key, key_mask=value_mask)
        weights = masked_softmax(self._score(query, key), mask)  # (B, T, S)
        context = ops.einsum("bts,bsd->btd", weights, value)  # (B, T, Dv)
        if single_step:
            return ops.squeeze(context, 1), ops.squeeze(weights, 1)
        return context, weights

    def compute_mask(self, inputs, previous_mask=None):
        # Keras passes the query and its mask: both outputs are per query
        # position, so both keep the query's mask.
        return previous_mask, previous_mask

    def compute_output_shape(self, query_shape, value_shape, key_shape=None):
        context = tuple(query_shape[:-1]) + (value_shape[-1],)
        weights = tuple(query_shape[:-1]) + (value_shape[1],)
        return context, weights

    def get_config(self):
        config = super().get_config()
        config["kernel_initializer"] = keras.initializers.serialize(
            self.kernel_initializer
        )
        return config
