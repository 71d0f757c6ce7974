"""The public-domain corpora as Python data: load, split, clean.

The loaders read the cache that `make data` fills (`keras_attn.data.
corpus_fetch`) and say "run `make data`" when it is missing. A small
synthetic cache in the same on-disk formats
(`keras_attn.data.synthetic_corpus.make_tiny_cache`) lets the tests and the
recipes' `--tiny` mode run these same readers without any network:

    >>> from keras_attn.data import corpora, synthetic_corpus
    >>> cache = synthetic_corpus.make_tiny_cache(getfixture("tmp_path"))
    >>> pairs = corpora.load_verse_pairs(cache)
    >>> len(pairs) > 100
    True
    >>> splits = corpora.split_verse_pairs(pairs, num_test=20, num_validation=20)
    >>> [len(splits[name]) for name in ("validation", "test")]
    [20, 20]
"""

import collections
import os
import re

import numpy as np

from keras_attn.data import sword
from keras_attn.data.corpus_fetch import FORTUNES_DIR
from keras_attn.data.corpus_fetch import NEWSGROUPS_DIR
from keras_attn.data.corpus_fetch import SHAKESPEARE_DIR
from keras_attn.data.corpus_fetch import SOURCES  # noqa: F401
from keras_attn.data.corpus_fetch import VERSE_MODULES
from keras_attn.data.corpus_fetch import WEB_MODULE
from keras_attn.data.corpus_fetch import ZTEXT_DIR
from keras_attn.data.corpus_fetch import MissingDataError  # noqa: F401
from keras_attn.data.corpus_fetch import fetch  # noqa: F401
from keras_attn.data.corpus_fetch import resolve_cache_dir  # noqa: F401
from keras_attn.data.corpus_fetch import source_dir

# ---------------------------------------------------------------------- loaders


def load_verse_pairs(cache_dir=None):
    """Spanish (Reina-Valera 1909) and English (King James) verses, aligned.

    Both modules use the KJV versification, so slot i of one is slot i of the
    other; slots where either side is empty (headings, verses one edition
    omits) are dropped.

    Args:
        cache_dir: str or path, the cache (default: see `resolve_cache_dir`).

    Returns:
        list of `(spanish, english)` str pairs in canonical order (31,084 with
        the real data).
    """
    root = os.path.join(source_dir("verses", cache_dir), ZTEXT_DIR)
    spanish = sword.read_ztext(os.path.join(root, VERSE_MODULES["es"]))
    english = sword.read_ztext(os.path.join(root, VERSE_MODULES["en"]))
    if len(spanish) != len(english):
        raise ValueError(
            "The verse modules do not share a versification: "
            f"{len(spanish)} Spanish slots, {len(english)} English slots."
        )
    return [(es, en) for es, en in zip(spanish, english) if es and en]


def _check_split_sizes(total, sizes):
    for name, size in sizes.items():
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"{name} must be a non-negative int; received {size!r}.")
    if sum(sizes.values()) >= total:
        raise ValueError(
            f"The held-out splits ({sizes}) must leave training examples; "
            f"received {total} examples."
        )


def split_verse_pairs(pairs, num_test=1000, num_validation=1000, seed=0):
    """Deterministic train/validation/test split of verse pairs.

    Pairs with the same Spanish text always land in the same split, so no
    source sentence of `test` or `validation` is seen in training. Each split
    keeps the corpus order.

    Args:
        pairs: list of `(spanish, english)`.
        num_test: int, at least this many test pairs (exact unless duplicates
            straddle the boundary).
        num_validation: int, likewise for validation.
        seed: int, the shuffling seed.

    Returns:
        dict with keys `"train"`, `"validation"`, `"test"`, lists of pairs.
    """
    _check_split_sizes(
        len(pairs), {"num_test": num_test, "num_validation": num_validation}
    )
    by_source = collections.defaultdict(list)
    for index, (source, _) in enumerate(pairs):
        by_source[source].append(index)
    keys = sorted(by_source)
    order = np.random.default_rng(seed).permutation(len(keys))
    assignment = {}
    counts = {"test": 0, "validation": 0}
    for position in order:
        key = keys[position]
        if counts["test"] < num_test:
            split = "test"
        elif counts["validation"] < num_validation:
            split = "validation"
        else:
            split = "train"
        if split != "train":
            counts[split] += len(by_source[key])
        for index in by_source[key]:
            assignment[index] = split
    splits = {"train": [], "validation": [], "test": []}
    for index, pair in enumerate(pairs):
        splits[assignment[index]].append(pair)
    return splits


_GUTENBERG_START = re.compile(r"^\*\*\*\s*START OF.*$", re.MULTILINE | re.IGNORECASE)
_GUTENBERG_END = re.compile(
    r"^(\*\*\*\s*END OF|End of (the )?Project Gutenberg).*$",
    re.MULTILINE | re.IGNORECASE,
)


def strip_gutenberg(text):
    """A Project Gutenberg text without its header and licence footer."""
    text = text.replace("\r\n", "\n")
    start = _GUTENBERG_START.search(text)
    if start:
        text = text[start.end() :]
    end = _GUTENBERG_END.search(text)
    if end:
        text = text[: end.start()]
    return text.strip()


def _shakespeare_files(cache_dir):
    root = os.path.join(source_dir("shakespeare", cache_dir), SHAKESPEARE_DIR)
    # `*_gut.txt` are the modern-spelling editions; `*_gut_f.txt` are First
    # Folio spellings of the same plays, left out to avoid duplicates.
    names = sorted(n for n in os.listdir(root) if n.endswith("_gut.txt"))
    return [os.path.join(root, n) for n in names]


def load_prose(name="shakespeare", cache_dir=None):
    """Long documents of English prose/verse, boilerplate stripped.

    Args:
        name: `"shakespeare"` (one document per work, 42 works, modern
            spelling) or `"web"` (World English Bible, one document per book
            with verses joined by spaces, 80 books incl. deuterocanon).
        cache_dir: str or path, the cache.

    Returns:
        list of str.
    """
    if name == "shakespeare":
        documents = []
        for path in _shakespeare_files(cache_dir):
            with open(path, encoding="utf-8", errors="replace") as f:
                documents.append(strip_gutenberg(f.read()))
        return documents
    if name == "web":
        module = os.path.join(source_dir("web", cache_dir), ZTEXT_DIR, WEB_MODULE)
        return [" ".join(verses) for _, verses in sword.read_ztext_books(module)]
    raise ValueError(f"name must be 'shakespeare' or 'web'; received {name!r}.")


_SENTENCE_END = re.compile(
    r"(?:(?<=[.!?])|(?<=[.!?][\"'\u201d\u2019)\]]))\s+(?=[\"'\u201c\u2018(\[]*[A-Z])"
)
_BLANK_LINES = re.compile(r"\n\s*\n")


def split_sentences(text):
    """Sentences of a paragraph: a break after `.`, `!` or `?` (and closing
    quotes) that is followed by whitespace and a capital letter. Heuristic:
    abbreviations such as "Mr. Smith" are split too."""
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        return []
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


# Most words in a pseudo-sentence of a 20 Newsgroups document (its text has
# no punctuation left): two of them and the special tokens fit in 128 pieces.
NEWSGROUPS_SEGMENT_WORDS = 40


def word_runs(text, max_words=NEWSGROUPS_SEGMENT_WORDS):
    """`text` cut into at least two runs of consecutive words, as even as
    possible, of at most `max_words` words each.

    >>> word_runs("a b c d e", max_words=2)
    ['a b', 'c', 'd e']
    >>> word_runs("a b c d e")
    ['a b', 'c d e']
    """
    words = text.split()
    count = max(2, -(-len(words) // max_words))
    bounds = [round(i * len(words) / count) for i in range(count + 1)]
    return [" ".join(words[a:b]) for a, b in zip(bounds, bounds[1:])]


def load_sentences_by_document(name="shakespeare", cache_dir=None, min_words=3):
    """Documents as lists of sentences, for next-sentence-prediction pairs.

    Each document (see `load_prose`) is cut into paragraphs at blank lines
    (Shakespeare) or taken whole (the Bible books), and each paragraph into
    sentences with `split_sentences`. Sentences shorter than `min_words` words
    (speaker names such as "Ham.", stage directions like "[Exit.]") are
    dropped; consecutive kept sentences are treated as consecutive.

    `"newsgroups"` takes the documents of the 20 Newsgroups *training* split
    (never the test split; labels unused). Their text has no punctuation
    left (see `load_newsgroups`), so its "sentences" are `word_runs`:
    consecutive runs of at most `NEWSGROUPS_SEGMENT_WORDS` words.

    Args:
        name: `"shakespeare"`, `"web"` or `"newsgroups"`.
        cache_dir: str or path, the cache.
        min_words: int, shortest sentence kept.

    Returns:
        list of documents, each a list of str with at least two sentences.
    """
    if name == "newsgroups":
        paragraphs = [word_runs(t) for t in load_newsgroups("train", cache_dir)[0]]
    else:
        paragraphs = [
            [s for p in _BLANK_LINES.split(text) for s in split_sentences(p)]
            for text in load_prose(name, cache_dir)
        ]
    documents = []
    for sentences in paragraphs:
        sentences = [s for s in sentences if len(s.split()) >= min_words]
        if len(sentences) >= 2:
            documents.append(sentences)
    return documents


_OVERSTRIKE = re.compile(".\x08")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def parse_fortune_file(text):
    """Entries of one fortune file: blocks separated by lines holding `%`.

    Overstrike sequences (`x\\b`) and other control characters are removed and
    surrounding blank lines stripped; empty entries are dropped.
    """
    entries = []
    block = []
    for line in text.replace("\r\n", "\n").split("\n") + ["%"]:
        if line.strip() == "%":
            entry = _CONTROL.sub("", _OVERSTRIKE.sub("", "\n".join(block))).strip()
            if entry:
                entries.append(entry)
            block = []
        else:
            block.append(line.rstrip())
    return entries


def load_fortunes(cache_dir=None, min_entries=50, max_chars=400):
    """Fortune cookies labelled by their topic file.

    Every regular file in the fortunes folder is a topic, except the `*.dat`
    index files, the `*.u8` links and anything under `off/` (the offensive
    sets, which this package does not install anyway). Entries longer than
    `max_chars` characters (long poems, ASCII art) are dropped, as are entries
    found in more than one topic (their label is ambiguous); then topics with
    fewer than `min_entries` entries left are dropped. With the real data and
    the defaults this keeps 32 of 43 topics (12,717 entries).

    Args:
        cache_dir: str or path, the cache.
        min_entries: int, the smallest topic kept.
        max_chars: int, the longest entry kept.

    Returns:
        `(texts, labels, label_names)`: list of str, list of int indexes into
        `label_names`, sorted list of topic names.
    """
    root = os.path.join(source_dir("fortunes", cache_dir), FORTUNES_DIR)
    topics = {}
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if (
            name.endswith((".dat", ".u8"))
            or name.startswith(".")
            or os.path.islink(path)
            or not os.path.isfile(path)
        ):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            entries = parse_fortune_file(f.read())
        topics[name] = [e for e in entries if len(e) <= max_chars]
    seen = collections.Counter(e for entries in topics.values() for e in set(entries))
    topics = {
        name: [e for e in entries if seen[e] == 1] for name, entries in topics.items()
    }
    label_names = sorted(
        n for n, entries in topics.items() if len(entries) >= min_entries
    )
    texts, labels = [], []
    for label, name in enumerate(label_names):
        texts.extend(topics[name])
        labels.extend([label] * len(topics[name]))
    return texts, labels, label_names


def split_fortunes(texts, labels, validation_fraction=0.1, test_fraction=0.1, seed=0):
    """Deterministic stratified train/validation/test split.

    Within each label the entries are shuffled with `seed`, then
    `round(n * test_fraction)` go to test and `round(n * validation_fraction)`
    to validation (at least one each when the label has three or more).

    Returns:
        dict split name -> `(texts, labels)`, each split in the input order.
    """
    if len(texts) != len(labels):
        raise ValueError(
            f"texts and labels must have the same length; received {len(texts)} "
            f"and {len(labels)}."
        )
    for name, value in (
        ("validation_fraction", validation_fraction),
        ("test_fraction", test_fraction),
    ):
        if not 0 <= value < 1:
            raise ValueError(f"{name} must be in [0, 1); received {value!r}.")
    if validation_fraction + test_fraction >= 1:
        raise ValueError(
            "validation_fraction + test_fraction must be below 1; received "
            f"{validation_fraction + test_fraction}."
        )
    rng = np.random.default_rng(seed)
    by_label = collections.defaultdict(list)
    for index, label in enumerate(labels):
        by_label[label].append(index)
    assignment = {}
    for label in sorted(by_label):
        indexes = [by_label[label][i] for i in rng.permutation(len(by_label[label]))]
        n = len(indexes)
        num_test = max(round(n * test_fraction), int(n >= 3 and test_fraction > 0))
        num_val = max(
            round(n * validation_fraction), int(n >= 3 and validation_fraction > 0)
        )
        for i, index in enumerate(indexes):
            assignment[index] = (
                "test"
                if i < num_test
                else "validation"
                if i < num_test + num_val
                else "train"
            )
    splits = {name: ([], []) for name in ("train", "validation", "test")}
    for index, (text, label) in enumerate(zip(texts, labels)):
        splits[assignment[index]][0].append(text)
        splits[assignment[index]][1].append(label)
    return splits


NEWSGROUPS_SPLITS = ("train", "test")


def read_orange_tab(path, columns):
    """Rows of an Orange `.tab` file as tuples of the named `columns`.

    The format: a line of column names, a line of types, a line of flags,
    then one tab-separated row per example.
    """
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    names = lines[0].split("\t")
    missing = [c for c in columns if c not in names]
    if missing:
        raise ValueError(f"{path} has the columns {names}; expected {list(columns)}.")
    indexes = [names.index(c) for c in columns]
    rows = []
    for number, line in enumerate(lines[3:], 4):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != len(names):
            raise ValueError(
                f"{path}:{number}: expected {len(names)} tab-separated fields; "
                f"received {len(fields)}."
            )
        rows.append(tuple(fields[i] for i in indexes))
    return rows


def load_newsgroups(split="train", cache_dir=None):
    """20 Newsgroups, the usual by-date split, as Orange's text add-on ships it.

    The text is already normalised by the source: lower-cased, punctuation
    and digits removed, headers kept as words (11,293 train and 7,528 test
    documents). Labels index the 20 newsgroup names in sorted order, the same
    for both splits.

    Args:
        split: `"train"` or `"test"`.
        cache_dir: str or path, the cache.

    Returns:
        `(texts, labels, label_names)`: list of str, list of int indexes into
        `label_names`, sorted list of newsgroup names.
    """
    if split not in NEWSGROUPS_SPLITS:
        raise ValueError(
            f"split must be one of {NEWSGROUPS_SPLITS}; received {split!r}."
        )
    root = os.path.join(source_dir("newsgroups", cache_dir), NEWSGROUPS_DIR)
    rows = {
        name: read_orange_tab(
            os.path.join(root, f"20newsgroups-{name}.tab"), ("Category", "Text")
        )
        for name in NEWSGROUPS_SPLITS
    }
    label_names = sorted({group for group, _ in rows["train"]})
    unknown = sorted({group for group, _ in rows["test"]} - set(label_names))
    if unknown:
        raise ValueError(f"The test split has groups {unknown} that train lacks.")
    index = {name: i for i, name in enumerate(label_names)}
    texts = [text for _, text in rows[split]]
    labels = [index[group] for group, _ in rows[split]]
    return texts, labels, label_names
