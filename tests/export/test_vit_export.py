"""The ViT SavedModel: encoded images in, against the in-memory model on the
same pixels decoded independently; served over REST with base64 bodies."""

import base64

import numpy as np
import pytest
import tensorflow as tf

from keras_attn.export import export_image_classifier
from keras_attn.models import BertBackbone
from keras_attn.models import ViTBackbone
from keras_attn.models import ViTClassifier
from keras_attn.serving import ModelServer
from tests.serving.helpers import send
from tests.test_case import to_numpy

pytestmark = pytest.mark.tf_only

CLASSES = ["a", "b", "c", "d"]
IMAGES = np.random.default_rng(0).integers(0, 256, (5, 28, 28, 1), dtype="uint8")


@pytest.fixture(scope="module", params=[(), (4,)], ids=["plain", "stem"])
def classifier(request):
    backbone = ViTBackbone(
        image_shape=(28, 28, 1),
        patch_size=4 if request.param else 7,
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        stem_filters=request.param,
    )
    # Moving statistics that are not the identity, so the SavedModel must
    # normalize with them (inference mode) to match.
    rng = np.random.default_rng(1)
    for norm in backbone.embeddings.stem_norms:
        for weight in norm.weights:
            weight.assign(rng.uniform(0.5, 1.5, weight.shape).astype("float32"))
    return ViTClassifier(backbone, len(CLASSES), class_names=CLASSES)


@pytest.fixture(scope="module")
def exported(classifier, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("export") / "vit" / "1")
    export_image_classifier(classifier, path)
    return path


def _expected(classifier, pixels):
    """Softmax of the model's logits on `pixels` (0..255 floats)."""
    logits = to_numpy(classifier(np.asarray(pixels, "float32") / 255.0))
    logits = logits - logits.max(-1, keepdims=True)
    return np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)


def _classify(path, encoded):
    signature = tf.saved_model.load(path).signatures["classify"]
    out = signature(images=tf.constant(encoded))
    return {k: v.numpy() for k, v in out.items()}


def test_png_bytes_give_the_model_probabilities(classifier, exported):
    pngs = [tf.io.encode_png(image).numpy() for image in IMAGES]
    out = _classify(exported, pngs)
    expected = _expected(classifier, IMAGES)
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
    best = expected.argmax(-1)
    assert out["class_ids"].tolist() == best.tolist()
    assert [s.decode() for s in out["labels"]] == [CLASSES[i] for i in best]


def test_jpeg_and_other_sizes_are_decoded_and_resized(classifier, exported):
    jpeg = tf.io.encode_jpeg(IMAGES[0], quality=90).numpy()
    big = np.kron(IMAGES[1], np.ones((2, 2, 1), "uint8"))  # (56, 56, 1)
    rgb = np.repeat(IMAGES[2], 3, axis=-1)
    encoded = [jpeg, tf.io.encode_png(big).numpy(), tf.io.encode_png(rgb).numpy()]
    out = _classify(exported, encoded)
    # Independent decoding: the JPEG decoder itself, a bilinear resize of
    # the big image, and the ITU-R 601 grey of the RGB one.
    pixels = [
        tf.io.decode_jpeg(jpeg, channels=1).numpy(),
        tf.image.resize(big.astype("float32"), (28, 28)).numpy(),
        tf.image.rgb_to_grayscale(rgb).numpy(),
    ]
    np.testing.assert_allclose(
        out["probabilities"], _expected(classifier, np.stack(pixels)), atol=1e-5
    )


def test_bytes_that_are_no_image_are_refused(exported):
    with pytest.raises(tf.errors.InvalidArgumentError):
        _classify(exported, [b"not an image"])


def test_served_over_rest_with_base64(classifier, exported):
    server = ModelServer(exported, max_batch_size=4)
    pngs = [tf.io.encode_png(image).numpy() for image in IMAGES[:3]]
    body = {"instances": [{"b64": base64.b64encode(p).decode()} for p in pngs]}
    [(status, _, answer)] = send(server, ("POST", "/v1/models/vit:predict", body))
    assert status == 200, answer
    probabilities = [row["probabilities"] for row in answer["predictions"]]
    expected = _expected(classifier, IMAGES[:3])
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert [row["labels"] for row in answer["predictions"]] == [
        CLASSES[i] for i in expected.argmax(-1)
    ]
    bad = {"instances": [{"b64": base64.b64encode(b"junk").decode()}]}
    [(status, _, answer)] = send(server, ("POST", "/v1/models/vit:predict", bad))
    assert status == 400, answer


def test_export_arguments_are_checked(classifier, tmp_path):
    with pytest.raises(ValueError, match="name each of the classifier's 4"):
        export_image_classifier(classifier, str(tmp_path / "x"), labels=["a"])
    bert = BertBackbone(
        vocabulary_size=10,
        num_layers=1,
        num_heads=1,
        hidden_dim=4,
        intermediate_dim=4,
        max_sequence_length=4,
    )
    with pytest.raises(TypeError, match="must be a ViTClassifier"):
        export_image_classifier(bert, str(tmp_path / "y"))


def test_keras_attn_predict_reads_image_files(classifier, exported, tmp_path, capsys):
    import json

    import keras_attn_cli

    files = []
    for i, image in enumerate(IMAGES[:2]):
        files.append(str(tmp_path / f"{i}.png"))
        tf.io.write_file(files[-1], tf.io.encode_png(image))
    argv = ["predict", exported, "--file", files[0], "--file", files[1]]
    assert keras_attn_cli.main(argv) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["file"] for row in rows] == files
    expected = _expected(classifier, IMAGES[:2])
    probabilities = [row["probabilities"] for row in rows]
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert [row["labels"] for row in rows] == [CLASSES[i] for i in expected.argmax(-1)]

    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    for argv, message in [
        (["predict", exported, "--file", str(junk)], "keras-attn predict: error"),
        (["predict", exported, "--file", str(tmp_path / "gone.png")], "gone.png"),
        (["predict", exported, "x", "--file", files[0]], "not both"),
    ]:
        assert keras_attn_cli.main(argv) == 2
        error = capsys.readouterr().err
        assert message in error and len(error.strip().splitlines()) == 1, error
