import math

import keras
from keras import ops

from keras_attn.checks import check_count
from keras_attn.checks import check_positive_int
from keras_attn.layers.initializers import clone_initializer
from keras_attn.layers.positional_embedding import PositionalEmbedding
from keras_attn.saving import register


@register
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Token + position (+ segment) embeddings, the input of a Transformer.

    Args:
        vocabulary_size: number of token ids.
        sequence_length: the longest sequence accepted.
        hidden_dim: embedding width.
        num_segments: number of segment ids (BERT's sentence A/B); 0 for none.
        position_mode: `"learned"` or `"sinusoidal"`.
        mask_zero: token id 0 is padding; the output carries a Keras mask.
        scale_embeddings: multiply token embeddings by `√hidden_dim` before
            adding positions (Vaswani et al. 2017).
        embeddings_initializer: initializer of the tables (each gets its own
            clone).
        **kwargs: base layer arguments.

    Call arguments:
        token_ids: `(B, T)` integers.
        segment_ids: `(B, T)` integers, required when `num_segments > 0`.
        start_index: position of the first token (cached decoding).

    Returns:
        `(B, T, hidden_dim)` embeddings, masked where `token_ids == 0` when
        `mask_zero`.

    The token table is a `keras.layers.ReversibleEmbedding`:
    `layer.token_embedding(hidden, reverse=True)` gives `(B, T,
    vocabulary_size)` logits through the same weights (tied output
    embedding).

    Example:

    >>> import numpy as np
    >>> from keras_attn.layers import TokenAndPositionEmbedding
    >>> layer = TokenAndPositionEmbedding(
    ...     vocabulary_size=100, sequence_length=16, hidden_dim=8,
    ...     num_segments=2, mask_zero=True)
    >>> tokens = np.array([[5, 6, 7, 0]])
    >>> segments = np.array([[0, 0, 1, 0]])
    >>> tuple(layer(tokens, segments).shape)
    (1, 4, 8)
    """

    def __init__(
        self,
        vocabulary_size,
        sequence_length,
        hidden_dim,
        num_segments=0,
        position_mode="learned",
        mask_zero=False,
        scale_embeddings=False,
        embeddings_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = check_positive_int(vocabulary_size, "vocabulary_size")
        self.sequence_length = check_positive_int(sequence_length, "sequence_length")
        self.hidden_dim = check_positive_int(hidden_dim, "hidden_dim")
        self.num_segments = check_count(num_segments, "num_segments")
        self.position_mode = position_mode
        self.mask_zero = mask_zero
        self.scale_embeddings = scale_embeddings
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.supports_masking = True

    def _embedding(self, size, name):
        # Reversible: `token_embedding(x, reverse=True)` projects hidden
        # states back to token logits with the same table (weight tying).
        return keras.layers.ReversibleEmbedding(
            size,
            self.hidden_dim,
            tie_weights=True,
            embeddings_initializer=clone_initializer(self.embeddings_initializer),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, token_ids_shape, segment_ids_shape=None):
        self.token_embedding = self._embedding(self.vocabulary_size, "token_embedding")
        # A reverse call passes the hidden states' padding mask on to the
        # logits (the forward call makes no mask of its own).
        self.token_embedding.supports_masking = True
        self.token_embedding.build(token_ids_shape)
        self.position_embedding = PositionalEmbedding(
            self.sequence_length,
            mode=self.position_mode,
            initializer=clone_initializer(self.embeddings_initializer),
            dtype=self.dtype_policy,
            name="position_embedding",
        )
        self.position_embedding.build(tuple(token_ids_shape) + (self.hidden_dim,))
        if self.num_segments:
            self.segment_embedding = self._embedding(
                self.num_segments, "segment_embedding"
            )
            self.segment_embedding.build(token_ids_shape)

    def call(self, token_ids, segment_ids=None, start_index=0):
        if self.num_segments and segment_ids is None:
            raise ValueError(
                f"{self.name} was built with num_segments={self.num_segments} "
                "and needs `segment_ids` of shape (B, T); received None."
            )
        for name, ids in (("token_ids", token_ids), ("segment_ids", segment_ids)):
            dtype = None if ids is None else keras.backend.standardize_dtype(ids.dtype)
            if dtype is not None and "int" not in dtype:
                raise TypeError(
                    f"`{name}` must be integer ids; received dtype {dtype} "
                    "(float ids would be truncated). Ids outside "
                    "[0, vocabulary_size) are not checked inside a graph; "
                    "the task models' `predict` and `generate` check them."
                )
        x = self.token_embedding(token_ids)  # (B, T, D)
        if self.scale_embeddings:
            x = x * ops.cast(math.sqrt(self.hidden_dim), x.dtype)
        x = x + self.position_embedding(x, start_index=start_index)
        if self.num_segments:
            x = x + self.segment_embedding(segment_ids)
        return x

    def compute_mask(self, inputs, previous_mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, token_ids_shape, segment_ids_shape=None):
        return tuple(token_ids_shape) + (self.hidden_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length,
                "hidden_dim": self.hidden_dim,
                "num_segments": self.num_segments,
                "position_mode": self.position_mode,
                "mask_zero": self.mask_zero,
                "scale_embeddings": self.scale_embeddings,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
            }
        )
        return config
