"""Every size argument of every public class is checked when the object is
made: a clear ValueError naming the argument and what it received, not a
ZeroDivisionError, a Keras message about `units` or a model that builds with
zero or -1 layers.

`test_every_public_class_with_a_size_is_listed` makes a class added later
with a size argument (`num_*`, `*_dim`, `*_size`, `*_length`, `units`) fail
until it is listed here.
"""

import inspect
import re

import numpy as np
import pytest

from keras_attn import layers
from keras_attn import models

SIZE = re.compile(r"(^num_|_dim$|_size$|^units$|_length$)")
# Arguments where 0 is a valid size (no segment embedding).
MAY_BE_ZERO = {"num_segments"}
BAD = {False: (0, -1, "2", 2.5, True), True: (-1, "2", 2.5, True)}
BLOCK = dict(num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16)


def text_backbone(cls, **kwargs):
    args = dict(vocabulary_size=20, max_sequence_length=8, **BLOCK)
    return cls(**{**args, **kwargs})


def gpt_backbone(**kwargs):
    return text_backbone(models.GPTBackbone, **kwargs)


def bert_backbone(**kwargs):
    return text_backbone(models.BertBackbone, **kwargs)


def vit_backbone(**kwargs):
    args = dict(image_shape=(8, 8, 1), patch_size=4, **BLOCK)
    return models.ViTBackbone(**{**args, **kwargs})


# class name -> (a maker taking keyword overrides, its valid size arguments)
MAKERS = {
    "BahdanauAttention": (layers.BahdanauAttention, dict(units=4)),
    "FeedForward": (layers.FeedForward, dict(intermediate_dim=16)),
    "MultiHeadAttention": (
        layers.MultiHeadAttention,
        dict(num_heads=2, key_dim=4, value_dim=4, output_dim=8),
    ),
    "MultiHeadSelfAttention": (
        layers.MultiHeadSelfAttention,
        dict(num_heads=2, key_dim=4, value_dim=4),
    ),
    "PatchEmbedding": (layers.PatchEmbedding, dict(patch_size=4, hidden_dim=8)),
    "PositionalEmbedding": (layers.PositionalEmbedding, dict(sequence_length=8)),
    "TokenAndPositionEmbedding": (
        layers.TokenAndPositionEmbedding,
        dict(vocabulary_size=20, sequence_length=8, hidden_dim=8, num_segments=2),
    ),
    "TransformerEncoder": (
        layers.TransformerEncoder,
        dict(intermediate_dim=16, num_heads=2),
    ),
    "TransformerDecoder": (
        layers.TransformerDecoder,
        dict(intermediate_dim=16, num_heads=2),
    ),
    "GPTBackbone": (
        gpt_backbone,
        dict(BLOCK, vocabulary_size=20, max_sequence_length=8),
    ),
    "BertBackbone": (
        bert_backbone,
        dict(BLOCK, vocabulary_size=20, max_sequence_length=8, num_segments=2),
    ),
    "ViTBackbone": (vit_backbone, dict(BLOCK, patch_size=4)),
    "RNNSeq2Seq": (
        models.RNNSeq2Seq,
        dict(vocabulary_size=20, embedding_dim=4, hidden_dim=8, num_layers=1),
    ),
    "TransformerSeq2Seq": (
        models.TransformerSeq2Seq,
        dict(
            BLOCK,
            encoder_vocabulary_size=20,
            decoder_vocabulary_size=20,
            max_sequence_length=8,
        ),
    ),
    "BertClassifier": (
        lambda **k: models.BertClassifier(bert_backbone(), **k),
        dict(num_classes=2, sequence_length=8),
    ),
    "BertTokenClassifier": (
        lambda **k: models.BertTokenClassifier(bert_backbone(), **k),
        dict(num_classes=2, sequence_length=8),
    ),
    "ViTClassifier": (
        lambda **k: models.ViTClassifier(vit_backbone(), **k),
        dict(num_classes=2),
    ),
}
CASES = [
    (name, argument, bad)
    for name, (_, sizes) in MAKERS.items()
    for argument in sizes
    for bad in BAD[argument in MAY_BE_ZERO]
]


def test_every_public_class_with_a_size_is_listed():
    for module in (layers, models):
        for name in module.__all__:
            cls = getattr(module, name)
            if not inspect.isclass(cls):
                continue
            sizes = {
                p for p in inspect.signature(cls.__init__).parameters if SIZE.search(p)
            }
            if sizes:
                assert name in MAKERS, f"{name} takes sizes {sorted(sizes)}"
                assert sizes == set(MAKERS[name][1]), name


@pytest.mark.parametrize("name", MAKERS)
def test_the_valid_sizes_construct(name):
    make, sizes = MAKERS[name]
    make(**sizes)


@pytest.mark.parametrize("name", MAKERS)
def test_a_numpy_integer_is_refused_with_a_hint(name):
    # As Keras's own layers refuse them (`Dense(np.int64(2))`), but saying
    # what to do (`num_classes=labels.max() + 1` is a NumPy integer).
    make, sizes = MAKERS[name]
    argument = next(iter(sizes))
    with pytest.raises(ValueError, match=rf"`{argument}`.*pass int\(...\)"):
        make(**{**sizes, argument: np.int64(sizes[argument])})


@pytest.mark.parametrize("name, argument, bad", CASES)
def test_a_bad_size_is_refused_when_made(name, argument, bad):
    make, sizes = MAKERS[name]
    message = rf"`{argument}`.*received {re.escape(repr(bad))}"
    with pytest.raises(ValueError, match=message):
        make(**{**sizes, argument: bad})


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.TransformerEncoder(16, 3)(inputs((1, 4, 8))),
        lambda: layers.TransformerDecoder(16, 3)(inputs((1, 4, 8))),
        lambda: gpt_backbone(num_heads=3),
        lambda: bert_backbone(num_heads=3),
        lambda: vit_backbone(num_heads=3),
        lambda: models.TransformerSeq2Seq(20, num_heads=3, hidden_dim=8),
    ],
)
def test_a_width_that_the_heads_do_not_divide_is_refused(make):
    with pytest.raises(ValueError, match="divisible by `?num_heads"):
        make()


def inputs(shape):
    return np.zeros(shape, "float32")
