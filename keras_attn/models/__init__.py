"""Models assembled from keras_attn layers with the functional API."""

from keras_attn.models.beam_search import beam_search
from keras_attn.models.bert.bert_backbone import BertBackbone
from keras_attn.models.bert.bert_classifier import BertClassifier
from keras_attn.models.bert.bert_pretrainer import BertPretrainer
from keras_attn.models.bert.bert_token_classifier import BertTokenClassifier
from keras_attn.models.gpt.gpt_backbone import GPTBackbone
from keras_attn.models.gpt.gpt_causal_lm import GPTCausalLM
from keras_attn.models.seq2seq.rnn_seq2seq import RNNSeq2Seq
from keras_attn.models.seq2seq.transformer_seq2seq import TransformerSeq2Seq
from keras_attn.models.vit.vit_backbone import ViTBackbone
from keras_attn.models.vit.vit_classifier import ViTClassifier

__all__ = [
    "BertBackbone",
    "BertClassifier",
    "BertPretrainer",
    "BertTokenClassifier",
    "GPTBackbone",
    "GPTCausalLM",
    "RNNSeq2Seq",
    "TransformerSeq2Seq",
    "ViTBackbone",
    "ViTClassifier",
    "beam_search",
]
