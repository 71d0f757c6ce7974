import keras
from keras import ops

from keras_attn.checks import check_positive_int
from keras_attn.models.task import Task
from keras_attn.saving import register

POOLINGS = ("token", "mean")


def attention_rollout(scores, residual_weight=0.5):
    """Attention rollout (Abnar & Zuidema 2020): how much each input token
    flows into each output token, through all the layers.

    Each layer's weights are averaged over heads, mixed with the identity
    for the residual connection (`residual_weight * I + (1 -
    residual_weight) * A`, rows renormalized), and the layers multiplied
    from the first to the last.

    Args:
        scores: list of `(B, N, T, T)` attention weights, first layer first.
        residual_weight: share of the identity in each layer.

    Returns:
        `(B, T, T)`: row `i` is the attribution of output token `i` to
        each input token; each row sums to 1.
    """
    if not scores:
        raise ValueError("attention_rollout needs the weights of one layer or more.")
    rollout = None
    for weights in scores:
        weights = ops.mean(ops.cast(weights, "float32"), axis=1)  # (B, T, T)
        eye = ops.eye(weights.shape[-1], dtype="float32")[None]
        weights = residual_weight * eye + (1.0 - residual_weight) * weights
        weights = weights / ops.sum(weights, axis=-1, keepdims=True)
        rollout = weights if rollout is None else ops.matmul(weights, rollout)
    return rollout


@register
class ViTClassifier(Task):
    """Image classification on a `ViTBackbone`.

    The class token's final state (`pooling="token"`), or the mean of the
    patches' (`pooling="mean"`), then dropout and `Dense(num_classes)`.
    Outputs logits; `compile()` defaults to sparse categorical
    cross-entropy from logits and accuracy. `attention_rollout(images)`
    gives the patch-level attention maps of the prediction.

    Args:
        backbone: a `ViTBackbone`.
        num_classes: number of classes.
        pooling: `"token"` (needs the backbone's class token) or `"mean"`.
        dropout: dropout rate before the output layer.
        class_names: optional list of `num_classes` names, saved with the
            model (the SavedModel export returns them as labels).
        **kwargs: `keras.Model` arguments (`name`, ...).

    Call arguments:
        images: `(B, H, W, C)` floats, as the backbone takes them.

    Returns:
        `(B, num_classes)` logits.

    Example:

    >>> import numpy as np
    >>> from keras_attn.models import ViTBackbone, ViTClassifier
    >>> backbone = ViTBackbone(image_shape=(28, 28, 1), patch_size=7,
    ...     num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32)
    >>> classifier = ViTClassifier(backbone, num_classes=10)
    >>> images = np.random.rand(3, 28, 28, 1).astype("float32")
    >>> tuple(classifier.predict(images, verbose=0).shape)
    (3, 10)
    >>> tuple(classifier.attention_rollout(images).shape)  # (B, rows, columns)
    (3, 4, 4)

    References:
        Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for
        Image Recognition at Scale", ICLR 2021.
        Abnar and Zuidema, "Quantifying Attention Flow in Transformers",
        ACL 2020.
    """

    def __init__(
        self,
        backbone,
        num_classes,
        pooling="token",
        dropout=0.0,
        class_names=None,
        **kwargs,
    ):
        check_positive_int(num_classes, "num_classes")
        if pooling not in POOLINGS:
            raise ValueError(
                f"`pooling` must be one of {POOLINGS}; received {pooling!r}."
            )
        if pooling == "token" and not backbone.use_class_token:
            raise ValueError(
                'pooling="token" needs a backbone with a class token '
                '(use_class_token=True); use pooling="mean".'
            )
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(
                f"`class_names` must hold num_classes={num_classes} names; "
                f"received {len(class_names)}."
            )
        kwargs.setdefault("name", "vit_classifier")
        # === Layers ===
        self.backbone = backbone
        self.output_dropout = keras.layers.Dropout(
            dropout, dtype=backbone.dtype_policy, name="output_dropout"
        )
        self.output_dense = keras.layers.Dense(
            num_classes, dtype=backbone.dtype_policy, name="logits"
        )

        # === Functional graph ===
        images = keras.Input(backbone.image_shape, name="images")
        x = backbone(images)  # (B, T, D)
        prefix = backbone.embeddings.num_prefix_tokens
        pooled = x[:, 0, :] if pooling == "token" else ops.mean(x[:, prefix:], axis=1)
        logits = self.output_dense(self.output_dropout(pooled))
        super().__init__(inputs=images, outputs=logits, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.pooling = pooling
        self.dropout = dropout
        self.class_names = None if class_names is None else list(class_names)

    # Before Keras's input checks, as in `ViTBackbone`.
    def __call__(self, inputs, *args, **kwargs):
        self.backbone.check_images(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, training=None, mask=None):
        self.backbone.check_images(inputs)
        return super().call(inputs, training=training, mask=mask)

    def attention_rollout(self, images, residual_weight=0.5):
        """Where the prediction looks: attention rollout over the patches.

        With `pooling="token"`, the rollout row of the class token; with
        `"mean"`, the mean of the patches' rows (what the head reads).

        Args:
            images: `(B, H, W, C)`.
            residual_weight: share of the identity in each layer (see
                `attention_rollout`).

        Returns:
            `(B, rows, columns)` NumPy-convertible maps over the patch grid,
            each scaled to a maximum of 1.
        """
        rollout = attention_rollout(
            self.backbone.attention_scores(images), residual_weight
        )  # (B, T, T)
        prefix = self.backbone.embeddings.num_prefix_tokens
        if self.pooling == "token":
            weights = rollout[:, 0, prefix:]
        else:
            weights = ops.mean(rollout[:, prefix:, prefix:], axis=1)
        rows, columns = self.backbone.grid
        maps = ops.reshape(weights, (-1, rows, columns))
        return maps / ops.max(maps, axis=(1, 2), keepdims=True)

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        if isinstance(optimizer, str) and optimizer == "auto":
            optimizer = keras.optimizers.AdamW(1e-3, weight_decay=0.05)
        if isinstance(loss, str) and loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if isinstance(metrics, str) and metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
