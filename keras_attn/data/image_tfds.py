"""The cached Fashion-MNIST as a TFDS builder, so it loads like any TFDS dataset.

Nothing is downloaded here: the builder reads the cache that `make data` (or
`synthetic_corpus.make_tiny_cache`) wrote, through
`keras_attn.data.images.load_fashion_mnist`. `cache_dir` picks the cache
(default `$KERAS_ATTN_DATA` or `~/.cache/keras_attn`), `data_dir` where TFDS
writes the prepared dataset; use a separate `data_dir` for the synthetic tiny
cache, since a prepared dataset is reused whatever cache it came from.

    >>> import tensorflow_datasets as tfds
    >>> from keras_attn.data import synthetic_corpus
    >>> from keras_attn.data.image_tfds import FashionMnist
    >>> tmp = getfixture("tmp_path")
    >>> cache = synthetic_corpus.make_tiny_cache(tmp / "cache")
    >>> builder = FashionMnist(cache_dir=cache, data_dir=tmp / "tfds")
    >>> builder.download_and_prepare()  # doctest: +ELLIPSIS
    Downloading and preparing dataset ...
    >>> [builder.info.splits[s].num_examples for s in ("train", "test")]
    [300, 100]
    >>> image, label = next(iter(tfds.as_numpy(
    ...     builder.as_dataset(split="test", as_supervised=True))))
    >>> image.shape, image.dtype.name
    ((28, 28, 1), 'uint8')

With internet access, `tfds.load("fashion_mnist")` gives the same data from
the TFDS catalog; on these machines the catalog cannot download.
"""

import tensorflow_datasets as tfds

from keras_attn.data import images
from keras_attn.data.text_tfds import CacheBuilder


class FashionMnist(CacheBuilder):
    """Fashion-MNIST: 28x28 grey images of clothing in ten classes.

    Features `image` (Image, `(28, 28, 1)` uint8) and `label` (ClassLabel,
    names `images.FASHION_MNIST_CLASSES`). Splits `train` (60,000 images) and
    `test` (10,000), as Zalando published them.
    """

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return self.dataset_info_from_configs(
            description=self.__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(28, 28, 1)),
                    "label": tfds.features.ClassLabel(
                        names=list(images.FASHION_MNIST_CLASSES)
                    ),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        return {
            split: self._generate_examples(
                *images.load_fashion_mnist(split, self.cache_dir)
            )
            for split in images.FASHION_MNIST_SPLITS
        }

    def _generate_examples(self, pixels, labels):
        for i, (image, label) in enumerate(zip(pixels, labels)):
            yield i, {"image": image, "label": label}
