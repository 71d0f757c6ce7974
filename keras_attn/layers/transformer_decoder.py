from keras_attn.layers.attention_utils import keras_mask_of
from keras_attn.layers.transformer_block import TransformerBlock
from keras_attn.saving import register


@register
class TransformerDecoder(TransformerBlock):
    """One Transformer decoder block: causal self-attention, cross-attention
    to the encoder outputs, then feed-forward.

    Takes the arguments of `TransformerEncoder` (residual + LayerNorm,
    `normalize_first` for pre-LN); both are `TransformerBlock`s. Called
    without `encoder_sequence` at build time it has no cross-attention: a
    GPT-style decoder-only block.

    The cross-attention mask comes from the *encoder's* padding
    (`encoder_padding_mask`, shape `(B, S)`), so source and target may have
    different lengths; the self-attention mask is causal (unless
    `use_causal_mask=False`, as in keras-hub) plus the decoder's padding.

    Call arguments:
        decoder_sequence: `(B, T, D)`.
        encoder_sequence: `(B, S, De)` encoder outputs, or None.
        decoder_padding_mask: `(B, T)`; the Keras mask of `decoder_sequence`
            by default.
        encoder_padding_mask: `(B, S)`; the Keras mask of `encoder_sequence`
            by default.
        self_attention_cache: the `(key, value)` pair of `(B, N, S_max, H)`
            tensors of the previous steps (`decoder.init_cache(B, S_max)`),
            updated at `self_attention_cache_update_index`. The padding of
            cached positions goes in `attention_mask`.
        self_attention_cache_update_index: position of the first new token.
        cross_attention_cache: the precomputed `(key, value)` pair of the
            encoder outputs (`decoder.compute_cross_attention_cache(
            encoder)`); `encoder_sequence` is then not needed.
        attention_mask: `(B, T, S_self)` extra self-attention mask.
        use_causal_mask: whether position `i` attends only to positions up
            to `i` (default True). False gives bidirectional self-attention
            over the decoder sequence (e.g. a non-autoregressive decoder);
            it cannot be combined with a self-attention cache, whose unfilled
            positions only the causal mask hides.
        return_attention_scores: also return the self- and cross-attention
            weights (`(B, N, T, T)` and `(B, N, T, S)`).
        training: whether dropout is active.

    Returns:
        `output` `(B, T, D)`; then `(self_scores, cross_scores)` if
        requested; then the updated self-attention cache if one was given.

    Example:

    >>> import numpy as np
    >>> from keras_attn.layers import TransformerDecoder
    >>> decoder = TransformerDecoder(intermediate_dim=64, num_heads=4)
    >>> target = np.random.rand(2, 6, 32).astype("float32")
    >>> source = np.random.rand(2, 9, 32).astype("float32")
    >>> out, self_w, cross_w = decoder(
    ...     target, source, return_attention_scores=True)
    >>> tuple(out.shape), tuple(cross_w.shape)
    ((2, 6, 32), (2, 4, 6, 9))
    """

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        self._build_self_attention(decoder_sequence_shape, causal=True)
        self.cross_attention = None
        if encoder_sequence_shape is not None:
            self._build_cross_attention(decoder_sequence_shape, encoder_sequence_shape)
        self._build_feed_forward(decoder_sequence_shape)

    def init_cache(self, batch_size, max_length):
        """An empty self-attention cache of `max_length` positions (see
        `MultiHeadAttention.init_cache`)."""
        return self.self_attention.init_cache(batch_size, max_length)

    def compute_cross_attention_cache(self, encoder_sequence):
        """The cross-attention keys/values of `encoder_sequence`, projected
        once for every decoding step."""
        return self.cross_attention.compute_cache(encoder_sequence)

    def call(
        self,
        decoder_sequence,
        encoder_sequence=None,
        decoder_padding_mask=None,
        encoder_padding_mask=None,
        self_attention_cache=None,
        self_attention_cache_update_index=None,
        cross_attention_cache=None,
        attention_mask=None,
        use_causal_mask=True,
        return_attention_scores=False,
        training=None,
    ):
        if not use_causal_mask and self_attention_cache is not None:
            raise ValueError(
                "`use_causal_mask=False` cannot be used with a "
                "`self_attention_cache`: the causal mask is what hides the "
                "cache's unfilled positions. Received both; decode with "
                "`use_causal_mask=True` (the default)."
            )
        has_cross = encoder_sequence is not None or cross_attention_cache is not None
        if has_cross and self.cross_attention is None:
            raise ValueError(
                f"{self.name} was built without an encoder sequence, so it has "
                "no cross-attention; received an `encoder_sequence`. Call it "
                "with the encoder outputs the first time it is used."
            )
        if self.cross_attention is not None and not has_cross:
            raise ValueError(
                f"{self.name} has a cross-attention and needs "
                "`encoder_sequence` (B, S, D) or `cross_attention_cache`; "
                "received neither."
            )
        if decoder_padding_mask is None:
            decoder_padding_mask = keras_mask_of(decoder_sequence)
        if encoder_padding_mask is None:
            encoder_padding_mask = keras_mask_of(encoder_sequence)

        x, *self_extras = self._residual(
            decoder_sequence,
            self.self_attention_layer_norm,
            lambda x: self.self_attention(
                x,
                mask=decoder_padding_mask,
                attention_mask=attention_mask,
                use_causal_mask=bool(use_causal_mask),
                cache=self_attention_cache,
                cache_update_index=self_attention_cache_update_index,
                return_attention_scores=return_attention_scores,
                training=training,
            ),
            self.self_attention_dropout,
            training,
        )
        cross_scores = None
        if has_cross:
            x, *cross_extras = self._residual(
                x,
                self.cross_attention_layer_norm,
                lambda x: self.cross_attention(
                    x,
                    encoder_sequence,
                    query_mask=decoder_padding_mask,
                    value_mask=encoder_padding_mask,
                    cache=cross_attention_cache,
                    return_attention_scores=return_attention_scores,
                    training=training,
                ),
                self.cross_attention_dropout,
                training,
            )
            if return_attention_scores:
                cross_scores = cross_extras[0]
        x = self._feed_forward_residual(x, training)
        results = (x,)
        if return_attention_scores:
            results += (
                (self_extras[0], cross_scores) if has_cross else (self_extras[0],)
            )
        if self_attention_cache is not None:
            results += (self_extras[-1],)
        return results[0] if len(results) == 1 else results
