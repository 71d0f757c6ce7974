"""ViT: parity with keras-hub, resizing, rollout against NumPy, save/load,
bad inputs, mixed precision and XLA."""

import os

import keras
import numpy as np
import pytest

from keras_attn.models import ViTBackbone
from keras_attn.models import ViTClassifier
from keras_attn.models.keras_hub_conversion import from_keras_hub
from keras_attn.models.vit import attention_rollout
from tests.test_case import assert_close
from tests.test_case import assert_distinct_initial_weights
from tests.test_case import to_numpy

CONFIG = dict(
    image_shape=(12, 8, 2),
    patch_size=4,
    num_layers=2,
    num_heads=2,
    hidden_dim=8,
    intermediate_dim=16,
)
IMAGES = np.random.default_rng(0).random((3, 12, 8, 2)).astype("float32")


def _classifier(pooling="token", **overrides):
    backbone = ViTBackbone(**{**CONFIG, **overrides})
    return ViTClassifier(backbone, num_classes=5, pooling=pooling)


@pytest.mark.parametrize("use_class_token", [True, False])
def test_matches_keras_hub_with_copied_weights(use_class_token):
    keras_hub = pytest.importorskip("keras_hub")
    hub = keras_hub.models.ViTBackbone(
        image_shape=(28, 28, 1),
        patch_size=4,
        num_layers=2,
        num_heads=4,
        hidden_dim=32,
        mlp_dim=64,
        use_class_token=use_class_token,
    )
    # Random values everywhere (LayerNorm scales and biases included), so a
    # weight copied to the wrong place changes the output.
    rng = np.random.default_rng(0)
    for w in hub.weights:
        w.assign(rng.normal(size=w.shape, scale=0.3).astype("float32"))
    ours = from_keras_hub(hub)
    assert ours.count_params() == hub.count_params()
    images = rng.random((3, 28, 28, 1)).astype("float32")
    assert_close(ours(images), hub(images), atol=1e-5, rtol=1e-5)


def test_keras_hub_settings_we_cannot_express_are_refused():
    keras_hub = pytest.importorskip("keras_hub")
    hub = keras_hub.models.ViTBackbone(
        image_shape=(8, 8, 1),
        patch_size=4,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        mlp_dim=16,
        use_mha_bias=False,
    )
    with pytest.raises(ValueError, match="use_mha_bias"):
        from_keras_hub(hub)


def test_starts_with_distinct_kernels_and_round_trips_config():
    model = _classifier()
    assert_distinct_initial_weights(model)
    config = model.get_config()
    restored = ViTClassifier.from_config(config)
    assert restored.get_config() == config
    assert restored.count_params() == model.count_params()


@pytest.mark.parametrize("pooling", ["token", "mean"])
def test_save_and_load(tmp_path, pooling):
    model = _classifier(pooling, use_class_token=pooling == "token")
    expected = model.predict(IMAGES, verbose=0)
    path = os.path.join(tmp_path, "vit.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is ViTClassifier
    assert_close(loaded.predict(IMAGES, verbose=0), expected)


def test_mean_pooling_is_the_mean_of_the_patches():
    model = _classifier("mean")
    states = to_numpy(model.backbone(IMAGES))[:, 1:]  # the patches
    dense = model.output_dense
    expected = states.mean(1) @ to_numpy(dense.kernel) + to_numpy(dense.bias)
    assert_close(model(IMAGES), expected)


def test_with_image_shape_keeps_the_weights_and_interpolates_positions():
    backbone = ViTBackbone(**CONFIG)
    same = backbone.with_image_shape(CONFIG["image_shape"])
    assert_close(same(IMAGES), backbone(IMAGES))
    bigger = backbone.with_image_shape((24, 16, 2))
    assert bigger.grid == (6, 4)
    assert tuple(bigger(np.zeros((1, 24, 16, 2))).shape) == (1, 1 + 24, 8)
    old = to_numpy(backbone.embeddings.position_embeddings)
    new = to_numpy(bigger.embeddings.position_embeddings)
    assert_close(new[0], old[0])
    # Upsampling by two: the mean over the grid is kept.
    assert_close(new[1:].mean(0), old[1:].mean(0), atol=1e-5)
    assert_close(bigger.layer_norm.gamma, backbone.layer_norm.gamma)
    with pytest.raises(ValueError, match=r"\(H, W, 2\)"):
        backbone.with_image_shape((24, 16, 3))


def _numpy_rollout(scores):
    result = np.eye(scores[0].shape[-1])[None]
    for s in scores:
        a = 0.5 * s.mean(1) + 0.5 * np.eye(s.shape[-1])[None]
        a = a / a.sum(-1, keepdims=True)
        result = np.einsum("bij,bjk->bik", a, result)
    return result


@pytest.mark.parametrize("pooling", ["token", "mean"])
def test_attention_rollout_matches_numpy(pooling):
    model = _classifier(pooling)
    scores = [to_numpy(s) for s in model.backbone.attention_scores(IMAGES)]
    assert len(scores) == 2 and scores[0].shape == (3, 2, 7, 7)
    np.testing.assert_allclose(scores[0].sum(-1), 1.0, rtol=1e-5)
    reference = _numpy_rollout(scores)
    assert_close(attention_rollout(scores), reference)
    maps = to_numpy(model.attention_rollout(IMAGES))
    assert maps.shape == (3, 3, 2)
    rows = reference[:, 0, 1:] if pooling == "token" else reference[:, 1:, 1:].mean(1)
    rows = rows / rows.max(-1, keepdims=True)
    assert_close(maps, rows.reshape(3, 3, 2))


def test_attention_scores_are_the_weights_the_forward_pass_uses():
    # Rebuild the first block's attention from its scores and the values.
    backbone = ViTBackbone(**{**CONFIG, "num_layers": 1})
    scores = to_numpy(backbone.attention_scores(IMAGES)[0])  # (B, N, T, T)
    layer = backbone.transformer_layers[0]
    x = to_numpy(backbone.embeddings(IMAGES))
    normed = to_numpy(layer.self_attention_layer_norm(x))
    qkv = normed @ to_numpy(layer.self_attention.qkv_dense.kernel)
    qkv = qkv + to_numpy(layer.self_attention.qkv_dense.bias)
    values = qkv[..., 16:].reshape(3, 7, 2, 4).transpose(0, 2, 1, 3)
    attended = (scores @ values).transpose(0, 2, 1, 3).reshape(3, 7, 8)
    out = layer.self_attention.output_dense
    expected = x + attended @ to_numpy(out.kernel) + to_numpy(out.bias)
    got = x + to_numpy(layer.self_attention(normed))
    assert_close(got, expected, atol=1e-5)


@pytest.mark.parametrize(
    "shape",
    [
        (2, 12, 8, 3),  # channels
        (2, 12, 8),  # no channel axis
        (2, 16, 8, 2),  # another size, patches fit
        (2, 14, 8, 2),  # another size, patches do not fit
    ],
)
def test_bad_images_get_a_clear_error_at_every_entry_point(shape):
    # Keras's own functional input check used to answer first ("expected
    # shape=(None, 12, 8, 2), found shape=(2, 16, 8)", the channels dropped;
    # or "as_list() is not defined on an unknown TensorShape" from predict).
    model = _classifier()
    model.compile()
    images = np.zeros(shape, "float32")
    entry_points = {
        "predict": lambda: model.predict(images, verbose=0),
        "fit": lambda: model.fit(images, np.zeros(len(images)), verbose=0),
        "classifier": lambda: model(images),
        "backbone": lambda: model.backbone(images),
        "rollout": lambda: model.attention_rollout(images),
    }
    for call in entry_points.values():
        with pytest.raises(ValueError, match=r"takes images of shape \(B,\) \+ "):
            call()
    assert model.predict(IMAGES, verbose=0).shape == (3, 5)


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"image_shape": (10, 8, 2)}, "multiples of the patch size"),
        ({"image_shape": (12, 8)}, r"must be \(H, W, C\)"),
        ({"num_heads": 3}, "divisible by `num_heads`"),
    ],
)
def test_bad_configurations_get_a_clear_error(overrides, match):
    with pytest.raises(ValueError, match=match):
        ViTBackbone(**{**CONFIG, **overrides})


def test_classifier_argument_errors():
    backbone = ViTBackbone(**{**CONFIG, "use_class_token": False})
    with pytest.raises(ValueError, match='pooling="token" needs a backbone'):
        ViTClassifier(backbone, 5)
    with pytest.raises(ValueError, match="`pooling` must be one of"):
        ViTClassifier(backbone, 5, pooling="max")
    with pytest.raises(ValueError, match="hold num_classes=5 names"):
        ViTClassifier(backbone, 5, pooling="mean", class_names=["a"])


@pytest.mark.parametrize("stem_filters", [(), (4,)])
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy, stem_filters):
    model = _classifier(dtype=policy, stem_filters=stem_filters)
    logits = model(IMAGES)
    assert keras.backend.standardize_dtype(logits.dtype) == policy.split("_")[1]
    assert np.all(np.isfinite(to_numpy(keras.ops.cast(logits, "float32"))))
    maps = to_numpy(model.attention_rollout(IMAGES))
    assert np.all(np.isfinite(maps))


def test_xla_and_one_fit_step():
    model = _classifier()
    eager = model.predict(IMAGES, verbose=0)
    model.compile(jit_compile=True)
    assert_close(model.predict(IMAGES, verbose=0), eager, atol=1e-4)
    before = [to_numpy(w) for w in model.trainable_weights]
    history = model.fit(IMAGES, np.array([0, 1, 2]), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = [to_numpy(w) for w in model.trainable_weights]
    assert all(not np.allclose(a, b) for a, b in zip(before, after))


def test_a_convolutional_stem_saves_loads_resizes_and_fits_under_xla(tmp_path):
    model = _classifier("mean", stem_filters=(3, 4))
    assert model.backbone.grid == (3, 2)  # the same grid as without a stem
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    model.fit(IMAGES, np.array([0, 1, 2]), epochs=2, verbose=0)
    norm = model.backbone.embeddings.stem_norms[0]
    assert not np.allclose(to_numpy(norm.moving_variance), 1.0)  # fit trained it
    expected = model.predict(IMAGES, verbose=0)
    path = os.path.join(tmp_path, "vit.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.backbone.stem_filters == (3, 4)
    assert_close(loaded.predict(IMAGES, verbose=0), expected)
    same = model.backbone.with_image_shape(CONFIG["image_shape"])
    assert_close(same(IMAGES), model.backbone(IMAGES), atol=1e-5)
    bigger = model.backbone.with_image_shape((24, 16, 2))
    assert bigger.grid == (6, 4)
    norms = zip(model.backbone.embeddings.stem_norms, bigger.embeddings.stem_norms)
    for old, new in norms:
        assert_close(new.moving_variance, old.moving_variance)
    assert np.all(np.isfinite(to_numpy(bigger(np.ones((1, 24, 16, 2))))))
