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
