import keras

from keras_attn.checks import check_positive_int
from keras_attn.models import text
from keras_attn.models.bert.bert_backbone import INPUT_NAMES
from keras_attn.models.bert.bert_backbone import bert_initializer
from keras_attn.models.bert.bert_backbone import bert_optimizer
from keras_attn.models.bert.bert_backbone import check_inputs
from keras_attn.models.bert.sentence_embedding import bert_inputs
from keras_attn.models.task import Task
from keras_attn.saving import register


@register
class BertClassifier(Task):
    """Sentence or sentence-pair classification on a BERT backbone.

    Dropout then `Dense(num_classes)` on the pooled `[CLS]` output. A single
    sentence is `[CLS] A [SEP]` with segment ids 0; a pair is
    `[CLS] A [SEP] B [SEP]` with segment ids 1 on B: the inputs are the same
    dict either way.

    To train the head only (a frozen backbone), set
    `classifier.backbone.trainable = False` before `compile()`; by default
    `fit` fine-tunes backbone and head together.

    `compile()` with no arguments (or any of them left `"auto"`) uses AdamW
    (learning rate 5e-5, weight decay 0.01 except on biases and
    LayerNorms), sparse cross-entropy on the logits and accuracy.

    Built with a `tokenizer`, `predict` also takes text: a list of str, or
    a `(texts, text_pairs)` tuple of two lists for sentence pairs, packed
    with `bert_inputs` (`[CLS] a [SEP] b [SEP]`, truncated to
    `sequence_length`). The tokenizer's vocabulary is saved in the `.keras`
    file with the weights.

    Args:
        backbone: a `BertBackbone`.
        num_classes: number of classes.
        dropout: dropout rate before the output layer.
        tokenizer: optional WordPiece tokenizer of the backbone's
            vocabulary with `[PAD]`, `[CLS]` and `[SEP]`
            (`keras_attn.data.tokenizers.train_word_piece`, `load_hf_bert`).
        sequence_length: the longest packed text input; default the
            backbone's `max_sequence_length`.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Call arguments:
        inputs: the backbone's input dict (`token_ids`, `segment_ids`,
            `padding_mask`, each `(B, T)`).

    Returns:
        `(B, num_classes)` logits.

    Example:

    >>> import numpy as np
    >>> from keras_attn.models.bert import BertBackbone, BertClassifier
    >>> backbone = BertBackbone(vocabulary_size=100, num_layers=1,
    ...     num_heads=2, hidden_dim=16, intermediate_dim=32,
    ...     max_sequence_length=8)
    >>> classifier = BertClassifier(backbone, num_classes=3)
    >>> x = {
    ...     "token_ids": np.array([[2, 7, 8, 3, 0, 0]]),
    ...     "segment_ids": np.zeros((1, 6), "int32"),
    ...     "padding_mask": np.array([[1, 1, 1, 1, 0, 0]]),
    ... }
    >>> tuple(classifier(x).shape)
    (1, 3)

    Text in, with a tokenizer:

    >>> from keras_attn.models.bert import HFWordPieceTokenizer
    >>> tokenizer = HFWordPieceTokenizer(
    ...     ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "good", "bad", "film"])
    >>> classifier = BertClassifier(
    ...     BertBackbone(vocabulary_size=7, num_layers=1, num_heads=2,
    ...                  hidden_dim=16, intermediate_dim=32,
    ...                  max_sequence_length=8),
    ...     num_classes=2, tokenizer=tokenizer)
    >>> classifier.predict(["good film", "bad"], verbose=0).shape
    (2, 2)

    References:
        Devlin et al., "BERT: Pre-training of Deep Bidirectional
        Transformers for Language Understanding", NAACL 2019.
    """

    # The backbone output the head reads: `(B, D)` here.
    backbone_output = "pooled_output"

    def __init__(
        self,
        backbone,
        num_classes,
        dropout=0.1,
        tokenizer=None,
        sequence_length=None,
        **kwargs,
    ):
        check_positive_int(num_classes, "num_classes")
        check_positive_int(sequence_length, "sequence_length", allow_none=True)
        # === Layers ===
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.output_dropout = keras.layers.Dropout(
            dropout, dtype=backbone.dtype_policy, name="output_dropout"
        )
        self.output_dense = keras.layers.Dense(
            num_classes,
            kernel_initializer=bert_initializer(),
            dtype=backbone.dtype_policy,
            name="logits",
        )

        # === Functional graph ===
        inputs = dict(backbone.input)
        x = backbone(inputs)[self.backbone_output]
        logits = self.output_dense(self.output_dropout(x))
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.dropout = dropout
        self.sequence_length = sequence_length

    def predict(self, x, *args, **kwargs):
        """`keras.Model.predict`; `x` may also be text (see the class)."""
        pairs = None
        if isinstance(x, tuple) and len(x) == 2 and all(map(text.is_text, x)):
            x, pairs = x
        if text.is_text(x):
            tokenizer = text.require_tokenizer(self, "inputs")
            length = self.sequence_length or self.backbone.max_sequence_length
            x = bert_inputs(
                tokenizer,
                [x] if isinstance(x, str) else list(x),
                None if pairs is None else list(pairs),
                sequence_length=length,
            )
        return super().predict(x, *args, **kwargs)

    def call(self, inputs, training=None, mask=None):
        check_inputs(inputs, INPUT_NAMES, self.name, self.backbone.vocabulary_size)
        return super().call(inputs, training=training, mask=mask)

    def _default_loss_and_metrics(self):
        return (
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        default_loss, default_metrics = self._default_loss_and_metrics()
        if isinstance(optimizer, str) and optimizer == "auto":
            optimizer = bert_optimizer(5e-5)
        if isinstance(loss, str) and loss == "auto":
            loss = default_loss
        if isinstance(metrics, str) and metrics == "auto":
            metrics = default_metrics
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
