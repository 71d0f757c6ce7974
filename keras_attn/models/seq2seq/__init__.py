from keras_attn.models.seq2seq.rnn_seq2seq import RNNSeq2Seq  # noqa: F401
