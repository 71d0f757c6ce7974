from keras_attn.export import saved_model_tools
from keras_attn.models import ViTClassifier


def export_image_classifier(classifier, path, labels=None):
    """Export a `ViTClassifier`: encoded images in, labels and probabilities out.

    The SavedModel's `classify` signature (also `serving_default`) takes
    `images`, `(N,)` strings each holding one encoded PNG, JPEG, GIF or BMP
    file (over TensorFlow Serving's REST API: `{"b64": "..."}`). Each is
    decoded to the model's channels, resized bilinearly to its height and
    width if it has another size, and scaled to [0, 1], as the recipes'
    pipelines scale the training images. It returns `labels` `(N,)`, the
    most probable class's name, `class_ids` `(N,)` int64, and
    `probabilities` `(N, num_classes)` float32 (softmax of the logits).

    Args:
        classifier: a trained `ViTClassifier`.
        path: the SavedModel folder to write (for TensorFlow Serving,
            `.../NAME/1`).
        labels: the class names by class id; default the classifier's
            `class_names`.

    Returns:
        `path`.

    Example:

    >>> import keras
    >>> if keras.backend.backend() != "tensorflow":
    ...     import pytest; pytest.skip("SavedModel export needs TensorFlow")
    >>> import os, tempfile
    >>> import numpy as np
    >>> import tensorflow as tf
    >>> from keras_attn.export import export_image_classifier
    >>> from keras_attn.models import ViTBackbone, ViTClassifier
    >>> backbone = ViTBackbone(image_shape=(28, 28, 1), patch_size=7,
    ...     num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16)
    >>> classifier = ViTClassifier(backbone, 2, class_names=["dark", "light"])
    >>> path = export_image_classifier(
    ...     classifier, os.path.join(tempfile.mkdtemp(), "vit", "1"))
    >>> png = tf.io.encode_png(np.zeros((28, 28, 1), "uint8"))
    >>> out = tf.saved_model.load(path).signatures["classify"](
    ...     images=tf.stack([png, png]))
    >>> out["labels"].shape, out["probabilities"].shape
    (TensorShape([2]), TensorShape([2, 2]))
    """
    tf = saved_model_tools.require_tensorflow()
    saved_model_tools.check_model(classifier, [ViTClassifier], "classifier")
    path = saved_model_tools.check_path(path)
    labels = classifier.class_names if labels is None else labels
    if labels is None:
        labels = [str(i) for i in range(classifier.num_classes)]
    if isinstance(labels, str) or not all(isinstance(x, str) for x in labels):
        raise TypeError(f"`labels` must be a list of str; received {labels!r:.80}.")
    if len(labels) != classifier.num_classes:
        raise ValueError(
            f"`labels` must name each of the classifier's {classifier.num_classes}"
            f" classes; received {len(labels)} labels: {list(labels)!r:.80}."
        )
    height, width, channels = classifier.backbone.image_shape
    names = tf.constant(list(labels), tf.string)

    def decode(data):
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
        image = tf.cast(image, tf.float32)  # (h, w, C), 0..255
        size = tf.shape(image)[:2]
        same = tf.logical_and(tf.equal(size[0], height), tf.equal(size[1], width))
        image = tf.cond(
            same,
            lambda: tf.image.resize_with_crop_or_pad(image, height, width),
            lambda: tf.image.resize(image, (height, width)),
        )
        return image / 255.0

    def classify(images):
        pixels = tf.map_fn(
            decode,
            images,
            fn_output_signature=tf.TensorSpec((height, width, channels), tf.float32),
        )  # (N, H, W, C)
        logits = classifier(pixels, training=False)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        best = tf.argmax(probabilities, axis=-1)  # (N,)
        return {
            "labels": tf.gather(names, best),
            "class_ids": best,
            "probabilities": probabilities,
        }

    return saved_model_tools.write_saved_model(
        path,
        tokenizers=[],
        endpoints={"classify": (classify, [saved_model_tools.string_spec("images")])},
        default="classify",
    )
