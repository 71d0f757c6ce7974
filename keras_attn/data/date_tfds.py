"""The date dataset as a TFDS builder, so it loads like any TFDS dataset.

Nothing is downloaded: examples are generated from a seed.

    >>> import tensorflow_datasets as tfds
    >>> from keras_attn.data.date_tfds import HumanDates
    >>> builder = HumanDates(config="tiny", data_dir=getfixture("tmp_path"))
    >>> builder.download_and_prepare()  # doctest: +ELLIPSIS
    Downloading and preparing dataset ...
    Dataset human_dates downloaded and prepared to .... Subsequent calls ...
    >>> ds = builder.as_dataset(split="train")
    >>> example = next(iter(tfds.as_numpy(ds)))
    >>> sorted(example)
    ['human', 'iso']
    >>> builder.info.splits["test"].num_examples
    50
"""

import tensorflow_datasets as tfds

from keras_attn.data import dates


class HumanDatesConfig(tfds.core.BuilderConfig):
    """Sizes of the splits."""

    def __init__(self, *, num_train, num_test, seed=0, **kwargs):
        super().__init__(version=tfds.core.Version("1.0.0"), **kwargs)
        self.num_train, self.num_test, self.seed = num_train, num_test, seed


class HumanDates(tfds.core.GeneratorBasedBuilder):
    """Dates written as people write them, paired with ISO `yyyy-mm-dd`.

    Splits: `train`, and `test` whose human texts never occur in `train`.
    """

    BUILDER_CONFIGS = [
        HumanDatesConfig(name="default", num_train=45000, num_test=5000),
        HumanDatesConfig(name="tiny", num_train=200, num_test=50),
    ]

    def _info(self):
        return self.dataset_info_from_configs(
            description=self.__doc__,
            features=tfds.features.FeaturesDict(
                {"human": tfds.features.Text(), "iso": tfds.features.Text()}
            ),
            supervised_keys=("human", "iso"),
        )

    def _split_generators(self, dl_manager):
        config = self.builder_config
        train, test = dates.train_test_pairs(
            config.num_train, config.num_test, seed=config.seed
        )
        return {
            "train": self._generate_examples(train),
            "test": self._generate_examples(test),
        }

    def _generate_examples(self, pairs):
        for i, (human, iso) in enumerate(pairs):
            yield i, {"human": human, "iso": iso}
