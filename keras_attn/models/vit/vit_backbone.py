import keras
import numpy as np
from keras import ops

from keras_attn.checks import check_block_sizes
from keras_attn.layers.patch_embedding import PatchEmbedding
from keras_attn.layers.patch_embedding import interpolate_position_embeddings
from keras_attn.layers.transformer_encoder import TransformerEncoder
from keras_attn.models.backbone import Backbone
from keras_attn.saving import register


@register
class ViTBackbone(Backbone):
    """Vision Transformer: images -> one hidden state per patch (and class
    token).

    `PatchEmbedding` cuts the image into patches and embeds them (learned
    class token and positions), then dropout, `num_layers` pre-LN
    `TransformerEncoder` blocks with an exact-GELU feed-forward, and a final
    LayerNorm: the same encoder blocks as the text models, with patches as
    tokens. No mask: every image has all its patches.

    `with_image_shape` gives the same weights at another resolution, the
    position embeddings interpolated. `attention_scores` returns each
    layer's attention weights (for `ViTClassifier.attention_rollout`).

    Args:
        image_shape: `(H, W, C)` of the input images, H and W multiples of
            `patch_size`.
        patch_size: int or `(rows, columns)` of a patch, in pixels.
        num_layers: number of encoder blocks.
        num_heads: attention heads; must divide `hidden_dim`.
        hidden_dim: model width.
        intermediate_dim: feed-forward width (ViT uses `4 * hidden_dim`).
        dropout: dropout rate of embeddings, attention and sublayers.
        layer_norm_epsilon: epsilon of every LayerNorm.
        use_class_token: put a learned class token before the patches.
        stem_filters: filters of the stride-2 3x3 convolutions of a
            convolutional stem before the patch projection (Xiao et al.
            2021; see `PatchEmbedding`); empty, the default, for the plain
            ViT of Dosovitskiy et al.
        dtype: dtype policy of the layers (e.g. `"mixed_bfloat16"`); the
            global policy by default.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Call arguments:
        images: `(B, H, W, C)` floats, channels last, scaled as the model
            was trained (the recipes use `[0, 1]`).

    Returns:
        `(B, T, hidden_dim)`, token 0 the class token (if used), then the
        patches row by row.

    Example:

    >>> import numpy as np
    >>> from keras_attn.models import ViTBackbone
    >>> backbone = ViTBackbone(image_shape=(28, 28, 1), patch_size=7,
    ...     num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32)
    >>> tuple(backbone(np.random.rand(3, 28, 28, 1)).shape)
    (3, 17, 16)
    >>> bigger = backbone.with_image_shape((56, 56, 1))
    >>> tuple(bigger(np.random.rand(3, 56, 56, 1)).shape)
    (3, 65, 16)

    References:
        Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for
        Image Recognition at Scale", ICLR 2021.
        Xiao et al., "Early Convolutions Help Transformers See Better",
        NeurIPS 2021 (`stem_filters`).
    """

    def __init__(
        self,
        image_shape,
        patch_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        dropout=0.0,
        layer_norm_epsilon=1e-6,
        use_class_token=True,
        stem_filters=(),
        dtype=None,
        **kwargs,
    ):
        image_shape = tuple(image_shape)
        if len(image_shape) != 3 or not all(
            isinstance(s, int) and s > 0 for s in image_shape
        ):
            raise ValueError(
                "`image_shape` must be (H, W, C), three positive ints; "
                f"received {image_shape!r}."
            )
        check_block_sizes(
            num_heads,
            hidden_dim,
            num_layers=num_layers,
            intermediate_dim=intermediate_dim,
        )
        kwargs.setdefault("name", "vit_backbone")
        # === Layers ===
        self.embeddings = PatchEmbedding(
            patch_size,
            hidden_dim,
            use_class_token=use_class_token,
            stem_filters=stem_filters,
            dtype=dtype,
            name="patch_embedding",
        )
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embeddings_dropout"
        )
        self.transformer_layers = [
            TransformerEncoder(
                intermediate_dim,
                num_heads,
                dropout=dropout,
                activation="gelu",
                layer_norm_epsilon=layer_norm_epsilon,
                normalize_first=True,
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="layer_norm"
        )

        # === Functional graph ===
        images = keras.Input(image_shape, name="images")
        # Checked before the graph is built, so a bad size reads as one.
        self.embeddings._check_images((None,) + image_shape)
        x = self.embeddings_dropout(self.embeddings(images))
        for layer in self.transformer_layers:
            x = layer(x)
        super().__init__(
            inputs=images, outputs=self.layer_norm(x), dtype=dtype, **kwargs
        )

        # === Config ===
        self.image_shape = image_shape
        self.patch_size = self.embeddings.patch_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.use_class_token = use_class_token
        self.stem_filters = self.embeddings.stem_filters

    def token_id_inputs(self):
        return {}

    @property
    def token_embedding(self):
        raise AttributeError("A ViTBackbone embeds patches; it has no token table.")

    @property
    def grid(self):
        """`(rows, columns)` of patches."""
        return self.embeddings.grid

    # Checked in `__call__`, before Keras's functional input check (whose
    # message drops the channel axis and never names the patch size), and in
    # `call`, which JAX's `stateless_call` (fit, predict) reaches directly.
    def __call__(self, inputs, *args, **kwargs):
        self.check_images(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, training=None, mask=None):
        self.check_images(inputs)
        return super().call(inputs, training=training, mask=mask)

    def check_images(self, images):
        """Raise a ValueError unless `images` is `(B,) + image_shape`."""
        shape = np.shape(images) if isinstance(images, (list, tuple)) else None
        shape = tuple(images.shape) if hasattr(images, "shape") else shape
        if shape is None or tuple(shape[1:]) != self.image_shape:
            raise ValueError(
                f"{self.name} takes images of shape (B,) + {self.image_shape}; "
                f"received {'a ' + type(images).__name__ if shape is None else shape}."
                " For another resolution use `with_image_shape`."
            )

    def attention_scores(self, images):
        """Each layer's self-attention weights, for inspection (no dropout).

        Args:
            images: `(B, H, W, C)`.

        Returns:
            A list of `num_layers` tensors `(B, N, T, T)`.
        """
        images = ops.convert_to_tensor(images, self.compute_dtype)
        self.check_images(images)
        x = self.embeddings(images, training=False)
        scores = []
        for layer in self.transformer_layers:
            x, weights = layer(x, return_attention_scores=True, training=False)
            scores.append(weights)
        return scores

    def with_image_shape(self, image_shape):
        """The same model for images of `image_shape`: all weights copied,
        the position embeddings interpolated to the new patch grid.

        Args:
            image_shape: `(H, W, C)`, same channels, H and W multiples of the
                patch size.

        Returns:
            A new `ViTBackbone`.
        """
        image_shape = tuple(image_shape)
        if len(image_shape) != 3 or image_shape[-1] != self.image_shape[-1]:
            raise ValueError(
                f"`image_shape` must be (H, W, {self.image_shape[-1]}) (the "
                f"channels of this model); received {image_shape!r}."
            )
        config = {**self.get_config(), "image_shape": image_shape}
        config.pop("name", None)
        resized = type(self).from_config(config)
        for old, new in zip(self.weights, resized.weights):
            value = old.value
            if old is self.embeddings.position_embeddings:
                value = interpolate_position_embeddings(
                    value,
                    self.grid,
                    resized.grid,
                    self.embeddings.num_prefix_tokens,
                )
            new.assign(value)
        return resized
