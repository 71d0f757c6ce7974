import keras


class DecodingLoop(keras.Model):
    """Base of the compiled decoding loops: GPT generation, seq2seq greedy
    and beam search.

    A small `keras.Model` whose `call` runs a whole decoding loop over a
    task model; `predict_on_batch` compiles it (`tf.function` or `jax.jit`)
    once per input signature, and an export traces `call` into a SavedModel.
    The loop *tracks* the task, so its variables are the loop's state: JAX
    passes their current values into the compiled program, and after `fit`
    or `load_weights` the loop decodes with the new weights. (An untracked
    model's variables would be baked into the program as constants when it
    is first traced.)

    Subclasses implement `loop(inputs)`. `trace_count` counts the traces,
    for tests that check a loop compiles once.

    Example:

    >>> from keras_attn.models import RNNSeq2Seq
    >>> model = RNNSeq2Seq(vocabulary_size=20, embedding_dim=8, hidden_dim=16)
    >>> loop = model.make_generate_function(max_length=4)
    >>> import numpy as np
    >>> ids, weights = loop.predict_on_batch(np.array([[5, 6, 7, 0]], "int32"))
    >>> ids.shape, loop.trace_count
    ((1, 4), 1)
    >>> _ = model.generate(np.array([[8, 9, 0, 0]]), max_length=4)  # same loop
    >>> loop is model.make_generate_function(4), loop.trace_count
    (True, 1)
    """

    def __init__(self, task, **kwargs):
        super().__init__(**kwargs)
        self.task = task
        self.trace_count = 0
        # Nothing to build: the weights are the task's.
        self.built = True

    def call(self, inputs):
        self.trace_count += 1  # A Python side effect: runs once per trace.
        return self.loop(inputs)

    def loop(self, inputs):
        raise NotImplementedError
