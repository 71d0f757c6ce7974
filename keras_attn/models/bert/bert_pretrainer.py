import keras
from keras import ops

from keras_attn.layers.feed_forward import gelu_approximate
from keras_attn.metrics.masked_accuracy import MaskedAccuracy
from keras_attn.models.bert.bert_backbone import INPUT_NAMES
from keras_attn.models.bert.bert_backbone import bert_initializer
from keras_attn.models.bert.bert_backbone import bert_optimizer
from keras_attn.models.bert.bert_backbone import check_inputs
from keras_attn.models.task import Task
from keras_attn.saving import register

PRETRAINING_INPUT_NAMES = INPUT_NAMES + ("mask_positions",)


@register
class BertPretrainer(Task):
    """BERT pretraining: masked language modelling and next-sentence prediction.

    The masked-LM head gathers the backbone's hidden states at
    `mask_positions`, transforms them (`Dense` + GELU + LayerNorm) and
    scores every vocabulary entry through the backbone's token embedding
    (tied weights) plus an output bias. The next-sentence head is a
    `Dense(2)` on the pooled `[CLS]` output.

    `compile()` with no arguments (or any of them left `"auto"`) uses
    AdamW (learning rate 1e-4, weight decay 0.01 except on biases and
    LayerNorms), sparse cross-entropy on both heads (the masked-LM loss
    ignores label 0, the unused prediction slots) and accuracies logged as
    `mlm_accuracy` (masked tokens only) and `nsp_accuracy`, so
    `fit(x, {"mlm": ..., "nsp": ...})` works out of the box.

    Args:
        backbone: a `BertBackbone`.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Call arguments:
        inputs: the backbone's input dict plus `"mask_positions"` `(B, P)`
            ints, the positions to predict (unused slots may point anywhere,
            e.g. 0, with label 0).

    Returns:
        Dict of `"mlm"` `(B, P, vocabulary_size)` logits and `"nsp"`
        `(B, 2)` logits (class 1: the second segment follows the first).

    Example:

    >>> import numpy as np
    >>> from keras_attn.models.bert import BertBackbone, BertPretrainer
    >>> backbone = BertBackbone(vocabulary_size=100, num_layers=1,
    ...     num_heads=2, hidden_dim=16, intermediate_dim=32,
    ...     max_sequence_length=8)
    >>> pretrainer = BertPretrainer(backbone)
    >>> x = {
    ...     "token_ids": np.array([[2, 4, 8, 3, 9, 3, 0, 0]]),
    ...     "segment_ids": np.array([[0, 0, 0, 0, 1, 1, 0, 0]]),
    ...     "padding_mask": np.array([[1, 1, 1, 1, 1, 1, 0, 0]]),
    ...     "mask_positions": np.array([[1, 0]]),
    ... }
    >>> y = {"mlm": np.array([[7, 0]]), "nsp": np.array([1])}
    >>> outputs = pretrainer(x)
    >>> tuple(outputs["mlm"].shape), tuple(outputs["nsp"].shape)
    ((1, 2, 100), (1, 2))
    >>> pretrainer.compile()
    >>> logs = pretrainer.train_on_batch(x, y, return_dict=True)
    >>> sorted(logs)
    ['loss', 'mlm_accuracy', 'mlm_loss', 'nsp_accuracy', 'nsp_loss']

    References:
        Devlin et al., "BERT: Pre-training of Deep Bidirectional
        Transformers for Language Understanding", NAACL 2019.
        Press and Wolf, "Using the Output Embedding to Improve Language
        Models", EACL 2017.
    """

    def __init__(self, backbone, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.mlm_head = _MaskedLMHead(
            backbone.token_embedding,
            layer_norm_epsilon=backbone.layer_norm_epsilon,
            dtype=backbone.dtype_policy,
            name="mlm",
        )
        self.nsp_dense = keras.layers.Dense(
            2,
            kernel_initializer=bert_initializer(),
            dtype=backbone.dtype_policy,
            name="nsp",
        )

        # === Functional graph ===
        inputs = dict(backbone.input)
        inputs["mask_positions"] = keras.Input(
            (None,), dtype="int32", name="mask_positions"
        )
        outputs = backbone({name: inputs[name] for name in INPUT_NAMES})
        mlm = self.mlm_head(outputs["sequence_output"], inputs["mask_positions"])
        nsp = self.nsp_dense(outputs["pooled_output"])
        super().__init__(inputs=inputs, outputs={"mlm": mlm, "nsp": nsp}, **kwargs)

    def call(self, inputs, training=None, mask=None):
        check_inputs(
            inputs,
            PRETRAINING_INPUT_NAMES,
            self.name,
            self.backbone.vocabulary_size,
        )
        return super().call(inputs, training=training, mask=mask)

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        if isinstance(optimizer, str) and optimizer == "auto":
            optimizer = bert_optimizer(1e-4)
        if isinstance(loss, str) and loss == "auto":
            loss = {
                "mlm": keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True, ignore_class=0
                ),
                "nsp": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            }
        if isinstance(metrics, str) and metrics == "auto":
            metrics = {
                "mlm": [MaskedAccuracy(ignore_class=0, name="accuracy")],
                "nsp": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            }
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)


@register
class _MaskedLMHead(keras.layers.Layer):
    """Gather at `mask_positions` -> Dense + GELU -> LayerNorm -> tied logits.

    Built only by `BertPretrainer`, which passes the backbone's token
    embedding; the output projection is that table, transposed, plus a
    per-token bias.
    """

    def __init__(self, token_embedding, layer_norm_epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        self.token_embedding = token_embedding
        self.layer_norm_epsilon = layer_norm_epsilon
        # The hidden states' padding mask has no meaning for the gathered
        # predictions: accept it, and give the logits none.
        self.supports_masking = True

    def build(self, inputs_shape, mask_positions_shape=None):
        hidden_dim = inputs_shape[-1]
        gathered_shape = (inputs_shape[0], None, hidden_dim)
        self.dense = keras.layers.Dense(
            hidden_dim,
            activation=gelu_approximate,
            kernel_initializer=bert_initializer(),
            dtype=self.dtype_policy,
            name="dense",
        )
        self.dense.build(gathered_shape)
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="layer_norm",
        )
        self.layer_norm.build(gathered_shape)
        self.bias = self.add_weight(
            name="bias",
            shape=(self.token_embedding.input_dim,),
            initializer="zeros",
        )

    def call(self, inputs, mask_positions):
        # B: batch, T: length, P: predictions per sequence, D: width.
        positions = ops.expand_dims(ops.cast(mask_positions, "int32"), -1)  # (B, P, 1)
        x = ops.take_along_axis(inputs, positions, axis=1)  # (B, P, D)
        x = self.layer_norm(self.dense(x))
        logits = self.token_embedding(x, reverse=True)  # (B, P, V)
        # The reverse embedding computes in float32; the head's outputs are
        # in its compute dtype, like every other layer's.
        logits = ops.cast(logits, self.compute_dtype)
        return logits + ops.cast(self.bias, self.compute_dtype)

    def compute_mask(self, inputs, mask_positions=None, mask=None):
        return None

    def compute_output_shape(self, inputs_shape, mask_positions_shape):
        return (
            inputs_shape[0],
            mask_positions_shape[1],
            self.token_embedding.input_dim,
        )

    def get_config(self):
        # The token embedding belongs to the backbone; `BertPretrainer`
        # rebuilds this head around it, so it is not part of the config.
        config = super().get_config()
        config["layer_norm_epsilon"] = self.layer_norm_epsilon
        return config
