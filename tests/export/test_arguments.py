"""Bad arguments to the exporters fail fast, before anything is traced, with
a message that says what was expected and what was received; and BERT's
in-graph packing equals the training pipelines' packing id for id."""

import numpy as np
import pytest
import tensorflow as tf

from keras_attn.data import pipelines
from keras_attn.data import tokenizers
from keras_attn.export import export_bert_classifier
from keras_attn.export import export_bert_embedder
from keras_attn.export import export_date_converter
from keras_attn.export import export_gpt_generator
from keras_attn.export import export_translator
from keras_attn.export.bert import pack_segments
from keras_attn.models import BertBackbone
from keras_attn.models import BertClassifier
from keras_attn.models import GPTBackbone
from keras_attn.models import GPTCausalLM
from keras_attn.models import RNNSeq2Seq
from keras_attn.models import TransformerSeq2Seq

pytestmark = pytest.mark.tf_only

CORPUS = ["the cat sat on the mat", "a dog ate my homework", "el gato y el perro"]


@pytest.fixture(scope="module")
def parts():
    word_piece = tokenizers.train_word_piece(CORPUS * 3, 60)
    vocabulary = word_piece.vocabulary_size()
    backbone = BertBackbone(
        vocabulary,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=16,
    )
    return {
        "word_piece": word_piece,
        "byte_pair": tokenizers.byte_tokenizer(),
        "backbone": backbone,
        "classifier": BertClassifier(backbone, num_classes=2),
        "transformer": TransformerSeq2Seq(
            vocabulary, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16
        ),
        "rnn": RNNSeq2Seq(vocabulary, embedding_dim=4, hidden_dim=8),
        "lm": GPTCausalLM(
            GPTBackbone(
                259,
                num_layers=1,
                num_heads=2,
                hidden_dim=8,
                intermediate_dim=16,
                max_sequence_length=16,
            )
        ),
    }


BAD_CALLS = {
    "translator_model": (
        lambda p: export_translator(p["backbone"], p["word_piece"], "x"),
        TypeError,
        "`model` must be a TransformerSeq2Seq or RNNSeq2Seq; received BertBackbone",
    ),
    "translator_tokenizer": (
        lambda p: export_translator(p["transformer"], lambda s: s, "x"),
        TypeError,
        "`tokenizer` must be a keras_hub.tokenizers.Tokenizer",
    ),
    "translator_max_length": (
        lambda p: export_translator(
            p["transformer"], p["word_piece"], "x", max_length=500
        ),
        ValueError,
        r"`max_length` must be an integer in \[1, 128\]; received 500",
    ),
    "rnn_needs_max_length": (
        lambda p: export_translator(p["rnn"], p["word_piece"], "x"),
        ValueError,
        "pass `max_length`",
    ),
    "rnn_beam": (
        lambda p: export_translator(
            p["rnn"], p["word_piece"], "x", max_length=5, beam_size=0
        ),
        ValueError,
        "`beam_size` must be an integer",
    ),
    "path": (
        lambda p: export_translator(p["transformer"], p["word_piece"], 42),
        TypeError,
        "`path` must be a str or path-like folder; received 42",
    ),
    "labels_count": (
        lambda p: export_bert_classifier(
            p["classifier"], p["word_piece"], ["a", "b", "c"], "x"
        ),
        ValueError,
        "`labels` must name each of the classifier's 2 classes; received 3",
    ),
    "labels_type": (
        lambda p: export_bert_classifier(p["classifier"], p["word_piece"], "ab", "x"),
        TypeError,
        "`labels` must be a list of str",
    ),
    "classifier_model": (
        lambda p: export_bert_classifier(p["backbone"], p["word_piece"], ["a"], "x"),
        TypeError,
        "`classifier` must be a BertClassifier; received BertBackbone",
    ),
    "special_tokens": (
        lambda p: export_bert_embedder(p["backbone"], p["byte_pair"], "x"),
        ValueError,
        r"vocabulary lacks \['\[CLS\]', '\[SEP\]', '\[PAD\]'\]",
    ),
    "pooling": (
        lambda p: export_bert_embedder(
            p["backbone"], p["word_piece"], "x", pooling="max"
        ),
        ValueError,
        "`pooling` must be one of .*; received 'max'",
    ),
    "normalize": (
        lambda p: export_bert_embedder(
            p["backbone"], p["word_piece"], "x", normalize="yes"
        ),
        TypeError,
        "`normalize` must be a bool; received 'yes'",
    ),
    "sequence_length": (
        lambda p: export_bert_embedder(
            p["backbone"], p["word_piece"], "x", sequence_length=17
        ),
        ValueError,
        r"`sequence_length` must be an integer in \[3, 16\]; received 17",
    ),
    "pair_sequence_length": (
        lambda p: export_bert_classifier(
            p["classifier"],
            p["word_piece"],
            ["a", "b"],
            "x",
            sequence_length=3,
            sentence_pairs=True,
        ),
        ValueError,
        r"`sequence_length` must be an integer in \[4, 16\]; received 3",
    ),
    "gpt_model": (
        lambda p: export_gpt_generator(p["backbone"], p["byte_pair"], "x"),
        TypeError,
        "`causal_lm` must be a GPTCausalLM; received BertBackbone",
    ),
    "stop_ids": (
        lambda p: export_gpt_generator(
            p["lm"], p["byte_pair"], "x", stop_token_ids=[1, 259]
        ),
        ValueError,
        r"`stop_token_ids\[i\]` must be an integer in \[0, 258\]; received 259",
    ),
    "date_model": (
        lambda p: export_date_converter(p["transformer"], "x"),
        TypeError,
        "`model` must be a RNNSeq2Seq; received TransformerSeq2Seq",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_CALLS))
def test_bad_arguments_raise_before_any_export(parts, name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Nothing may be written, even by mistake.
    call, error, message = BAD_CALLS[name]
    with pytest.raises(error, match=message):
        call(parts)
    assert not list(tmp_path.iterdir())


def test_pack_segments_equals_the_pipeline_packing(parts):
    tokenizer = parts["word_piece"]
    rng = np.random.default_rng(0)
    words = " ".join(CORPUS).split()
    # Every mix of short, long and empty segments: the round-robin cases.
    first = [" ".join(rng.choice(words, n)) for n in [0, 1, 3, 9, 14, 2, 12, 6]]
    second = [" ".join(rng.choice(words, n)) for n in [0, 14, 2, 9, 1, 12, 3, 6]]
    for length, pairs in [(9, None), (9, second), (4, second)]:
        texts = [first] if pairs is None else [first, pairs]
        dataset = pipelines.classification_dataset(
            first, [0] * 8, tokenizer, length, 8, text_pairs=pairs, shuffle=False
        )
        expected = {k: v.numpy() for k, v in next(iter(dataset))[0].items()}
        segments = [
            tf.ragged.constant(
                [[int(i) for i in np.ravel(tokenizer.tokenize(t))] for t in column],
                "int32",
            )
            for column in texts
        ]
        packed = {
            k: v.numpy() for k, v in pack_segments(segments, length, 2, 3, 0).items()
        }
        width = packed["token_ids"].shape[1]
        assert width == expected["padding_mask"].sum(1).max()  # the longest row
        for key in ("token_ids", "segment_ids", "padding_mask"):
            np.testing.assert_array_equal(
                packed[key], expected[key][:, :width].astype("int32"), err_msg=key
            )
