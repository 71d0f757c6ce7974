import keras

from keras_attn.models.base_model import BaseModel


class Backbone(BaseModel):
    """Base of the backbones (`BertBackbone`, `GPTBackbone`): token ids in,
    hidden states out.

    A subclass builds its layers and functional graph in `__init__`, calls
    `super().__init__(inputs=..., outputs=..., dtype=dtype, **kwargs)`, and
    stores every constructor argument under its own name; config, loading
    and the dtype policy are handled here and in `BaseModel`, once.

    The subclass keeps its embeddings in `self.embeddings`, a
    `TokenAndPositionEmbedding`: `token_embedding` is its token table.

    Example:

    >>> from keras_attn.models import GPTBackbone
    >>> backbone = GPTBackbone(vocabulary_size=50, num_layers=1, num_heads=2,
    ...     hidden_dim=8, intermediate_dim=16, max_sequence_length=8,
    ...     dtype="mixed_bfloat16")
    >>> config = backbone.get_config()
    >>> config["num_layers"], backbone.dtype_policy.name
    (1, 'mixed_bfloat16')
    >>> GPTBackbone.from_config(config).get_config() == config
    True
    >>> tuple(backbone.token_embedding.embeddings.shape)
    (50, 8)
    """

    def __init__(self, *args, dtype=None, **kwargs):
        super().__init__(*args, **kwargs)
        # A functional model does not take a dtype of its own; the layers
        # were built with it, and the model reports it as its policy.
        if dtype is not None:
            self.dtype_policy = keras.dtype_policies.get(dtype)

    def token_id_inputs(self):
        return {"token_ids": self.vocabulary_size}

    @property
    def token_embedding(self):
        """The `(vocabulary_size, hidden_dim)` token table, a
        `keras.layers.ReversibleEmbedding` (`reverse=True` gives logits)."""
        return self.embeddings.token_embedding
