import keras
import numpy as np
from keras import ops

from keras_attn.checks import check_block_sizes
from keras_attn.checks import check_token_ids
from keras_attn.checks import describe
from keras_attn.layers.feed_forward import gelu_approximate
from keras_attn.layers.token_and_position_embedding import TokenAndPositionEmbedding
from keras_attn.layers.transformer_encoder import TransformerEncoder
from keras_attn.models.backbone import Backbone
from keras_attn.saving import register

INPUT_NAMES = ("token_ids", "segment_ids", "padding_mask")


def bert_initializer():
    """BERT initializes every kernel and table from N(0, 0.02²), truncated."""
    return keras.initializers.TruncatedNormal(stddev=0.02)


def check_inputs(inputs, names, model_name, vocabulary_size=None):
    """Raise a clear error for inputs a BERT model cannot take.

    Checks that `inputs` is a dict with exactly the keys `names`, each of
    rank 2 (`(B, T)`, or `(B, P)` for `mask_positions`), and that the
    `(B, T)` inputs share their static length. NumPy token ids (eager
    calls) are also checked against `vocabulary_size`; traced ids are not
    (see the BERT docs page for what each backend does then).
    """
    if not isinstance(inputs, dict):
        raise TypeError(
            f"{model_name} takes a dict with keys {sorted(names)}; received "
            f"{describe(inputs)}."
        )
    missing = sorted(set(names) - set(inputs))
    unexpected = sorted(set(inputs) - set(names))
    if missing or unexpected:
        raise ValueError(
            f"{model_name} takes a dict with keys {sorted(names)}; received "
            f"keys {sorted(inputs)} (missing {missing}, unexpected "
            f"{unexpected})."
        )
    lengths = set()
    for name in names:
        shape = tuple(inputs[name].shape)
        if len(shape) != 2:
            expected = "(B, P)" if name == "mask_positions" else "(B, T)"
            raise ValueError(
                f"{model_name}: `{name}` must have shape {expected}; received "
                f"shape {shape}."
            )
        if name != "mask_positions" and shape[1] is not None:
            lengths.add(shape[1])
    if len(lengths) > 1:
        shapes = {n: tuple(inputs[n].shape) for n in INPUT_NAMES if n in inputs}
        raise ValueError(
            f"{model_name}: `token_ids`, `segment_ids` and `padding_mask` must "
            f"have the same shape (B, T); received {shapes}."
        )
    token_ids = inputs.get("token_ids")
    if vocabulary_size is not None and isinstance(token_ids, np.ndarray):
        check_token_ids(token_ids, vocabulary_size, "token_ids", owner=model_name)


@register
class BertBackbone(Backbone):
    """The BERT encoder: embeddings and a stack of post-LN Transformer blocks.

    Token, learned position and segment embeddings are summed, normalized
    and dropped out, then go through `num_layers` post-LN
    `TransformerEncoder` blocks. The feed-forward activation is the
    tanh-approximated GELU by default, as in Google's original BERT and
    keras-hub; Hugging Face checkpoints (`hidden_act: "gelu"`) use the exact
    erf GELU, `activation="gelu"`. The padding mask keeps every real token
    from attending to padding (padded positions' own outputs are not
    meaningful). The pooled output is a tanh `Dense` on the first token,
    `[CLS]`, for sentence-level tasks.

    `backbone.token_embedding` is the `(vocabulary_size, hidden_dim)` token
    table (a `keras.layers.ReversibleEmbedding`), reused by
    `BertPretrainer` as the output projection of the masked-LM head.

    Args:
        vocabulary_size: number of token ids (id 0 is `[PAD]`).
        num_layers: number of Transformer blocks.
        num_heads: attention heads; must divide `hidden_dim`.
        hidden_dim: model width.
        intermediate_dim: feed-forward width (BERT uses `4 * hidden_dim`).
        dropout: dropout rate of embeddings, attention and sublayers.
        max_sequence_length: the longest input (size of the position table).
        num_segments: number of segment ids (sentence A / B).
        layer_norm_epsilon: epsilon of every LayerNorm.
        activation: feed-forward activation, a name (`"gelu"` is the exact
            erf GELU) or a function; the registered
            `keras_attn.layers.gelu_approximate` (tanh) by default.
        dtype: dtype policy of the layers (e.g. `"mixed_bfloat16"`); the
            global policy by default.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Call arguments:
        inputs: dict of `"token_ids"` `(B, T)` ints, `"segment_ids"` `(B, T)`
            ints, `"padding_mask"` `(B, T)` bool or 0/1 (1 = real token).

    Returns:
        Dict of `"sequence_output"` `(B, T, hidden_dim)` and
        `"pooled_output"` `(B, hidden_dim)`.

    Example:

    >>> import numpy as np
    >>> from keras_attn.models.bert import BertBackbone
    >>> backbone = BertBackbone(vocabulary_size=100, num_layers=1,
    ...     num_heads=2, hidden_dim=16, intermediate_dim=32,
    ...     max_sequence_length=8)
    >>> outputs = backbone({
    ...     "token_ids": np.array([[2, 7, 8, 3, 9, 3, 0, 0]]),
    ...     "segment_ids": np.array([[0, 0, 0, 0, 1, 1, 0, 0]]),
    ...     "padding_mask": np.array([[1, 1, 1, 1, 1, 1, 0, 0]]),
    ... })
    >>> tuple(outputs["sequence_output"].shape)
    (1, 8, 16)
    >>> tuple(outputs["pooled_output"].shape)
    (1, 16)

    References:
        Devlin et al., "BERT: Pre-training of Deep Bidirectional
        Transformers for Language Understanding", NAACL 2019.
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        dropout=0.1,
        max_sequence_length=512,
        num_segments=2,
        layer_norm_epsilon=1e-12,
        activation=gelu_approximate,
        dtype=None,
        **kwargs,
    ):
        check_block_sizes(
            num_heads,
            hidden_dim,
            num_layers=num_layers,
            intermediate_dim=intermediate_dim,
            vocabulary_size=vocabulary_size,
            max_sequence_length=max_sequence_length,
        )
        activation = keras.activations.get(activation)
        # === Layers ===
        self.embeddings = TokenAndPositionEmbedding(
            vocabulary_size,
            max_sequence_length,
            hidden_dim,
            num_segments=num_segments,
            position_mode="learned",
            embeddings_initializer=bert_initializer(),
            dtype=dtype,
            name="embeddings",
        )
        self.embeddings_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="embeddings_layer_norm"
        )
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embeddings_dropout"
        )
        self.transformer_layers = [
            TransformerEncoder(
                intermediate_dim,
                num_heads,
                dropout=dropout,
                activation=activation,
                layer_norm_epsilon=layer_norm_epsilon,
                kernel_initializer=bert_initializer(),
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]
        self.pooled_dense = keras.layers.Dense(
            hidden_dim,
            activation="tanh",
            kernel_initializer=bert_initializer(),
            dtype=dtype,
            name="pooled_dense",
        )

        # === Functional graph ===
        inputs = {
            name: keras.Input((None,), dtype="int32", name=name) for name in INPUT_NAMES
        }
        x = self._embed(inputs)
        padding_mask = ops.cast(inputs["padding_mask"], "bool")  # (B, T)
        for layer in self.transformer_layers:
            x = layer(x, mask=padding_mask)  # (B, T, D)
        pooled = self.pooled_dense(x[:, 0, :])  # (B, D): the [CLS] token
        super().__init__(
            inputs=inputs,
            outputs={"sequence_output": x, "pooled_output": pooled},
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.layer_norm_epsilon = layer_norm_epsilon
        self.activation = activation

    def token_id_inputs(self):
        ids = {"token_ids": self.vocabulary_size}
        if self.num_segments:
            ids["segment_ids"] = self.num_segments
        return ids

    def _embed(self, inputs, training=None):
        x = self.embeddings(inputs["token_ids"], inputs["segment_ids"])  # (B, T, D)
        x = self.embeddings_layer_norm(x)
        return self.embeddings_dropout(x, training=training)

    def call(self, inputs, training=None, mask=None):
        check_inputs(inputs, INPUT_NAMES, self.name, self.vocabulary_size)
        return super().call(inputs, training=training, mask=mask)

    def attention_scores(self, inputs):
        """Each layer's self-attention weights, for inspection (no dropout).

        Args:
            inputs: the backbone's input dict.

        Returns:
            A list of `num_layers` tensors `(B, N, T, T)`; rows of padded
            queries and columns of padded keys are zero.
        """
        check_inputs(inputs, INPUT_NAMES, self.name, self.vocabulary_size)
        inputs = {k: ops.convert_to_tensor(v, "int32") for k, v in inputs.items()}
        x = self._embed(inputs, training=False)
        scores = []
        for layer in self.transformer_layers:
            x, weights = layer(
                x,
                mask=ops.cast(inputs["padding_mask"], "bool"),
                return_attention_scores=True,
                training=False,
            )
            scores.append(weights)  # (B, N, T, T)
        return scores


def bert_optimizer(learning_rate):
    """AdamW with weight decay 0.01, none on biases and LayerNorm (as BERT)."""
    optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=0.01)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer
