import keras
import numpy as np
from keras import ops

from keras_attn.checks import check_block_sizes
from keras_attn.checks import check_id_batch
from keras_attn.checks import check_number
from keras_attn.checks import check_positive_int
from keras_attn.layers.token_and_position_embedding import TokenAndPositionEmbedding
from keras_attn.layers.transformer_decoder import TransformerDecoder
from keras_attn.layers.transformer_encoder import TransformerEncoder
from keras_attn.models import text
from keras_attn.models.seq2seq.seq2seq_beam_loop import Seq2SeqBeamLoop
from keras_attn.models.task import Task
from keras_attn.saving import register


@register
class TransformerSeq2Seq(Task):
    """Transformer encoder–decoder (Vaswani et al. 2017) for translation.

    The encoder reads the source with N self-attention blocks; the decoder
    reads the shifted target with N blocks of causal self-attention and
    cross-attention to the encoder outputs, masked by the *source* padding.
    Token embeddings are scaled by `√hidden_dim` and summed with sinusoidal
    positions. With `decoder_vocabulary_size=None` source and target share
    one vocabulary and one embedding table; `tie_embeddings` reuses the
    target embedding as the output projection (no bias), as in the paper.

    Args:
        encoder_vocabulary_size: source vocabulary size.
        decoder_vocabulary_size: target vocabulary size; None shares the
            source vocabulary and embedding.
        num_layers: encoder and decoder depth.
        num_heads: attention heads.
        hidden_dim: model width.
        intermediate_dim: feed-forward width.
        dropout: dropout rate (embeddings, attention, sublayers).
        max_sequence_length: the longest source or target.
        tie_embeddings: output logits through the target embedding.
        normalize_first: pre-LN blocks (plus a final LayerNorm on each
            side) instead of the paper's post-LN.
        start_id, end_id: ids that start and end a target.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Call arguments:
        inputs: `{"encoder_token_ids": (B, S), "decoder_token_ids": (B, T)}`
            integers, 0 pads.

    Returns:
        `(B, T, target vocabulary)` logits.

    Example:

    >>> import numpy as np
    >>> from keras_attn.models import TransformerSeq2Seq
    >>> model = TransformerSeq2Seq(
    ...     encoder_vocabulary_size=30, num_layers=1, num_heads=2,
    ...     hidden_dim=16, intermediate_dim=32, max_sequence_length=8)
    >>> source = np.array([[5, 6, 7, 0], [8, 9, 0, 0]])
    >>> target = np.array([[2, 4, 5], [2, 6, 7]])
    >>> inputs = {"encoder_token_ids": source, "decoder_token_ids": target}
    >>> tuple(model(inputs).shape)
    (2, 3, 30)
    >>> ids, weights = model.generate(source, max_length=5, beam_size=2)
    >>> ids.shape, weights.shape
    ((2, 5), (2, 5, 8))

    References:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
    """

    def __init__(
        self,
        encoder_vocabulary_size,
        decoder_vocabulary_size=None,
        num_layers=2,
        num_heads=4,
        hidden_dim=128,
        intermediate_dim=512,
        dropout=0.1,
        max_sequence_length=128,
        tie_embeddings=True,
        normalize_first=False,
        start_id=2,
        end_id=3,
        tokenizer=None,
        target_tokenizer=None,
        **kwargs,
    ):
        check_positive_int(encoder_vocabulary_size, "encoder_vocabulary_size")
        check_positive_int(
            decoder_vocabulary_size, "decoder_vocabulary_size", allow_none=True
        )
        check_positive_int(max_sequence_length, "max_sequence_length")
        check_block_sizes(
            num_heads,
            hidden_dim,
            num_layers=num_layers,
            intermediate_dim=intermediate_dim,
        )
        # === Layers ===
        self.tokenizer = tokenizer
        self.target_tokenizer = target_tokenizer

        def embedding(vocabulary_size, name):
            return TokenAndPositionEmbedding(
                vocabulary_size,
                max_sequence_length,
                hidden_dim,
                position_mode="sinusoidal",
                mask_zero=True,
                scale_embeddings=True,
                embeddings_initializer=keras.initializers.RandomNormal(
                    stddev=hidden_dim**-0.5
                ),
                name=name,
            )

        def block(cls, name):
            return cls(
                intermediate_dim,
                num_heads,
                dropout=dropout,
                normalize_first=normalize_first,
                name=name,
            )

        def final_norm(name):
            if not normalize_first:
                return None
            return keras.layers.LayerNormalization(epsilon=1e-5, name=name)

        self.encoder_embedding = embedding(encoder_vocabulary_size, "encoder_embedding")
        self.decoder_embedding = (
            self.encoder_embedding
            if decoder_vocabulary_size is None
            else embedding(decoder_vocabulary_size, "decoder_embedding")
        )
        self.embedding_dropout = keras.layers.Dropout(dropout, name="embedding_dropout")
        self.encoder_layers = [
            block(TransformerEncoder, f"encoder_{i}") for i in range(num_layers)
        ]
        self.decoder_layers = [
            block(TransformerDecoder, f"decoder_{i}") for i in range(num_layers)
        ]
        self.encoder_norm = final_norm("encoder_layer_norm")
        self.decoder_norm = final_norm("decoder_layer_norm")
        target_vocabulary = decoder_vocabulary_size or encoder_vocabulary_size
        self.output_dense = (
            None
            if tie_embeddings
            else keras.layers.Dense(target_vocabulary, name="logits")
        )

        # === Functional graph ===
        source = keras.Input((None,), dtype="int32", name="encoder_token_ids")
        target = keras.Input((None,), dtype="int32", name="decoder_token_ids")
        encoder_outputs, source_mask = self.encode(source)
        logits = self.decode(target, encoder_outputs, source_mask)
        super().__init__(
            inputs={"encoder_token_ids": source, "decoder_token_ids": target},
            outputs=logits,
            **kwargs,
        )

        # === Config ===
        self.encoder_vocabulary_size = encoder_vocabulary_size
        self.decoder_vocabulary_size = decoder_vocabulary_size
        self.target_vocabulary_size = target_vocabulary
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.max_sequence_length = max_sequence_length
        self.tie_embeddings = tie_embeddings
        self.normalize_first = normalize_first
        self.start_id = start_id
        self.end_id = end_id

    # `encode`, `decode` and `decode_step` are plain methods over the layers
    # above: one code path builds the training graph and runs in the
    # decoding loop.
    def encode(self, source, training=None):
        """`(B, S)` ids -> `(B, S, D)` encoder outputs and `(B, S)` mask."""
        mask = ops.not_equal(source, 0)  # (B, S)
        x = self.embedding_dropout(self.encoder_embedding(source), training=training)
        for layer in self.encoder_layers:
            x = layer(x, mask=mask, training=training)  # (B, S, D)
        if self.encoder_norm is not None:
            x = self.encoder_norm(x)
        return x, mask

    def _logits(self, x):
        if self.output_dense is not None:
            return self.output_dense(x)
        return self.decoder_embedding.token_embedding(x, reverse=True)  # (..., V)

    def decode(
        self,
        target,
        encoder_outputs,
        source_mask,
        return_attention_scores=False,
        training=None,
    ):
        """Teacher-forced decoder: `(B, T)` ids -> `(B, T, V)` logits.

        With `return_attention_scores`, also a list with each layer's
        `(B, N, T, S)` cross-attention weights.
        """
        target_mask = ops.not_equal(target, 0)  # (B, T)
        x = self.embedding_dropout(self.decoder_embedding(target), training=training)
        cross_scores = []
        for layer in self.decoder_layers:
            outputs = layer(
                x,
                encoder_outputs,
                decoder_padding_mask=target_mask,
                encoder_padding_mask=source_mask,
                return_attention_scores=return_attention_scores,
                training=training,
            )
            if return_attention_scores:
                x, _, cross = outputs
                cross_scores.append(cross)
            else:
                x = outputs  # (B, T, D)
        if self.decoder_norm is not None:
            x = self.decoder_norm(x)
        logits = self._logits(x)
        return (logits, cross_scores) if return_attention_scores else logits

    def init_cache(self, encoder_outputs, max_length):
        """Caches for `decode_step`: per-layer empty self-attention caches of
        `max_length` positions and cross-attention keys/values of the
        encoder outputs, projected once."""
        batch = ops.shape(encoder_outputs)[0]
        self_caches = [
            layer.init_cache(batch, max_length) for layer in self.decoder_layers
        ]
        cross_caches = [
            layer.compute_cross_attention_cache(encoder_outputs)
            for layer in self.decoder_layers
        ]
        return self_caches, cross_caches

    def decode_step(self, token, index, self_caches, cross_caches, source_mask):
        """One cached step: `(B,)` ids at position `index` -> `(B, V)` logits,
        the updated self-attention caches, and the `(B, S)` cross-attention
        weights of the last layer averaged over heads."""
        x = self.decoder_embedding(token[:, None], start_index=index)  # (B, 1, D)
        new_caches = []
        for layer, self_cache, cross_cache in zip(
            self.decoder_layers, self_caches, cross_caches
        ):
            x, _, cross, self_cache = layer(
                x,
                decoder_padding_mask=ops.ones_like(token[:, None], "bool"),
                encoder_padding_mask=source_mask,
                self_attention_cache=self_cache,
                self_attention_cache_update_index=index,
                cross_attention_cache=cross_cache,
                return_attention_scores=True,
            )
            new_caches.append(self_cache)
        if self.decoder_norm is not None:
            x = self.decoder_norm(x)
        weights = ops.mean(ops.cast(cross[:, :, 0, :], "float32"), axis=1)  # (B, S)
        return self._logits(x[:, 0]), new_caches, weights

    def token_id_inputs(self):
        return {
            "encoder_token_ids": self.encoder_vocabulary_size,
            "decoder_token_ids": self.target_vocabulary_size,
        }

    def generate(self, source, max_length=None, beam_size=1, length_penalty=1.0):
        """Translate `(B, S)` source ids, or text, greedily or with beam search.

        With a `tokenizer`, `source` may be a str or a list of str: the
        translations come back as a str or a list of str (cut at `end_id`),
        without the attention weights.

        The source is padded to `max_sequence_length` (longer sources raise
        a ValueError), so the decoding loop compiles once per batch size,
        `max_length` and `beam_size`, whatever the source lengths.

        Args:
            source: `(B, S)` integer ids, 0 pads.
            max_length: target tokens to produce (at most
                `max_sequence_length`, which is the default).
            beam_size: 1 for greedy decoding.
            length_penalty: see `keras_attn.models.beam_search.beam_search`.

        Returns:
            NumPy `(B, max_length)` ids (0 after `end_id`) and the
            `(B, max_length, max_sequence_length)` cross-attention weights of
            the last decoder layer, averaged over heads, along the chosen
            beam (zeros on source padding).
        """
        if text.is_text(source):
            return self._translate(source, max_length, beam_size, length_penalty)
        if max_length is None:
            max_length = self.max_sequence_length
        check_positive_int(max_length, "max_length")
        check_positive_int(beam_size, "beam_size")
        check_number(length_penalty, "length_penalty")
        if beam_size > self.target_vocabulary_size:
            raise ValueError(
                f"`beam_size` ({beam_size}) must be at most the target "
                f"vocabulary size ({self.target_vocabulary_size}): there are "
                "not that many distinct continuations of a beam."
            )
        if not 1 <= max_length <= self.max_sequence_length:
            raise ValueError(
                f"`max_length` must be between 1 and max_sequence_length="
                f"{self.max_sequence_length}; received {max_length}."
            )
        source = check_id_batch(
            ops.convert_to_numpy(source), self.encoder_vocabulary_size, "source"
        )
        if source.shape[1] > self.max_sequence_length:
            raise ValueError(
                "`source` must be (batch, length) ids with length <= "
                f"max_sequence_length={self.max_sequence_length}; received "
                f"shape {source.shape}."
            )
        padding = self.max_sequence_length - source.shape[1]
        source = ops.convert_to_numpy(ops.pad(source, [[0, 0], [0, padding]]))
        loop = self.make_generate_function(max_length, beam_size, length_penalty)
        ids, weights = loop.predict_on_batch(source.astype("int32"))
        return ops.convert_to_numpy(ids), ops.convert_to_numpy(weights)

    def _translate(self, source, max_length, beam_size, length_penalty):
        tokenizer = text.require_tokenizer(self, "source")
        texts = [source] if isinstance(source, str) else list(source)
        rows = text.tokenize(tokenizer, texts)
        longest = max(len(row) for row in rows)
        if longest > self.max_sequence_length:
            raise ValueError(
                f"A source text gives {longest} tokens, more than "
                f"max_sequence_length={self.max_sequence_length}; shorten it."
            )
        ids = np.zeros((len(rows), max(longest, 1)), "int32")
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
        out, _ = self.generate(ids, max_length, beam_size, length_penalty)
        target_tokenizer = self.target_tokenizer or tokenizer
        translations = []
        for row in out.tolist():
            row = row[: row.index(self.end_id)] if self.end_id in row else row
            translations.append(
                text.detokenize(target_tokenizer, [i for i in row if i])
            )
        return translations[0] if isinstance(source, str) else translations

    def make_generate_function(self, max_length, beam_size=1, length_penalty=1.0):
        """The compiled greedy (`beam_size=1`) or beam-search loop, a
        `DecodingLoop`: `(B, S)` source ids in, the `(B, max_length)` ids
        and `(B, max_length, S)` cross-attention weights out. One loop is
        made per setting and kept; `generate` and the export both use it.
        """
        key = (int(max_length), int(beam_size), float(length_penalty))
        return self._cached_generate_function(
            key, lambda: Seq2SeqDecodeLoop(self, *key, name="seq2seq_decoder")
        )


class Seq2SeqDecodeLoop(Seq2SeqBeamLoop):
    """Greedy/beam decoding loop over a `TransformerSeq2Seq` (see
    `TransformerSeq2Seq.make_generate_function`)."""

    def loop(self, source):
        model, beams = self.task, self.beam_size
        # B: batch, K: beams, S: source length, L: max_length.
        batch, source_length = ops.shape(source)[0], ops.shape(source)[1]
        source = ops.repeat(source, beams, axis=0)  # (B * K, S)
        encoder_outputs, source_mask = model.encode(source)
        self_caches, cross_caches = model.init_cache(encoder_outputs, self.max_length)
        history = ops.zeros(
            (batch * beams, self.max_length, source_length), "float32"
        )  # (B * K, L, S)

        def step(token, index, state):
            self_caches, history = state
            logits, self_caches, weights = model.decode_step(
                token, index, self_caches, cross_caches, source_mask
            )
            history = ops.slice_update(history, [0, index, 0], weights[:, None, :])
            return logits, (self_caches, history)

        ids, (_, history) = self.search(step, (self_caches, history), batch)
        return ids, history
