"""Fashion-MNIST from the local cache, and the IDX format it comes in.

The loaders read the cache that `make data` fills (`keras_attn.data.
corpus_fetch`, source `fashion_mnist`) and say "run `make data`" when it is
missing. The synthetic cache of `keras_attn.data.synthetic_corpus.
make_tiny_cache` holds a small stand-in in the same IDX files (30 train and
10 test images per class):

    >>> import numpy as np
    >>> from keras_attn.data import images, synthetic_corpus
    >>> cache = synthetic_corpus.make_tiny_cache(getfixture("tmp_path"))
    >>> x, y = images.load_fashion_mnist("train", cache)
    >>> x.shape, x.dtype.name, y.shape, y.dtype.name
    ((300, 28, 28, 1), 'uint8', (300,), 'int64')
    >>> [int(n) for n in np.bincount(y)]
    [30, 30, 30, 30, 30, 30, 30, 30, 30, 30]
    >>> images.FASHION_MNIST_CLASSES[9]
    'Ankle boot'
    >>> sorted(images.load_fashion_mnist_baselines(cache)["classifiers"])
    ['LogisticRegression', 'RandomForestClassifier', 'SVC']

IDX (the MNIST format): two zero bytes, a type byte, a byte giving the
number of dimensions, each dimension as a big-endian uint32, then the data in
C order, multi-byte values big-endian.
"""

import gzip
import json
import os
import struct

import numpy as np

from keras_attn.data.corpus_fetch import FASHION_MNIST_BASELINES
from keras_attn.data.corpus_fetch import FASHION_MNIST_DIR
from keras_attn.data.corpus_fetch import source_dir

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
FASHION_MNIST_SPLITS = ("train", "test")

# The IDX type byte and the (big-endian) dtype it stands for.
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# The file prefix of each split, as Zalando names them.
_SPLIT_PREFIXES = {"train": "train", "test": "t10k"}


def _open(path, mode):
    path = os.fspath(path)
    return gzip.open(path, mode) if path.endswith(".gz") else open(path, mode)


# -------------------------------------------------------------------- IDX files


def read_idx(path):
    """Reads an IDX file (gzip-compressed if its name ends in `.gz`).

    Args:
        path: str or path.

    Returns:
        NumPy array of the file's shape and type, in native byte order.

    Raises:
        ValueError: for a bad magic number, an unknown type byte, or data that
            does not match the dimensions, or a broken gzip stream (a
            truncated file); the message names the file.
    """
    name = os.fspath(path)
    try:
        with _open(path, "rb") as f:
            data = f.read()
    except (EOFError, gzip.BadGzipFile) as error:  # a cut-off or non-gzip .gz
        raise ValueError(f"{name} is not a complete gzip file: {error}") from error
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise ValueError(
            f"{name} is not an IDX file: expected the magic to start with two "
            f"zero bytes, received {data[:4]!r}."
        )
    type_byte, ndim = data[2], data[3]
    if type_byte not in _IDX_DTYPES:
        known = ", ".join(f"0x{t:02X}" for t in _IDX_DTYPES)
        raise ValueError(
            f"{name}: unknown IDX type byte 0x{type_byte:02X}; expected one of {known}."
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(
            f"{name} is truncated: its header needs {header} bytes for {ndim} "
            f"dimensions, received {len(data)}."
        )
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _IDX_DTYPES[type_byte]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{name}: dimensions {shape} of {dtype.name} need {expected} bytes of "
            f"data, received {len(data) - header} (a truncated or corrupt file)."
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Writes `array` as an IDX file (gzip-compressed if `path` ends in `.gz`).

    Args:
        path: str or path.
        array: array-like of uint8, int8, int16, int32, float32 or float64.

    Raises:
        ValueError: for a dtype that IDX cannot hold.
    """
    array = np.asarray(array)
    types = {dtype.newbyteorder("="): t for t, dtype in _IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in types:
        raise ValueError(
            "IDX holds uint8, int8, int16, int32, float32 or float64; received "
            f"{array.dtype}."
        )
    header = struct.pack(
        f">BBBB{array.ndim}I", 0, 0, types[native], array.ndim, *array.shape
    )
    data = np.ascontiguousarray(array, dtype=native.newbyteorder(">")).tobytes()
    with _open(path, "wb") as f:
        f.write(header + data)


# ---------------------------------------------------------------- Fashion-MNIST


def load_fashion_mnist(split="train", cache_dir=None):
    """Fashion-MNIST images and their class ids.

    Args:
        split: `"train"` (60,000 images with the real data) or `"test"`
            (10,000, the `t10k-*` files).
        cache_dir: str or path, the cache (default: see `resolve_cache_dir`).

    Returns:
        `(images, labels)`: uint8 array `(N, 28, 28, 1)` (channels last) and
        int64 array `(N,)` of indices into `FASHION_MNIST_CLASSES`.

    Raises:
        MissingDataError: if the source is not in the cache.
        ValueError: for an unknown split, or image and label files of
            different lengths.
    """
    if split not in FASHION_MNIST_SPLITS:
        raise ValueError(
            f"split must be one of {FASHION_MNIST_SPLITS}; received {split!r}."
        )
    folder = os.path.join(source_dir("fashion_mnist", cache_dir), FASHION_MNIST_DIR)
    prefix = os.path.join(folder, _SPLIT_PREFIXES[split])
    images = read_idx(f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(f"{prefix}-labels-idx1-ubyte.gz")
    if len(images) != len(labels):
        raise ValueError(
            f"The {split!r} split has {len(images)} images but {len(labels)} "
            f"labels in {folder}."
        )
    return images[..., np.newaxis], labels.astype(np.int64)


def load_fashion_mnist_baselines(cache_dir=None):
    """The scikit-learn classifiers and parameter grids the Fashion-MNIST
    authors benchmarked (grids, not accuracies).

    Args:
        cache_dir: str or path, the cache (default: see `resolve_cache_dir`).

    Returns:
        dict with `"common"` (parameters shared by all) and `"classifiers"`
        (class name -> list of parameter grids, each a dict of name -> values).
    """
    path = os.path.join(source_dir("fashion_mnist", cache_dir), FASHION_MNIST_BASELINES)
    with open(path) as f:
        return json.load(f)
