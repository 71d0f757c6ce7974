"""The cached corpora as TFDS builders, so they load like any TFDS dataset.

Nothing is downloaded here: each builder reads the cache that `make data` (or
`synthetic_corpus.make_tiny_cache`) wrote, through the loaders of
`keras_attn.data.corpora`. `cache_dir` picks the corpus cache (default
`$KERAS_ATTN_DATA` or `~/.cache/keras_attn`), `data_dir` where TFDS writes the
prepared dataset. Use a separate `data_dir` for the synthetic tiny cache, since
a prepared dataset is reused whatever cache it came from.

    >>> import tensorflow_datasets as tfds
    >>> from keras_attn.data import synthetic_corpus
    >>> from keras_attn.data.text_tfds import VersePairs
    >>> tmp = getfixture("tmp_path")
    >>> cache = synthetic_corpus.make_tiny_cache(tmp / "cache")
    >>> builder = VersePairs(config="tiny", cache_dir=cache, data_dir=tmp / "tfds")
    >>> builder.download_and_prepare()  # doctest: +ELLIPSIS
    Downloading and preparing dataset ...
    >>> builder.info.splits["test"].num_examples
    20
    >>> example = next(iter(tfds.as_numpy(builder.as_dataset(split="train"))))
    >>> sorted(example)
    ['en', 'es']

With internet access, the examples can use TFDS catalog datasets instead, for
instance `tfds.load("ted_hrlr_translate/pt_to_en")` for translation or
`tfds.load("imdb_reviews")` for classification; on these machines the catalog
cannot download, which is why these builders exist.
"""

import tensorflow_datasets as tfds

from keras_attn.data import corpora


class CacheBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A builder that reads the corpus cache at `cache_dir`."""

    def __init__(self, *, cache_dir=None, **kwargs):
        self.cache_dir = corpora.resolve_cache_dir(cache_dir)
        super().__init__(**kwargs)


class _LabelledBuilder(CacheBuilder, skip_registration=True):
    """A builder of `text` examples, each with a `label`."""

    def _labelled_info(self, label_names):
        """The info of `text` examples with a `label` out of `label_names`."""
        return self.dataset_info_from_configs(
            description=self.__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "text": tfds.features.Text(),
                    "label": tfds.features.ClassLabel(names=label_names),
                }
            ),
            supervised_keys=("text", "label"),
        )

    def _generate_examples(self, texts, labels):
        for i, (text, label) in enumerate(zip(texts, labels)):
            yield i, {"text": text, "label": label}


class VersePairsConfig(tfds.core.BuilderConfig):
    """Sizes of the held-out splits."""

    def __init__(self, *, num_test, num_validation, seed=0, **kwargs):
        super().__init__(version=tfds.core.Version("1.0.0"), **kwargs)
        self.num_test, self.num_validation, self.seed = num_test, num_validation, seed


class VersePairs(CacheBuilder):
    """Spanish (Reina-Valera 1909) and English (King James) Bible verses.

    Features `es` and `en` (Text). Splits `train`, `validation`, `test` from
    `corpora.split_verse_pairs`: no Spanish verse of a held-out split occurs in
    `train`. Config `default` holds out 1,000 + 1,000 of the 31,084 pairs;
    `tiny` holds out 20 + 20 (for the synthetic cache).
    """

    BUILDER_CONFIGS = [
        VersePairsConfig(name="default", num_test=1000, num_validation=1000),
        VersePairsConfig(name="tiny", num_test=20, num_validation=20),
    ]

    def _info(self):
        return self.dataset_info_from_configs(
            description=self.__doc__,
            features=tfds.features.FeaturesDict(
                {"es": tfds.features.Text(), "en": tfds.features.Text()}
            ),
            supervised_keys=("es", "en"),
        )

    def _split_generators(self, dl_manager):
        config = self.builder_config
        splits = corpora.split_verse_pairs(
            corpora.load_verse_pairs(self.cache_dir),
            num_test=config.num_test,
            num_validation=config.num_validation,
            seed=config.seed,
        )
        return {name: self._generate_examples(pairs) for name, pairs in splits.items()}

    def _generate_examples(self, pairs):
        for i, (es, en) in enumerate(pairs):
            yield i, {"es": es, "en": en}


class Fortunes(_LabelledBuilder):
    """Fortune cookies labelled with their topic file.

    Features `text` (Text) and `label` (ClassLabel, names = the topics kept by
    `corpora.load_fortunes`: 32 with the real data). Splits `train`,
    `validation`, `test` (80/10/10, stratified by topic).
    """

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        _, _, label_names = corpora.load_fortunes(self.cache_dir)
        return self._labelled_info(label_names)

    def _split_generators(self, dl_manager):
        texts, labels, _ = corpora.load_fortunes(self.cache_dir)
        splits = corpora.split_fortunes(texts, labels)
        return {name: self._generate_examples(*split) for name, split in splits.items()}


class Newsgroups(_LabelledBuilder):
    """20 Newsgroups, the by-date split: splits `train` (11,293 documents)
    and `test` (7,528).

    Features `text` (Text, as the source normalised it: lower case, no
    punctuation or digits) and `label` (ClassLabel, the 20 group names).
    """

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        _, _, label_names = corpora.load_newsgroups("train", self.cache_dir)
        return self._labelled_info(label_names)

    def _split_generators(self, dl_manager):
        return {
            split: self._generate_examples(
                *corpora.load_newsgroups(split, self.cache_dir)[:2]
            )
            for split in corpora.NEWSGROUPS_SPLITS
        }


class Prose(CacheBuilder):
    """Long English documents, one example per document, split `train` only.

    Configs: `shakespeare` (42 works) and `web` (80 books of the World English
    Bible). Feature `text` (Text).
    """

    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(name=name, version=tfds.core.Version("1.0.0"))
        for name in ("shakespeare", "web")
    ]

    def _info(self):
        return self.dataset_info_from_configs(
            description=self.__doc__,
            features=tfds.features.FeaturesDict({"text": tfds.features.Text()}),
        )

    def _split_generators(self, dl_manager):
        documents = corpora.load_prose(self.builder_config.name, self.cache_dir)
        return {"train": self._generate_examples(documents)}

    def _generate_examples(self, documents):
        for i, text in enumerate(documents):
            yield i, {"text": text}
