import keras
from keras import ops

from keras_attn.layers.feed_forward import gelu_approximate
from keras_attn.layers.token_and_position_embedding import TokenAndPositionEmbedding
from keras_attn.layers.transformer_decoder import TransformerDecoder
from keras_attn.saving import register


@register
class GPTBackbone(keras.Model):
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
        **kwargs: `keras.Model` arguments (`name`, `dtype`, ...).

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
        **kwargs,
    ):
        if hidden_dim % num_heads:
            raise ValueError(
                "`hidden_dim` must be divisible by `num_heads`; received "
                f"hidden_dim={hidden_dim} and num_heads={num_heads}."
            )
        dtype = kwargs.pop("dtype", None)

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

    @property
    def token_embedding(self):
        """The `(vocabulary_size, hidden_dim)` token table, a
        `keras.layers.ReversibleEmbedding` (`reverse=True` gives logits)."""
        return self.embeddings.token_embedding

    def init_cache(self, batch_size, max_length):
        """Empty key/value caches, one `(B, 2, max_length, N, H)` per layer."""
        head_dim = self.hidden_dim // self.num_heads
        shape = (batch_size, 2, max_length, self.num_heads, head_dim)
        return [ops.zeros(shape, self.compute_dtype) for _ in self.transformer_layers]

    def call_with_cache(self, token_ids, cache, cache_update_index):
        """The forward pass of `T` new tokens against cached keys/values.

        Args:
            token_ids: `(B, T)` ids at positions `cache_update_index`
                onwards.
            cache: list of per-layer `(B, 2, S_max, N, H)` caches (see
                `init_cache`); positions before `cache_update_index` must
                hold the keys/values of real tokens (there is no padding
                mask: rows are expected to be filled left to right).
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

    def init_head_major_cache(self, batch_size, max_length):
        """Empty caches for `call_with_head_major_cache`: per layer, keys and
        values `(B, N, max_length, H)`."""
        head_dim = self.hidden_dim // self.num_heads
        shape = (batch_size, self.num_heads, max_length, head_dim)
        return [
            (ops.zeros(shape, self.compute_dtype), ops.zeros(shape, self.compute_dtype))
            for _ in self.transformer_layers
        ]

    def call_with_head_major_cache(self, token_ids, cache, cache_update_index):
        """`call_with_cache` for inference, with a faster cache layout.

        The same layers and weights, but each layer keeps its keys and
        values as two `(B, N, S_max, H)` tensors (see
        `init_head_major_cache`): a step writes one slice of each in place
        and attends with two batched matrix products, where the layers'
        `(B, 2, S_max, N, H)` cache is sliced, restacked and transposed on
        every step. This is the decoding step of `GPTCausalLM.generate`; it
        has no dropout and no padding mask (rows filled left to right).
        """
        # B: batch, T: new tokens, S: cache length, N: heads, H: head size.
        x = self.embeddings(token_ids, start_index=cache_update_index)  # (B, T, D)
        index = ops.cast(cache_update_index, "int32")
        length = ops.shape(token_ids)[1]
        cache_length = ops.shape(cache[0][0])[2]
        rows = ops.arange(length, dtype="int32")[:, None] + index
        allowed = ops.arange(cache_length, dtype="int32")[None] <= rows  # (T, S)
        new_cache = []
        for layer, (key_cache, value_cache) in zip(self.transformer_layers, cache):
            attention = layer.self_attention
            heads, size = attention.num_heads, attention.key_dim
            h = layer.self_attention_layer_norm(x)
            kernel = ops.reshape(attention.qkv_dense.kernel, (-1, 3, heads, size))
            qkv = ops.einsum(
                "btd,dcnh->cbnth", h, ops.cast(kernel, h.dtype)
            )  # (3, B, N, T, H)
            bias = ops.reshape(attention.qkv_dense.bias, (3, 1, heads, 1, size))
            qkv = qkv + ops.cast(bias, qkv.dtype)
            query, key, value = qkv[0], qkv[1], qkv[2]  # (B, N, T, H)
            start = [0, 0, index, 0]
            key_cache = ops.slice_update(key_cache, start, key)  # (B, N, S, H)
            value_cache = ops.slice_update(value_cache, start, value)  # (B, N, S, H)
            new_cache.append((key_cache, value_cache))
            query = query * ops.cast(1.0 / size**0.5, query.dtype)
            scores = ops.einsum("bnth,bnsh->bnts", query, key_cache)  # (B, N, T, S)
            scores = ops.where(allowed[None, None], ops.cast(scores, "float32"), -1e9)
            weights = ops.cast(ops.softmax(scores, axis=-1), value_cache.dtype)
            out = ops.einsum("bnts,bnsh->bnth", weights, value_cache)  # (B, N, T, H)
            kernel = ops.reshape(attention.output_dense.kernel, (heads, size, -1))
            out = ops.einsum("bnth,nhd->btd", out, ops.cast(kernel, out.dtype))
            x = x + out + ops.cast(attention.output_dense.bias, out.dtype)  # (B, T, D)
            x = x + layer.feed_forward(layer.feed_forward_layer_norm(x))
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

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "vocabulary_size": self.vocabulary_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "max_sequence_length": self.max_sequence_length,
            "layer_norm_epsilon": self.layer_norm_epsilon,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)
