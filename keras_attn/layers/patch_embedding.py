import keras
from keras import ops

from keras_attn.checks import check_positive_int
from keras_attn.layers.initializers import clone_initializer
from keras_attn.saving import register


def _pair(value, name):
    if not isinstance(value, (tuple, list)):
        check_positive_int(value, name)
        return (value, value)
    positive = [isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value]
    if len(value) != 2 or not all(positive):
        raise ValueError(
            f"`{name}` must be a positive int or a pair of them; received {value!r}."
        )
    return tuple(value)


def interpolate_position_embeddings(embeddings, grid, new_grid, num_prefix_tokens=1):
    """Position embeddings of one patch grid, resized to another grid.

    What ViT does to fine-tune at another resolution: the embeddings of the
    patches are laid out on their `(rows, columns)` grid and resized
    bilinearly (half-pixel centres, no antialiasing) to `new_grid`; the
    first `num_prefix_tokens` rows (the class token's) are kept as they are.

    Args:
        embeddings: `(num_prefix_tokens + rows * columns, D)`.
        grid: `(rows, columns)` of `embeddings`.
        new_grid: `(rows, columns)` wanted.
        num_prefix_tokens: leading rows that belong to no patch.

    Returns:
        `(num_prefix_tokens + new_rows * new_columns, D)`.

    Example:

    >>> import numpy as np
    >>> table = np.random.rand(1 + 2 * 2, 8).astype("float32")
    >>> tuple(interpolate_position_embeddings(table, (2, 2), (4, 4)).shape)
    (17, 8)
    """
    grid, new_grid = _pair(grid, "grid"), _pair(new_grid, "new_grid")
    embeddings = ops.convert_to_tensor(embeddings)
    expected = num_prefix_tokens + grid[0] * grid[1]
    if embeddings.shape[0] != expected:
        raise ValueError(
            f"{num_prefix_tokens} prefix tokens and a {grid} grid need "
            f"{expected} position embeddings; received {embeddings.shape[0]}."
        )
    prefix, patches = embeddings[:num_prefix_tokens], embeddings[num_prefix_tokens:]
    if grid == new_grid:
        return embeddings
    patches = ops.reshape(patches, (1, grid[0], grid[1], -1))
    patches = ops.image.resize(
        patches, new_grid, interpolation="bilinear", data_format="channels_last"
    )
    patches = ops.reshape(patches, (new_grid[0] * new_grid[1], -1))
    return ops.concatenate([prefix, ops.cast(patches, prefix.dtype)], axis=0)


@register
class PatchEmbedding(keras.layers.Layer):
    """Images to a sequence of patch tokens: the input of a Vision Transformer.

    The image is cut into non-overlapping `patch_size` patches, each
    projected linearly to `hidden_dim` (a `Conv2D` whose stride is its
    kernel), read row by row. With `stem_filters`, a convolutional stem
    comes first (Xiao et al. 2021): one 3x3 convolution of stride 2 for each
    entry, each followed by batch normalization and a ReLU, so the patch
    projection sees features with some locality built in and has kernel and
    stride `patch_size / 2 ** len(stem_filters)`. The tokens are the same
    patch grid either way. With `use_class_token`, a learned `[CLS]`
    token is put first. A learned position embedding is added to every
    token. The image size is fixed when the layer is built: for another
    resolution, build a new layer, copy the other weights and give it
    `interpolate_position_embeddings` of these (what
    `ViTBackbone.with_image_shape` does).

    Args:
        patch_size: int or `(rows, columns)` of a patch, in pixels.
        hidden_dim: width of each token.
        use_class_token: put a learned class token before the patches.
        stem_filters: filters of each stride-2 convolution of the stem;
            empty (the default) for the plain ViT. The patch size must be a
            multiple of `2 ** len(stem_filters)`.
        kernel_initializer: initializer of the patch projection (and of the
            stem's convolutions).
        embeddings_initializer: initializer of the class token and the
            position embeddings (each gets its own clone).
        **kwargs: base layer arguments.

    Call arguments:
        images: `(B, H, W, C)` floats, channels last; `H` and `W` multiples
            of the patch size.

    Returns:
        `(B, T, hidden_dim)` with `T = (H / p) * (W / p)`, plus 1 with the
        class token.

    Example:

    >>> import numpy as np
    >>> from keras_attn.layers import PatchEmbedding
    >>> embed = PatchEmbedding(patch_size=4, hidden_dim=16)
    >>> tuple(embed(np.random.rand(2, 28, 28, 1).astype("float32")).shape)
    (2, 50, 16)
    >>> embed.grid
    (7, 7)
    >>> stem = PatchEmbedding(patch_size=4, hidden_dim=16, stem_filters=(8, 16))
    >>> tuple(stem(np.random.rand(2, 28, 28, 1).astype("float32")).shape)
    (2, 50, 16)

    References:
        Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for
        Image Recognition at Scale", ICLR 2021.
        Xiao et al., "Early Convolutions Help Transformers See Better",
        NeurIPS 2021.
    """

    def __init__(
        self,
        patch_size,
        hidden_dim,
        use_class_token=True,
        stem_filters=(),
        kernel_initializer="glorot_uniform",
        embeddings_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.patch_size = _pair(patch_size, "patch_size")
        self.hidden_dim = check_positive_int(hidden_dim, "hidden_dim")
        self.use_class_token = use_class_token
        if not isinstance(stem_filters, (tuple, list)):
            raise TypeError(
                "`stem_filters` must be a tuple of positive ints (empty for "
                f"no stem); received {stem_filters!r}."
            )
        self.stem_filters = tuple(
            check_positive_int(f, f"stem_filters[{i}]")
            for i, f in enumerate(stem_filters)
        )
        stride = 2 ** len(self.stem_filters)
        if any(p % stride for p in self.patch_size):
            raise ValueError(
                f"A stem of {len(self.stem_filters)} stride-2 convolutions "
                f"needs a patch size that is a multiple of {stride}; received "
                f"patch_size={self.patch_size}."
            )
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer or keras.initializers.RandomNormal(stddev=0.02)
        )

    @property
    def num_prefix_tokens(self):
        return int(self.use_class_token)

    def _check_images(self, shape):
        if len(shape) != 4:
            raise ValueError(
                f"{self.name} takes images (B, H, W, C); received shape {tuple(shape)}."
            )
        size = tuple(shape[1:3])
        if None in size or any(s % p for s, p in zip(size, self.patch_size)):
            raise ValueError(
                f"{self.name}: the image height and width must be known "
                f"multiples of the patch size {self.patch_size}; received "
                f"images of shape {tuple(shape)}."
            )
        if shape[-1] is None:
            raise ValueError(
                f"{self.name}: the number of channels must be known; received "
                f"images of shape {tuple(shape)}."
            )
        if self.built and (size != self.image_size or shape[-1] != self.channels):
            raise ValueError(
                f"{self.name} was built for images of "
                f"{self.image_size + (self.channels,)} (H, W, C); received "
                f"shape {tuple(shape)}. For another "
                "resolution build a new model (`ViTBackbone.with_image_shape`)."
            )

    def build(self, images_shape):
        self._check_images(images_shape)
        self.image_size = tuple(images_shape[1:3])
        self.channels = images_shape[-1]
        self.grid = tuple(s // p for s, p in zip(self.image_size, self.patch_size))
        self.stem_convs, self.stem_norms = [], []
        shape = tuple(images_shape)
        for i, filters in enumerate(self.stem_filters):
            conv = keras.layers.Conv2D(
                filters,
                kernel_size=3,
                strides=2,
                padding="same",
                use_bias=False,
                kernel_initializer=clone_initializer(self.kernel_initializer),
                dtype=self.dtype_policy,
                name=f"stem_conv_{i}",
            )
            norm = keras.layers.BatchNormalization(
                dtype=self.dtype_policy, name=f"stem_norm_{i}"
            )
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            norm.build(shape)
            self.stem_convs.append(conv)
            self.stem_norms.append(norm)
        kernel = tuple(p // 2 ** len(self.stem_convs) for p in self.patch_size)
        self.projection = keras.layers.Conv2D(
            self.hidden_dim,
            kernel_size=kernel,
            strides=kernel,
            padding="valid",
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="projection",
        )
        self.projection.build(shape)
        if self.use_class_token:
            self.class_token = self.add_weight(
                shape=(1, 1, self.hidden_dim),
                initializer=clone_initializer(self.embeddings_initializer),
                name="class_token",
            )
        num_positions = self.num_prefix_tokens + self.grid[0] * self.grid[1]
        self.position_embeddings = self.add_weight(
            shape=(num_positions, self.hidden_dim),
            initializer=clone_initializer(self.embeddings_initializer),
            name="position_embeddings",
        )

    def call(self, images, training=None):
        self._check_images(images.shape)
        # Each stem convolution halves the height and the width.
        for conv, norm in zip(self.stem_convs, self.stem_norms):
            images = ops.relu(norm(conv(images), training=training))
        patches = self.projection(images)  # (B, rows, columns, D)
        batch = ops.shape(patches)[0]
        x = ops.reshape(patches, (batch, -1, self.hidden_dim))  # (B, P, D)
        if self.use_class_token:
            token = ops.cast(self.class_token, x.dtype)
            x = ops.concatenate([ops.tile(token, (batch, 1, 1)), x], axis=1)
        return x + ops.cast(self.position_embeddings, x.dtype)[None]

    def compute_output_shape(self, images_shape):
        grid = [s // p for s, p in zip(images_shape[1:3], self.patch_size)]
        return (images_shape[0], self.num_prefix_tokens + grid[0] * grid[1]) + (
            self.hidden_dim,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "patch_size": self.patch_size,
                "hidden_dim": self.hidden_dim,
                "use_class_token": self.use_class_token,
                "stem_filters": self.stem_filters,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
            }
        )
        return config
