import gzip
import hashlib
import json
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_attn.data import corpus_fetch
from keras_attn.data import image_tfds
from keras_attn.data import images
from keras_attn.data import synthetic_corpus

REAL_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "keras_attn")


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    return synthetic_corpus.make_tiny_cache(tmp_path_factory.mktemp("cache"))


# -------------------------------------------------------------------- IDX files


def idx_bytes(type_byte, shape, data):
    """An IDX file built by hand: header with `struct`, `data` already packed."""
    return (
        struct.pack(f">BBBB{len(shape)}I", 0, 0, type_byte, len(shape), *shape) + data
    )


@pytest.mark.parametrize(
    "type_byte, shape, values, fmt",
    [
        (0x08, (2, 3), [0, 1, 2, 127, 128, 255], "B"),
        (0x09, (4,), [-128, -1, 0, 127], "b"),
        (0x0B, (2, 1, 2), [-32768, -1, 256, 32767], "h"),
        (0x0C, (3,), [-(2**31), 1, 2**31 - 1], "i"),
        (0x0D, (1, 2), [1.5, -0.25], "f"),
        (0x0E, (2,), [np.pi, -1e300], "d"),
        (0x08, (0,), [], "B"),
    ],
)
def test_idx_round_trip_matches_hand_built_bytes(
    tmp_path, type_byte, shape, values, fmt
):
    expected = idx_bytes(type_byte, shape, struct.pack(f">{len(values)}{fmt}", *values))
    raw = tmp_path / "x.idx"
    raw.write_bytes(expected)
    array = images.read_idx(raw)
    assert array.shape == shape
    assert array.dtype.isnative
    np.testing.assert_array_equal(array.ravel(), np.array(values, dtype=array.dtype))

    images.write_idx(tmp_path / "y.idx", array)
    assert (tmp_path / "y.idx").read_bytes() == expected
    images.write_idx(tmp_path / "y.idx.gz", array)
    assert gzip.decompress((tmp_path / "y.idx.gz").read_bytes()) == expected
    np.testing.assert_array_equal(images.read_idx(tmp_path / "y.idx.gz"), array)


def test_idx_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match=r"bad.idx is not an IDX file"):
        images.read_idx(path)
    path.write_bytes(idx_bytes(0x0A, (1,), b"\x00"))
    with pytest.raises(ValueError, match=r"bad.idx: unknown IDX type byte 0x0A"):
        images.read_idx(path)
    path.write_bytes(idx_bytes(0x0C, (2, 3), b"\x00" * 23))  # 24 needed
    with pytest.raises(ValueError, match=r"bad.idx: .* need 24 bytes .* received 23"):
        images.read_idx(path)
    path.write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 8)  # 3 dims, 2 given
    with pytest.raises(ValueError, match=r"bad.idx is truncated"):
        images.read_idx(path)
    cut = tmp_path / "cut.idx.gz"
    cut.write_bytes(gzip.compress(idx_bytes(0x08, (100,), bytes(100)))[:-10])
    with pytest.raises(ValueError, match=r"cut.idx.gz is not a complete gzip file"):
        images.read_idx(cut)
    with pytest.raises(ValueError, match="received int64"):
        images.write_idx(path, np.zeros(2, dtype=np.int64))


# ---------------------------------------------------------------- Fashion-MNIST


def test_fashion_mnist_on_the_tiny_cache(tiny_cache):
    x_train, y_train = images.load_fashion_mnist("train", tiny_cache)
    x_test, y_test = images.load_fashion_mnist("test", tiny_cache)
    assert x_train.shape == (300, 28, 28, 1) and x_test.shape == (100, 28, 28, 1)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert y_train.shape == (300,) and y_test.shape == (100,)
    assert np.bincount(y_train).tolist() == [30] * 10
    assert np.bincount(y_test).tolist() == [10] * 10
    assert len(images.FASHION_MNIST_CLASSES) == 10
    baselines = images.load_fashion_mnist_baselines(tiny_cache)
    assert set(baselines) == {"common", "classifiers"}
    assert all(isinstance(g, list) for g in baselines["classifiers"].values())


def test_tiny_fashion_mnist_is_learnable(tiny_cache):
    # A nearest-class-mean classifier, fitted on train, must get test right.
    x_train, y_train = images.load_fashion_mnist("train", tiny_cache)
    x_test, y_test = images.load_fashion_mnist("test", tiny_cache)
    x_train = x_train.reshape(len(x_train), -1).astype(np.float32)
    x_test = x_test.reshape(len(x_test), -1).astype(np.float32)
    means = np.stack([x_train[y_train == c].mean(0) for c in range(10)])
    distances = ((x_test[:, None] - means[None]) ** 2).sum(-1)
    assert (distances.argmin(1) == y_test).mean() > 0.95


def test_fashion_mnist_errors(tmp_path, tiny_cache):
    with pytest.raises(corpus_fetch.MissingDataError, match="run `make data`"):
        images.load_fashion_mnist("train", tmp_path)
    with pytest.raises(corpus_fetch.MissingDataError, match="fashion_mnist"):
        images.load_fashion_mnist_baselines(tmp_path)
    with pytest.raises(ValueError, match="split must be one of .* 'validation'"):
        images.load_fashion_mnist("validation", tiny_cache)


def test_fashion_mnist_images_and_labels_must_agree(tmp_path, tiny_cache):
    shutil.copytree(
        os.path.join(tiny_cache, "fashion_mnist"), tmp_path / "fashion_mnist"
    )
    labels = tmp_path / "fashion_mnist" / corpus_fetch.FASHION_MNIST_DIR
    images.write_idx(labels / "t10k-labels-idx1-ubyte.gz", np.zeros(99, np.uint8))
    with pytest.raises(ValueError, match="100 images but 99 labels"):
        images.load_fashion_mnist("test", tmp_path)


def test_fashion_mnist_builder_matches_the_loader(tmp_path, tiny_cache):
    builder = image_tfds.FashionMnist(cache_dir=tiny_cache, data_dir=str(tmp_path))
    builder.download_and_prepare()
    features = builder.info.features
    assert features["image"].shape == (28, 28, 1)
    assert features["label"].names == list(images.FASHION_MNIST_CLASSES)
    assert builder.info.supervised_keys == ("image", "label")
    for split in images.FASHION_MNIST_SPLITS:
        x, y = images.load_fashion_mnist(split, tiny_cache)
        assert builder.info.splits[split].num_examples == len(y)
        # TFDS shuffles on write: compare in the loader's order by content.
        examples = list(tfds.as_numpy(builder.as_dataset(split=split)))
        got = sorted((e["image"].tobytes(), int(e["label"])) for e in examples)
        assert got == sorted((i.tobytes(), int(c)) for i, c in zip(x, y))


def fake_deb(tmp_path, files):
    """A real .deb holding `files` (path -> bytes), built with dpkg-deb."""
    root = tmp_path / "deb"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: dataset-fashion-mnist\nVersion: 0.0-1\nArchitecture: all\n"
        "Maintainer: Nobody <nobody@example.org>\nDescription: test\n"
    )
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    subprocess.run(
        [
            "dpkg-deb",
            "--root-owner-group",
            "--build",
            str(root),
            str(tmp_path / "a.deb"),
        ],
        check=True,
        capture_output=True,
    )
    return (tmp_path / "a.deb").read_bytes()


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_fashion_mnist_fetch_offline(tmp_path, monkeypatch):
    folder = corpus_fetch.FASHION_MNIST_DIR
    pixels = np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28)
    files = {
        f"{folder}/train-images-idx3-ubyte.gz": gzip.compress(
            idx_bytes(0x08, (3, 28, 28), pixels.tobytes())
        ),
        f"{folder}/train-labels-idx1-ubyte.gz": gzip.compress(
            idx_bytes(0x08, (3,), bytes([9, 0, 4]))
        ),
        f"{folder}/t10k-images-idx3-ubyte.gz": gzip.compress(
            idx_bytes(0x08, (1, 28, 28), bytes(28 * 28))
        ),
        f"{folder}/t10k-labels-idx1-ubyte.gz": gzip.compress(
            idx_bytes(0x08, (1,), bytes([2]))
        ),
        corpus_fetch.FASHION_MNIST_BASELINES: json.dumps(
            {"common": {}, "classifiers": {"SVC": [{"C": [1.0]}]}}
        ).encode(),
    }
    deb = fake_deb(tmp_path / "build", files)
    archive = dict(corpus_fetch.ARCHIVES["fashion_mnist"][0])
    archive["sha256"] = hashlib.sha256(deb).hexdigest()
    monkeypatch.setitem(corpus_fetch.ARCHIVES, "fashion_mnist", (archive,))
    calls = []

    def registry(command, cwd):
        calls.append(command)
        with open(os.path.join(cwd, archive["filename"]), "wb") as f:
            f.write(deb)

    monkeypatch.setattr(corpus_fetch, "_run", registry)
    cache = tmp_path / "cache"
    corpus_fetch.fetch(["fashion_mnist"], cache_dir=cache)
    assert calls == [
        ["apt-get", "download", "dataset-fashion-mnist=0.0~git20200523.55506a9-1"]
    ]
    x, y = images.load_fashion_mnist("train", cache)
    np.testing.assert_array_equal(x[..., 0], pixels)
    assert y.tolist() == [9, 0, 4]
    assert images.load_fashion_mnist("test", cache)[1].tolist() == [2]
    assert images.load_fashion_mnist_baselines(cache)["classifiers"] == {
        "SVC": [{"C": [1.0]}]
    }
    corpus_fetch.fetch("fashion_mnist", cache_dir=cache)  # already in place
    assert len(calls) == 1


def test_fashion_mnist_pin():
    (archive,) = corpus_fetch.ARCHIVES["fashion_mnist"]
    assert archive["client"] == "apt"
    assert archive["filename"] == (
        "dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb"
    )
    assert archive["sha256"] == (
        "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0"
    )


@pytest.mark.skipif(
    not os.path.exists(os.path.join(REAL_CACHE, "fashion_mnist", corpus_fetch.MARKER)),
    reason="the real Fashion-MNIST is not fetched (make data)",
)
def test_real_fashion_mnist_counts_and_balance():
    for split, per_class in (("train", 6000), ("test", 1000)):
        x, y = images.load_fashion_mnist(split, REAL_CACHE)
        assert x.shape == (10 * per_class, 28, 28, 1) and x.dtype == np.uint8
        assert np.bincount(y, minlength=10).tolist() == [per_class] * 10
    baselines = images.load_fashion_mnist_baselines(REAL_CACHE)
    assert "LogisticRegression" in baselines["classifiers"]
