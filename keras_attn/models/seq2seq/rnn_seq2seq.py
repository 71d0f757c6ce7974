import keras
from keras import ops

from keras_attn.checks import check_id_batch
from keras_attn.checks import check_number
from keras_attn.checks import check_positive_int
from keras_attn.checks import check_sizes
from keras_attn.layers.bahdanau_attention import BahdanauAttention
from keras_attn.layers.luong_attention import LuongAttention
from keras_attn.models.seq2seq.seq2seq_beam_loop import Seq2SeqBeamLoop
from keras_attn.models.task import Task
from keras_attn.saving import register

CELLS = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}
ATTENTIONS = ("bahdanau", "dot", "general", None)


@register
class RNNSeq2Seq(Task):
    """RNN encoder–decoder with attention, trained with teacher forcing.

    The encoder reads the source ids with a stack of GRU/LSTM layers
    (optionally bidirectional, residual connections between layers); the
    decoder stack starts from the encoder's final states and reads the
    shifted target. At every target position the top decoder state attends
    over all encoder outputs (Bahdanau additive or Luong dot/general score,
    masked by the source padding), and `tanh(W [h; context])` predicts the
    next token (Luong et al. 2015's "attentional hidden state").

    Without attention (`attention=None`) the decoder sees the source only
    through the final encoder state: the fixed-size bottleneck that attention
    removes.

    Args:
        vocabulary_size: number of token ids (shared by source and target).
        embedding_dim: width of the token embeddings.
        hidden_dim: width of each encoder RNN direction.
        num_layers: encoder and decoder depth.
        cell: `"gru"` or `"lstm"`.
        bidirectional: whether the encoder is bidirectional (the decoder
            then has `2 * hidden_dim` units).
        attention: `"bahdanau"`, `"dot"`, `"general"` or None.
        dropout: dropout between stacked layers and before the output.
        start_id, end_id: ids that start and end a target.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Call arguments:
        inputs: `{"source": (B, S) int, "target_in": (B, T) int}`, 0 pads.

    Returns:
        `(B, T, vocabulary_size)` logits.

    Example:

    >>> import numpy as np
    >>> from keras_attn.models import RNNSeq2Seq
    >>> model = RNNSeq2Seq(vocabulary_size=20, embedding_dim=8, hidden_dim=16)
    >>> source = np.array([[5, 6, 7, 0], [8, 9, 0, 0]])
    >>> target_in = np.array([[2, 4, 5], [2, 6, 7]])
    >>> tuple(model({"source": source, "target_in": target_in}).shape)
    (2, 3, 20)
    >>> ids, weights = model.generate(source, max_length=5)
    >>> ids.shape, weights.shape
    ((2, 5), (2, 5, 4))
    >>> ids, weights = model.generate(source, max_length=5, beam_size=3)
    >>> ids.shape, weights.shape
    ((2, 5), (2, 5, 4))
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim=64,
        hidden_dim=128,
        num_layers=1,
        cell="gru",
        bidirectional=False,
        attention="bahdanau",
        dropout=0.0,
        start_id=2,
        end_id=3,
        **kwargs,
    ):
        if cell not in CELLS:
            raise ValueError(f"`cell` must be one of {list(CELLS)}; received {cell!r}.")
        if attention not in ATTENTIONS:
            raise ValueError(
                f"`attention` must be one of {ATTENTIONS}; received {attention!r}."
            )
        check_sizes(
            vocabulary_size=vocabulary_size,
            embedding_dim=embedding_dim,
            hidden_dim=hidden_dim,
            num_layers=num_layers,
        )
        # === Layers ===
        decoder_dim = hidden_dim * (2 if bidirectional else 1)
        rnn = CELLS[cell]
        self.source_embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, name="source_embedding"
        )
        self.target_embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, name="target_embedding"
        )
        self.encoder_layers = []
        for i in range(num_layers):
            layer = rnn(hidden_dim, return_sequences=True, return_state=True)
            if bidirectional:
                layer = keras.layers.Bidirectional(layer, name=f"encoder_{i}")
            else:
                layer.name = f"encoder_{i}"
            self.encoder_layers.append(layer)
        self.decoder_layers = [
            rnn(
                decoder_dim,
                return_sequences=True,
                return_state=True,
                name=f"decoder_{i}",
            )
            for i in range(num_layers)
        ]
        self.dropout_layer = keras.layers.Dropout(dropout, name="dropout")
        if attention == "bahdanau":
            self.attention_layer = BahdanauAttention(decoder_dim, name="attention")
        elif attention is not None:
            self.attention_layer = LuongAttention(attention, name="attention")
        else:
            self.attention_layer = None
        self.attention_projection = keras.layers.Dense(
            decoder_dim, activation="tanh", name="attention_projection"
        )
        self.output_dense = keras.layers.Dense(vocabulary_size, name="logits")

        # === Functional graph ===
        source = keras.Input((None,), dtype="int32", name="source")
        target_in = keras.Input((None,), dtype="int32", name="target_in")
        encoder_outputs, states, source_mask = self.encode(source)
        logits, _ = self.decode(target_in, encoder_outputs, source_mask, states)
        super().__init__(
            inputs={"source": source, "target_in": target_in},
            outputs=logits,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.cell = cell
        self.bidirectional = bidirectional
        self.attention = attention
        self.dropout = dropout
        self.start_id = start_id
        self.end_id = end_id

    # The encoder and decoder are plain methods over the layers above, so one
    # code path builds the training graph, and runs inside the decoding loop.
    def encode(self, source, training=None):
        """`(B, S)` ids -> encoder outputs, per-layer final states, source mask."""
        mask = ops.not_equal(source, 0)  # (B, S)
        x = self.source_embedding(source)  # (B, S, E)
        final_states = []
        for i, layer in enumerate(self.encoder_layers):
            y, *states = layer(x, mask=mask, training=training)  # (B, S, H)
            if isinstance(layer, keras.layers.Bidirectional):
                half = len(states) // 2  # [fwd states..., bwd states...]
                states = [
                    ops.concatenate([f, b], -1)
                    for f, b in zip(states[:half], states[half:])
                ]
            y = self.dropout_layer(y, training=training)
            x = x + y if i > 0 else y  # Residual between stacked layers.
            final_states.append(states)
        return x, final_states, mask

    def _readout(self, decoder_outputs, encoder_outputs, source_mask, training):
        if self.attention_layer is None:
            return self.output_dense(decoder_outputs), None
        context, weights = self.attention_layer(
            decoder_outputs, encoder_outputs, value_mask=source_mask
        )
        hidden = self.attention_projection(
            ops.concatenate([decoder_outputs, context], -1)
        )
        hidden = self.dropout_layer(hidden, training=training)
        return self.output_dense(hidden), weights

    def decode(self, target_in, encoder_outputs, source_mask, states, training=None):
        """Teacher-forced decoder: `(B, T)` ids -> `(B, T, V)` logits, weights."""
        x = self.target_embedding(target_in)  # (B, T, E)
        for i, layer in enumerate(self.decoder_layers):
            y, *_ = layer(x, initial_state=states[i], training=training)  # (B, T, H)
            y = self.dropout_layer(y, training=training)
            x = x + y if i > 0 else y
        return self._readout(x, encoder_outputs, source_mask, training)

    def decode_step(self, token, encoder_outputs, source_mask, states):
        """One step: `(B,)` ids -> `(B, V)` logits, new states, `(B, S)` weights."""
        x = self.target_embedding(token)  # (B, E)
        new_states = []
        for i, layer in enumerate(self.decoder_layers):
            y, layer_states = layer.cell(x, states[i])  # (B, H)
            x = x + y if i > 0 else y
            new_states.append(list(layer_states))
        logits, weights = self._readout(x, encoder_outputs, source_mask, False)
        return logits, new_states, weights

    def token_id_inputs(self):
        return {"source": self.vocabulary_size, "target_in": self.vocabulary_size}

    def generate(self, source, max_length=20, beam_size=1, length_penalty=1.0):
        """Greedy decoding or beam search of `(B, S)` source ids.

        The loop runs in one compiled function (Keras's predict function over
        a small model sharing these layers), built once per `max_length`,
        `beam_size` and `length_penalty`. Both go through
        `keras_attn.models.beam_search.beam_search` (greedy is `beam_size=1`),
        which never lets an unfinished output produce padding.

        Args:
            source: `(B, S)` integer ids, 0 pads.
            max_length: target tokens to produce.
            beam_size: 1 for greedy decoding.
            length_penalty: see `keras_attn.models.beam_search.beam_search`.

        Returns:
            NumPy `(B, max_length)` ids (0 after `end_id`) and
            `(B, max_length, S)` attention weights along the chosen beam
            (zeros without attention).
        """
        check_positive_int(max_length, "max_length")
        check_positive_int(beam_size, "beam_size")
        check_number(length_penalty, "length_penalty")
        if beam_size > self.vocabulary_size:
            raise ValueError(
                f"`beam_size` ({beam_size}) must be at most the vocabulary "
                f"size ({self.vocabulary_size}): there are not that many "
                "distinct continuations of a beam."
            )
        source = check_id_batch(
            ops.convert_to_numpy(source), self.vocabulary_size, "source"
        )
        loop = self.make_generate_function(max_length, beam_size, length_penalty)
        ids, weights = loop.predict_on_batch(source.astype("int32"))
        return ops.convert_to_numpy(ids), ops.convert_to_numpy(weights)

    def make_generate_function(self, max_length, beam_size=1, length_penalty=1.0):
        """The compiled greedy (`beam_size=1`) or beam-search loop, a
        `DecodingLoop`: `(B, S)` source ids in, `(B, max_length)` ids and
        `(B, max_length, S)` attention weights out. One loop per setting,
        kept; `generate` and the exports both use it."""
        key = (int(max_length), int(beam_size), float(length_penalty))
        return self._cached_generate_function(
            key, lambda: RNNDecodeLoop(self, *key, name="rnn_decoder")
        )


class RNNDecodeLoop(Seq2SeqBeamLoop):
    """Greedy/beam decoding loop over an `RNNSeq2Seq` (see
    `RNNSeq2Seq.make_generate_function`)."""

    def loop(self, source):
        model, beams = self.task, self.beam_size
        # B: batch, K: beams, S: source length, L: max_length.
        batch, source_length = ops.shape(source)[0], ops.shape(source)[1]
        source = ops.repeat(ops.cast(source, "int32"), beams, axis=0)  # (B * K, S)
        encoder_outputs, states, source_mask = model.encode(source)
        history = ops.zeros(
            (batch * beams, self.max_length, source_length), "float32"
        )  # (B * K, L, S)

        def step(token, index, state):
            states, history = state
            logits, states, weights = model.decode_step(
                token, encoder_outputs, source_mask, states
            )
            if weights is not None:
                weights = ops.cast(weights, "float32")[:, None, :]
                history = ops.slice_update(history, [0, index, 0], weights)
            return logits, (states, history)

        ids, (_, history) = self.search(step, (states, history), batch)
        return ids, history
