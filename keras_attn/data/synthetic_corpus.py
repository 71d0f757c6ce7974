"""A small synthetic stand-in for the corpus cache, in the real formats.

`make_tiny_cache(DIR)` writes templated verses, prose and fortunes (no
third-party text) and patterned images where `make data` would put the real
ones, with their completion markers, so the real readers of
`keras_attn.data.corpora` and `keras_attn.data.images` run on it. It is test
data: the suite and the recipes' `--tiny` smoke runs (which the installed
`keras-attn train ... --tiny` offers too) use it, which is why it ships in
the package rather than under `tests/`.
"""

import json
import os

import numpy as np

from keras_attn.data import sword
from keras_attn.data.corpus_fetch import FASHION_MNIST_BASELINES
from keras_attn.data.corpus_fetch import FASHION_MNIST_DIR
from keras_attn.data.corpus_fetch import FORTUNES_DIR
from keras_attn.data.corpus_fetch import MARKER
from keras_attn.data.corpus_fetch import NEWSGROUPS_DIR
from keras_attn.data.corpus_fetch import SHAKESPEARE_DIR
from keras_attn.data.corpus_fetch import SOURCES
from keras_attn.data.corpus_fetch import VERSE_MODULES
from keras_attn.data.corpus_fetch import WEB_MODULE
from keras_attn.data.corpus_fetch import ZTEXT_DIR
from keras_attn.data.images import write_idx

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


_GROUP_WORDS = {
    "rec.sport.tiny": "team game season player score win coach",
    "sci.space.tiny": "orbit launch moon rocket nasa shuttle planet",
    "comp.tiny": "disk driver windows card memory software file",
    "talk.tiny": "government law rights people gun state vote",
}


def _write_newsgroups(folder, rng):
    """Two Orange `.tab` files: each document mixes its group's words with
    shared filler, so a classifier has something to learn."""
    os.makedirs(folder, exist_ok=True)
    for split, per_group in (("train", 12), ("test", 6)):
        rows = ["Category\tText", "d\tstring", "class\t"]
        for _ in range(per_group):
            for group, words in _GROUP_WORDS.items():
                own, filler = words.split(), _PROSE_WORDS
                picked = [own[i] for i in rng.integers(len(own), size=6)]
                picked += [filler[i] for i in rng.integers(len(filler), size=10)]
                rows.append(group + "\t" + " ".join(rng.permutation(picked)))
        with open(os.path.join(folder, f"20newsgroups-{split}.tab"), "w") as f:
            f.write("\n".join(rows) + "\n")


def _write_fashion_mnist(folder, rng):
    """The four IDX files and a baselines.json of the real layout. Each class
    is a bright 6x5 block at its own place (two rows of five) over uniform
    noise, so a tiny classifier can learn it; the images are shuffled, as in
    the real files."""
    for prefix, per_class in (("train", 30), ("t10k", 10)):
        classes = np.arange(10, dtype=np.uint8)
        labels = rng.permutation(np.repeat(classes, per_class))
        images = rng.integers(0, 80, size=(len(labels), 28, 28), dtype=np.uint8)
        for image, label in zip(images, labels):
            top, left = 4 + 14 * int(label // 5), 1 + 5 * int(label % 5)
            image[top : top + 6, left : left + 5] = rng.integers(200, 256, (6, 5))
        path = os.path.join(folder, FASHION_MNIST_DIR, prefix)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_idx(f"{path}-images-idx3-ubyte.gz", images)
        write_idx(f"{path}-labels-idx1-ubyte.gz", labels)
    baselines = {
        "common": {},
        "classifiers": {
            "LogisticRegression": [{"C": [1.0, 10.0]}],
            "RandomForestClassifier": [{"n_estimators": [10, 50]}],
            "SVC": [{"C": [1.0, 10.0, 100.0]}, {"kernel": ["linear", "rbf"]}],
        },
    }
    path = os.path.join(folder, FASHION_MNIST_BASELINES)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(baselines, f, indent=2)


def make_tiny_cache(cache_dir, seed=0):
    """Writes a small synthetic cache in the real on-disk formats.

    Templated Spanish/English verse pairs in two zText modules (about 300
    aligned verses), a zText "web" module, three prose works in the
    Shakespeare package layout, four fortune topic files (one too small to
    be kept), a four-group stand-in for 20 Newsgroups in Orange's `.tab`
    format (48 train, 24 test documents) and a ten-class stand-in for
    Fashion-MNIST in its gzipped IDX files (28x28 uint8 images, one bright
    block per class over noise, 30 train and 10 test per class, and a
    three-classifier baselines.json), each source with its completion marker.
    No third-party text or images.

    Args:
        cache_dir: str or path, created if missing.
        seed: int, for the generated sentences and images.

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

    _write_newsgroups(os.path.join(root, "newsgroups", NEWSGROUPS_DIR), rng)
    _write_fashion_mnist(os.path.join(root, "fashion_mnist"), rng)

    for source in SOURCES:
        with open(os.path.join(root, source, MARKER), "w") as f:
            json.dump({"synthetic": True, "seed": seed}, f)
    return root
