"""Models assembled from keras_attn layers with the functional API."""

from keras_attn.models.seq2seq.rnn_seq2seq import RNNSeq2Seq

__all__ = ["RNNSeq2Seq"]
