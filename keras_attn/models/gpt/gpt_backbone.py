import keras
from keras import ops

from keras_attn.checks import check_block_sizes
from keras_attn.layers.feed_forward import gelu_approximate
from keras_attn.layers.token_and_position_embedding import TokenAndPositionEmbedding
from keras_attn.layers.transformer_decoder import TransformerDecoder
from keras_attn.models.backbone import Backbone
from keras_attn.saving import register


@register
class GPTBackbone(Backbone):
    """Decoder-only Transformer (GPT-2): ids -> contextual hidden states.

    Token embeddings plus learned position embeddings, dropout, then
    `num_layers` pre-LN `TransformerDecoder` blocks with causal
    self-attention only (no cross-attention) and a tanh-approximated GELU
    feed-forward, then a final LayerNorm. Weights are initialized as in
    GPT-2 (normal, stddev 0.02 for kernels, 0.01 for tokens).

    `call_with_cache` runs the same layers on a few new tokens against a
    key/value cache of the previous ones: what `GPTCausalLM.generate` uses.

    Args:
        vocabulary_size: number of token ids.
        num_layers: number of decoder blocks.
        num_heads: attention heads; must divide `hidden_dim`.
        hidden_dim: model width.
        intermediate_dim: feed-forward width.
        dropout: dropout rate (embeddings, attention, sublayers).
        max_sequence_length: the longest sequence (position table size).
        layer_norm_epsilon: epsilon of every LayerNorm.
        flash_attention: route the self-attention of full-sequence calls
            (training, `predict`) through `keras.ops.dot_product_attention`'s
            fused kernel (cuDNN on GPUs under JAX; see `MultiHeadAttention`);
            generation, which runs on the cache, keeps the default path.
            Off by default.
        dtype: dtype policy of the layers (e.g. `"mixed_bfloat16"`); the
            global policy by default.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Call arguments:
        inputs: `{"token_ids": (B, T), "padding_mask": (B, T)}` integers;
            the padding mask is 1 (or True) on real tokens.

    Returns:
        `(B, T, hidden_dim)` hidden states. Outputs at padded positions are
        not meaningful.

    Example:

    >>> import numpy as np
    >>> from keras_attn.models.gpt import GPTBackbone
    >>> backbone = GPTBackbone(
    ...     vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=8)
    >>> inputs = {"token_ids": np.array([[5, 6, 7, 0]]),
    ...           "padding_mask": np.array([[1, 1, 1, 0]])}
    >>> tuple(backbone(inputs).shape)
    (1, 4, 8)

    References:
        Radford et al., "Language Models are Unsupervised Multitask
        Learners", OpenAI 2019.
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        dropout=0.0,
        max_sequence_length=1024,
        layer_norm_epsilon=1e-5,
        flash_attention=False,
        dtype=None,
        **kwargs,
    ):
        check_block_sizes(
            num_heads,
            hidden_dim,
            num_layers=num_layers,
            intermediate_dim=intermediate_dim,
            vocabulary_size=vocabulary_size,
            max_sequence_length=max_sequence_length,
        )

        # === Layers ===
        self.embeddings = TokenAndPositionEmbedding(
            vocabulary_size,
            max_sequence_length,
            hidden_dim,
            position_mode="learned",
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02),
            dtype=dtype,
            name="embeddings",
        )
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embeddings_dropout"
        )
        self.transformer_layers = [
            TransformerDecoder(
                intermediate_dim,
                num_heads,
                dropout=dropout,
                activation=gelu_approximate,
                layer_norm_epsilon=layer_norm_epsilon,
                normalize_first=True,
                flash_attention=flash_attention,
                kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="layer_norm"
        )

        # === Functional graph ===
        token_ids = keras.Input((None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input((None,), dtype="int32", name="padding_mask")
        x = self.embeddings_dropout(self.embeddings(token_ids))  # (B, T, D)
        for layer in self.transformer_layers:
            x = layer(x, decoder_padding_mask=padding_mask)  # (B, T, D)
        outputs = self.layer_norm(x)
        super().__init__(
            inputs={"token_ids": token_ids, "padding_mask": padding_mask},
            outputs=outputs,
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.max_sequence_length = max_sequence_length
        self.layer_norm_epsilon = layer_norm_epsilon
        self.flash_attention = flash_attention

    def init_cache(self, batch_size, max_length):
        """Empty key/value caches, one per layer (see
        `MultiHeadAttention.init_cache`), each in its layer's compute dtype."""
        return [
            layer.init_cache(batch_size, max_length)
            for layer in self.transformer_layers
        ]

    def call_with_cache(self, token_ids, cache, cache_update_index):
        """The forward pass of `T` new tokens against cached keys/values.

        Args:
            token_ids: `(B, T)` ids at positions `cache_update_index`
                onwards.
            cache: the list of per-layer caches from `init_cache`; positions
                before `cache_update_index` must hold the keys/values of real
                tokens (there is no padding mask: rows are expected to be
                filled left to right).
            cache_update_index: int or int tensor, the position of the
                first new token.

        Returns:
            `(B, T, hidden_dim)` hidden states (after the final LayerNorm)
            and the list of updated caches.
        """
        x = self.embeddings(token_ids, start_index=cache_update_index)  # (B, T, D)
        x = self.embeddings_dropout(x)
        new_cache = []
        for layer, layer_cache in zip(self.transformer_layers, cache):
            x, layer_cache = layer(
                x,
                self_attention_cache=layer_cache,
                self_attention_cache_update_index=cache_update_index,
            )
            new_cache.append(layer_cache)
        return self.layer_norm(x), new_cache

    def attention_scores(self, inputs):
        """Each layer's `(B, N, T, T)` self-attention weights for `inputs`
        (the dict the backbone takes), for inspection and plots."""
        token_ids = ops.convert_to_tensor(inputs["token_ids"], "int32")
        padding_mask = ops.convert_to_tensor(inputs["padding_mask"])
        x = self.embeddings(token_ids)
        scores = []
        for layer in self.transformer_layers:
            x, layer_scores = layer(
                x, decoder_padding_mask=padding_mask, return_attention_scores=True
            )
            scores.append(layer_scores)
        return scores
