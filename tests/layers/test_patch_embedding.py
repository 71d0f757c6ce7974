import numpy as np
import pytest

from keras_attn.layers import PatchEmbedding
from keras_attn.layers import interpolate_position_embeddings
from tests.test_case import assert_close
from tests.test_case import run_layer_test
from tests.test_case import to_numpy

IMAGES = np.random.default_rng(0).random((2, 8, 12, 3)).astype("float32")


@pytest.mark.parametrize("use_class_token", [True, False])
def test_layer_harness(use_class_token):
    prefix = int(use_class_token)
    run_layer_test(
        PatchEmbedding,
        {"patch_size": 4, "hidden_dim": 8, "use_class_token": use_class_token},
        {"images": IMAGES},
        expected_output_shapes=[(2, prefix + 2 * 3, 8)],
        expected_num_trainable_weights=3 + prefix,
        # projection kernel + bias, class token, one position per token.
        expected_num_params=4 * 4 * 3 * 8 + 8 + prefix * 8 + (prefix + 6) * 8,
    )


def test_matches_numpy_patches_times_kernel():
    layer = PatchEmbedding(patch_size=(4, 6), hidden_dim=5)
    out = to_numpy(layer(IMAGES))  # (2, 1 + 2 * 2, 5)
    kernel = to_numpy(layer.projection.kernel).reshape(-1, 5)  # (4 * 6 * 3, 5)
    bias = to_numpy(layer.projection.bias)
    # Patches read row by row, each flattened (row, column, channel).
    patches = IMAGES.reshape(2, 2, 4, 2, 6, 3).transpose(0, 1, 3, 2, 4, 5)
    patches = patches.reshape(2, 4, -1) @ kernel + bias
    positions = to_numpy(layer.position_embeddings)
    class_token = to_numpy(layer.class_token).reshape(1, 1, 5)
    expected = np.concatenate([np.repeat(class_token, 2, 0), patches], 1) + positions
    assert_close(out, expected)


def _bilinear(grid, size):
    """Half-pixel-centre bilinear resize of `(rows, columns, D)`, in NumPy."""

    def axis(old, new):
        x = np.clip((np.arange(new) + 0.5) * old / new - 0.5, 0, old - 1)
        low = np.floor(x).astype(int)
        high = np.minimum(low + 1, old - 1)
        return low, high, x - low

    r0, r1, rw = axis(grid.shape[0], size[0])
    c0, c1, cw = axis(grid.shape[1], size[1])
    rows = grid[r0] * (1 - rw)[:, None, None] + grid[r1] * rw[:, None, None]
    return rows[:, c0] * (1 - cw)[None, :, None] + rows[:, c1] * cw[None, :, None]


@pytest.mark.parametrize("new_grid", [(4, 6), (2, 3), (3, 5)])
def test_interpolation_matches_numpy_bilinear(new_grid):
    rng = np.random.default_rng(1)
    table = rng.normal(size=(1 + 2 * 3, 4)).astype("float32")
    out = to_numpy(interpolate_position_embeddings(table, (2, 3), new_grid))
    assert_close(out[0], table[0])  # the class token is kept
    expected = _bilinear(table[1:].reshape(2, 3, 4), new_grid).reshape(-1, 4)
    assert_close(out[1:], expected)


def test_interpolation_checks_the_table_size():
    with pytest.raises(ValueError, match="need 7 position embeddings; received 6"):
        interpolate_position_embeddings(np.zeros((6, 4)), (2, 3), (4, 6))


@pytest.mark.parametrize(
    "shape, match",
    [
        ((2, 8, 12), r"takes images \(B, H, W, C\)"),
        ((2, 9, 12, 3), "multiples of the patch size"),
    ],
)
def test_bad_images_are_refused(shape, match):
    with pytest.raises(ValueError, match=match):
        PatchEmbedding(patch_size=4, hidden_dim=8)(np.zeros(shape, "float32"))


def test_built_for_one_image_size():
    layer = PatchEmbedding(patch_size=4, hidden_dim=8)
    layer(IMAGES)
    with pytest.raises(ValueError, match=r"built for images of \(8, 12, 3\)"):
        layer(np.zeros((2, 8, 12, 1), "float32"))
    with pytest.raises(ValueError, match="must be a positive int"):
        PatchEmbedding(patch_size=0, hidden_dim=8)


def test_layer_harness_with_a_convolutional_stem():
    run_layer_test(
        PatchEmbedding,
        {"patch_size": 4, "hidden_dim": 8, "stem_filters": (4, 6)},
        {"images": IMAGES},
        expected_output_shapes=[(2, 1 + 2 * 3, 8)],
        # two stem kernels, their BatchNorm gamma and beta, the projection
        # (kernel + bias), class token, positions.
        expected_num_trainable_weights=2 + 4 + 2 + 2,
        expected_num_non_trainable_weights=4,  # the BatchNorm statistics
        expected_num_params=9 * 3 * 4
        + 9 * 4 * 6
        + 2 * (4 + 6)
        + 2 * (4 + 6)
        + 6 * 8
        + 8
        + 8
        + 7 * 8,
    )


def _conv3x3_stride2_same(x, kernel):
    """NumPy `Conv2D(3, strides=2, padding="same")` without bias: TF pads
    the odd remainder at the bottom and right."""
    batch, height, width, _ = x.shape
    rows, cols = -(-height // 2), -(-width // 2)
    pad_h = max((rows - 1) * 2 + 3 - height, 0)
    pad_w = max((cols - 1) * 2 + 3 - width, 0)
    top, left = pad_h // 2, pad_w // 2
    x = np.pad(x, ((0, 0), (top, pad_h - top), (left, pad_w - left), (0, 0)))
    out = np.zeros((batch, rows, cols, kernel.shape[-1]), "float64")
    for i in range(3):
        for j in range(3):
            out += x[:, i : i + 2 * rows : 2, j : j + 2 * cols : 2] @ kernel[i, j]
    return out


def test_stem_matches_numpy_convolutions_batchnorm_relu_then_patches():
    rng = np.random.default_rng(2)
    layer = PatchEmbedding(patch_size=4, hidden_dim=5, stem_filters=(4, 6))
    layer.build(IMAGES.shape)
    # Statistics and affine parameters that are not the identity, so the
    # inference-mode normalization is checked.
    for norm in layer.stem_norms:
        for weight in norm.weights:
            weight.assign(rng.uniform(0.5, 1.5, weight.shape).astype("float32"))
    out = to_numpy(layer(IMAGES, training=False))
    x = IMAGES.astype("float64")
    for conv, norm in zip(layer.stem_convs, layer.stem_norms):
        x = _conv3x3_stride2_same(x, to_numpy(conv.kernel))
        gamma, beta, mean, var = (to_numpy(w) for w in norm.weights)
        x = np.maximum((x - mean) / np.sqrt(var + norm.epsilon) * gamma + beta, 0)
    assert x.shape == (2, 2, 3, 6)  # 8 x 12 halved twice: the patch grid
    kernel = to_numpy(layer.projection.kernel).reshape(6, 5)  # a 1x1 projection
    patches = x.reshape(2, 6, 6) @ kernel + to_numpy(layer.projection.bias)
    class_token = to_numpy(layer.class_token).reshape(1, 1, 5)
    expected = np.concatenate([np.repeat(class_token, 2, 0), patches], 1)
    assert_close(out, expected + to_numpy(layer.position_embeddings), atol=1e-5)


def test_stem_trains_its_batchnorm_statistics():
    layer = PatchEmbedding(patch_size=4, hidden_dim=5, stem_filters=(3,))
    layer(IMAGES, training=True)
    norm = layer.stem_norms[0]
    assert not np.allclose(to_numpy(norm.moving_mean), 0.0)


@pytest.mark.parametrize(
    "stem_filters, error, match",
    [
        ((8, 8, 8), ValueError, r"multiple of 8; received patch_size=\(4, 4\)"),
        ((8, 0), ValueError, r"`stem_filters\[1\]` must be a positive integer"),
        ((8, np.int64(8)), ValueError, r"stem_filters\[1\].*int\(\.\.\.\)"),
        (8, TypeError, "a tuple of positive ints .*received 8"),
    ],
)
def test_bad_stems_are_refused(stem_filters, error, match):
    with pytest.raises(error, match=match):
        PatchEmbedding(patch_size=4, hidden_dim=8, stem_filters=stem_filters)
