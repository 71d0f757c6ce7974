"""A small reader (and writer) of SWORD zText Bible modules, without libsword.

A zText module directory holds, for each testament `t` in (`ot`, `nt`):

- `t.bzs`: block index, 12-byte records `uint32 offset, uint32 compressed_size,
  uint32 uncompressed_size` (little-endian) into `t.bzz`;
- `t.bzz`: zlib-compressed blocks, one after another;
- `t.bzv`: verse index, 10-byte records `uint32 block, uint32 start, uint16 size`
  into the uncompressed block; size 0 is an empty slot.

Slots follow the module's versification: per testament, slot 0 and 1 are the
testament headings, then for each book a book-heading slot, and for each chapter a
chapter-heading slot followed by its verses. Two modules with the same
versification therefore align slot by slot.

Verse text carries OSIS markup. `clean_markup` drops `<note>` and `<title>`
elements (with everything inside them), strips the remaining tags, unescapes HTML
entities and collapses whitespace:

    >>> from keras_attn.data import sword
    >>> sword.clean_markup(
    ...     '<w lemma="strong:H7225">In the beginning</w><note>a <i>note</i></note>'
    ...     ' God &amp;  earth.'
    ... )
    'In the beginning God & earth.'

A round trip through `write_ztext` and `read_ztext`:

    >>> module = getfixture("tmp_path") / "mod"
    >>> sword.write_ztext(module, ["", "Uno.", "<title>T</title>"], ["Dos &lt;3"])
    >>> sword.read_ztext(module)
    ['', 'Uno.', '', 'Dos <3']
"""

import html
import os
import re
import struct
import zlib

TESTAMENTS = ("ot", "nt")

_BLOCK_RECORD = struct.Struct("<III")  # offset, compressed size, uncompressed size
_VERSE_RECORD = struct.Struct("<IIH")  # block, start, size

# Elements whose content is not verse text.
_DROPPED_ELEMENTS = frozenset({"note", "title"})
_TOKEN = re.compile(r"<[^>]*>|[^<]+")
_TAG_NAME = re.compile(r"</?\s*([A-Za-z_][\w:.-]*)")
_BOOK_MARKER = re.compile(r"<div\b[^>]*\btype=\"book\"[^>]*>")
_OSIS_ID = re.compile(r"\bosisID=\"([^\"]+)\"")
_START_ID = re.compile(r"\bsID=")
_END_ID = re.compile(r"\beID=")
_WHITESPACE = re.compile(r"\s+")
_GAP = "\x00"
_GAP_BETWEEN_WORDS = re.compile(r"(?<=\w)\x00+(?=\w)")


def clean_markup(text):
    """Verse text without markup: notes and titles dropped, tags stripped.

    Args:
        text: str, one verse slot with OSIS/ThML markup.

    Returns:
        str, the plain text with HTML entities unescaped, the pilcrow paragraph
        sign removed and whitespace collapsed to single spaces.
    """
    kept = []
    open_elements = []  # stack of element names currently open
    dropping = 0  # how many dropped elements are open on the stack
    for token in _TOKEN.findall(text):
        if not token.startswith("<"):
            if not dropping:
                kept.append(token)
            continue
        match = _TAG_NAME.match(token)
        if match is None or token.endswith("/>"):
            continue  # comment, declaration or self-closing milestone
        name = match.group(1).lower()
        if name in _DROPPED_ELEMENTS and not dropping:
            kept.append(_GAP)  # a dropped note may sit between two words
        if token.startswith("</"):
            if name not in open_elements:
                continue  # stray end tag
            while open_elements:  # close everything left open inside it
                closed = open_elements.pop()
                dropping -= closed in _DROPPED_ELEMENTS
                if closed == name:
                    break
        else:
            open_elements.append(name)
            dropping += name in _DROPPED_ELEMENTS
    # A dropped element separates two words it sat between ("God<note/>created"),
    # and nothing else ("heavens<note/>.").
    plain = _GAP_BETWEEN_WORDS.sub(" ", "".join(kept)).replace(_GAP, "")
    plain = html.unescape(plain).replace("\u00b6", " ")
    return _WHITESPACE.sub(" ", plain).strip()


def _read_index(path, record):
    if not os.path.exists(path):
        raise ValueError(f"Missing SWORD index file {path}.")
    with open(path, "rb") as f:
        data = f.read()
    if len(data) % record.size:
        raise ValueError(
            f"Truncated SWORD index file {path}: expected a multiple of "
            f"{record.size} bytes, received {len(data)} bytes."
        )
    return [record.unpack_from(data, i) for i in range(0, len(data), record.size)]


def read_raw_testament(module_dir, testament):
    """Every verse slot of one testament, with its markup.

    Args:
        module_dir: str or path, the zText module directory.
        testament: `"ot"` or `"nt"`.

    Returns:
        list of str, one per slot ("" for empty slots).

    Raises:
        ValueError: naming the file, when an index or data file is missing,
            truncated or points outside the data.
    """
    if testament not in TESTAMENTS:
        raise ValueError(
            f"testament must be one of {TESTAMENTS}; received {testament!r}."
        )
    base = os.path.join(os.fspath(module_dir), testament)
    blocks = _read_index(base + ".bzs", _BLOCK_RECORD)
    verses = _read_index(base + ".bzv", _VERSE_RECORD)
    if not os.path.exists(base + ".bzz"):
        raise ValueError(f"Missing SWORD data file {base}.bzz.")
    with open(base + ".bzz", "rb") as f:
        compressed = f.read()

    cache = {}

    def block(number):
        if number not in cache:
            if number >= len(blocks):
                raise ValueError(
                    f"{base}.bzv points to block {number}, but {base}.bzs holds "
                    f"only {len(blocks)} blocks."
                )
            offset, size, _ = blocks[number]
            if offset + size > len(compressed):
                raise ValueError(
                    f"Truncated SWORD data file {base}.bzz: block {number} ends at "
                    f"byte {offset + size}, the file has {len(compressed)} bytes."
                )
            try:
                cache[number] = zlib.decompress(compressed[offset : offset + size])
            except zlib.error as error:
                raise ValueError(
                    f"Corrupt block {number} in {base}.bzz: {error}."
                ) from error
        return cache[number]

    slots = []
    for number, start, size in verses:
        if size == 0:
            slots.append("")
            continue
        data = block(number)
        if start + size > len(data):
            raise ValueError(
                f"{base}.bzv points past the end of block {number} "
                f"(bytes {start}..{start + size} of {len(data)})."
            )
        slots.append(data[start : start + size].decode("utf-8", errors="replace"))
    return slots


def read_ztext(module_dir, clean=True):
    """Every verse slot of a zText module, Old Testament then New Testament.

    Args:
        module_dir: str or path, the module directory (holding `ot.bzs`, ...).
        clean: bool, whether to apply `clean_markup` to each slot.

    Returns:
        list of str, one per slot in canonical order; "" for empty slots and for
        heading slots whose only content is markup.

    Raises:
        ValueError: naming the file, for missing or truncated index/data files.
    """
    slots = []
    for testament in TESTAMENTS:
        slots.extend(read_raw_testament(module_dir, testament))
    return [clean_markup(s) for s in slots] if clean else slots


def read_ztext_books(module_dir):
    """The module's books as `(osis_id, verses)`, verses cleaned and non-empty.

    A book runs from its OSIS start milestone `<div type="book" sID=...>` to its
    end milestone `<div type="book" eID=...>`; front matter, glossaries and
    anything else outside the books is dropped.

    Args:
        module_dir: str or path, the module directory.

    Returns:
        list of `(str, list of str)`.
    """
    books = []
    inside = False
    for raw in read_ztext(module_dir, clean=False):
        position = 0
        for marker in _BOOK_MARKER.finditer(raw):
            if inside:
                books[-1][1].append(raw[position : marker.start()])
            osis_id = _OSIS_ID.search(marker.group())
            if _START_ID.search(marker.group()):
                books.append((osis_id.group(1) if osis_id else "", []))
                inside = True
            elif _END_ID.search(marker.group()):
                inside = False
            position = marker.end()
        if inside:
            books[-1][1].append(raw[position:])
    return [
        (name, [text for text in map(clean_markup, raws) if text])
        for name, raws in books
    ]


def write_ztext(module_dir, ot_slots, nt_slots, slots_per_block=64):
    """Writes a zText module (used for synthetic caches and tests).

    Args:
        module_dir: str or path, created if missing.
        ot_slots: list of str, Old Testament slots ("" for an empty slot).
        nt_slots: list of str, New Testament slots.
        slots_per_block: int, how many slots share one zlib block.
    """
    os.makedirs(module_dir, exist_ok=True)
    for testament, slots in zip(TESTAMENTS, (ot_slots, nt_slots)):
        base = os.path.join(os.fspath(module_dir), testament)
        bzs, bzv, bzz = bytearray(), bytearray(), bytearray()
        for first in range(0, len(slots), slots_per_block):
            number = first // slots_per_block
            raw = bytearray()
            for text in slots[first : first + slots_per_block]:
                encoded = text.encode("utf-8")
                start = len(raw) if encoded else 0
                bzv += _VERSE_RECORD.pack(number, start, len(encoded))
                raw += encoded
            compressed = zlib.compress(bytes(raw))
            bzs += _BLOCK_RECORD.pack(len(bzz), len(compressed), len(raw))
            bzz += compressed
        for suffix, data in ((".bzs", bzs), (".bzv", bzv), (".bzz", bzz)):
            with open(base + suffix, "wb") as f:
                f.write(data)
