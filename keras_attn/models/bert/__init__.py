"""BERT: the encoder backbone and its pretraining and fine-tuning models."""

from keras_attn.models.bert.bert_backbone import BertBackbone
from keras_attn.models.bert.bert_classifier import BertClassifier
from keras_attn.models.bert.bert_pretrainer import BertPretrainer
from keras_attn.models.bert.bert_token_classifier import BertTokenClassifier
from keras_attn.models.bert.hf_checkpoint import load_hf_bert
from keras_attn.models.bert.hf_checkpoint import save_hf_bert
from keras_attn.models.bert.sentence_embedding import bert_inputs
from keras_attn.models.bert.sentence_embedding import encode_sentences
from keras_attn.models.bert.sentence_embedding import mean_pool

__all__ = [
    "BertBackbone",
    "BertClassifier",
    "BertPretrainer",
    "BertTokenClassifier",
    "HFWordPieceTokenizer",
    "bert_inputs",
    "encode_sentences",
    "load_hf_bert",
    "mean_pool",
    "save_hf_bert",
]


def __getattr__(name):
    # The tokenizer subclasses keras-hub's, which imports TensorFlow: load it
    # on first use so that `import keras_attn` stays light.
    if name == "HFWordPieceTokenizer":
        from keras_attn.models.bert import hf_word_piece_tokenizer

        return hf_word_piece_tokenizer.HFWordPieceTokenizer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
