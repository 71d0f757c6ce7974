"""Models assembled from keras_attn layers with the functional API."""

from keras_attn.models.beam_search import beam_search
from keras_attn.models.seq2seq.rnn_seq2seq import RNNSeq2Seq
from keras_attn.models.seq2seq.transformer_seq2seq import TransformerSeq2Seq

__all__ = ["RNNSeq2Seq", "TransformerSeq2Seq", "beam_search"]
