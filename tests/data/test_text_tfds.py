import pytest
import tensorflow_datasets as tfds

from keras_attn.data import corpora
from keras_attn.data import synthetic_corpus
from keras_attn.data import text_tfds


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    return synthetic_corpus.make_tiny_cache(tmp_path_factory.mktemp("cache"))


def prepare(builder_class, tmp_path, cache, **kwargs):
    builder = builder_class(cache_dir=cache, data_dir=str(tmp_path), **kwargs)
    builder.download_and_prepare()
    return builder


def read(builder, split):
    return list(tfds.as_numpy(builder.as_dataset(split=split)))


def test_verse_pairs_builder_matches_the_loader(tmp_path, tiny_cache):
    builder = prepare(text_tfds.VersePairs, tmp_path, tiny_cache, config="tiny")
    features = builder.info.features
    assert isinstance(features["es"], tfds.features.Text)
    assert isinstance(features["en"], tfds.features.Text)
    expected = corpora.split_verse_pairs(
        corpora.load_verse_pairs(tiny_cache), num_test=20, num_validation=20
    )
    for split, pairs in expected.items():
        assert builder.info.splits[split].num_examples == len(pairs)
        got = sorted((x["es"].decode(), x["en"].decode()) for x in read(builder, split))
        assert got == sorted(pairs)


def test_fortunes_builder_has_class_labels(tmp_path, tiny_cache):
    builder = prepare(text_tfds.Fortunes, tmp_path, tiny_cache)
    label = builder.info.features["label"]
    assert isinstance(label, tfds.features.ClassLabel)
    assert label.names == ["food", "science", "work"]
    sizes = {s: builder.info.splits[s].num_examples for s in builder.info.splits}
    # 55, 70 and 60 entries: 10% of each (rounded) in validation and in test.
    assert sizes == {"train": 185 - 2 * 19, "validation": 19, "test": 19}
    for example in read(builder, "test"):
        text = example["text"].decode().lower()
        assert text.startswith(label.names[example["label"]])


@pytest.mark.parametrize("config, count", [("shakespeare", 3), ("web", 3)])
def test_prose_builder_gives_one_example_per_document(
    tmp_path, tiny_cache, config, count
):
    builder = prepare(text_tfds.Prose, tmp_path, tiny_cache, config=config)
    texts = [x["text"].decode() for x in read(builder, "train")]
    assert sorted(texts) == sorted(corpora.load_prose(config, tiny_cache))
    assert len(texts) == count


def test_builders_say_how_to_fetch_a_missing_cache(tmp_path):
    with pytest.raises(corpora.MissingDataError, match="run `make data`"):
        prepare(text_tfds.VersePairs, tmp_path, tmp_path / "empty", config="tiny")


def test_newsgroups_builder_matches_the_loader(tmp_path, tiny_cache):
    builder = prepare(text_tfds.Newsgroups, tmp_path, tiny_cache)
    label = builder.info.features["label"]
    assert label.names == sorted(synthetic_corpus._GROUP_WORDS)
    for split in ("train", "test"):
        texts, labels, _ = corpora.load_newsgroups(split, tiny_cache)
        got = sorted(
            (x["text"].decode(), int(x["label"])) for x in read(builder, split)
        )
        assert got == sorted(zip(texts, labels))
    assert builder.info.splits["train"].num_examples == 48
