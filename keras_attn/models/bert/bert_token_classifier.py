import keras

from keras_attn.metrics.masked_accuracy import MaskedAccuracy
from keras_attn.models.bert.bert_classifier import BertClassifier
from keras_attn.saving import register


@register
class BertTokenClassifier(BertClassifier):
    """Per-token classification (tagging) on a BERT backbone.

    Dropout then `Dense(num_classes)` on every position of the sequence
    output. Labels are `(B, T)` ints with -1 where there is nothing to
    predict (padding, `[CLS]`, `[SEP]`, word-piece continuations): the
    default loss and accuracy of `compile()` skip them. Everything else,
    including freezing with `classifier.backbone.trainable = False`, is as
    in `BertClassifier`.

    Args:
        backbone: a `BertBackbone`.
        num_classes: number of tags.
        dropout: dropout rate before the output layer.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Call arguments:
        inputs: the backbone's input dict (`token_ids`, `segment_ids`,
            `padding_mask`, each `(B, T)`).

    Returns:
        `(B, T, num_classes)` logits (values at padded positions are not
        meaningful).

    Example:

    >>> import numpy as np
    >>> from keras_attn.models.bert import BertBackbone, BertTokenClassifier
    >>> backbone = BertBackbone(vocabulary_size=100, num_layers=1,
    ...     num_heads=2, hidden_dim=16, intermediate_dim=32,
    ...     max_sequence_length=8)
    >>> tagger = BertTokenClassifier(backbone, num_classes=5)
    >>> x = {
    ...     "token_ids": np.array([[2, 7, 8, 3, 0, 0]]),
    ...     "segment_ids": np.zeros((1, 6), "int32"),
    ...     "padding_mask": np.array([[1, 1, 1, 1, 0, 0]]),
    ... }
    >>> tuple(tagger(x).shape)
    (1, 6, 5)

    References:
        Devlin et al., "BERT: Pre-training of Deep Bidirectional
        Transformers for Language Understanding", NAACL 2019.
    """

    backbone_output = "sequence_output"  # (B, T, D)

    def _default_loss_and_metrics(self):
        return (
            keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, ignore_class=-1
            ),
            [MaskedAccuracy(ignore_class=-1, name="accuracy")],
        )
