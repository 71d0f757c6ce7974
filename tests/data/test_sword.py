import struct
import zlib

import pytest

from keras_attn.data import sword


def write_by_hand(module, ot_entries, nt_entries):
    """An independent zText writer: one block per testament, built with struct."""
    module.mkdir(parents=True, exist_ok=True)
    for testament, entries in (("ot", ot_entries), ("nt", nt_entries)):
        raw, verses = b"", b""
        for text in entries:
            data = text.encode()
            verses += struct.pack("<IIH", 0, len(raw) if data else 0, len(data))
            raw += data
        block = zlib.compress(raw)
        (module / f"{testament}.bzz").write_bytes(b"\x00" * 3 + block)
        (module / f"{testament}.bzs").write_bytes(
            struct.pack("<III", 3, len(block), len(raw))
        )
        (module / f"{testament}.bzv").write_bytes(verses)


def test_reads_slots_in_canonical_order_with_empty_slots(tmp_path):
    write_by_hand(tmp_path, ["", "<milestone/>", "First.", "Second."], ["", "Third."])
    assert sword.read_ztext(tmp_path) == ["", "", "First.", "Second.", "", "Third."]
    raw = sword.read_ztext(tmp_path, clean=False)
    assert raw[1] == "<milestone/>"


def test_write_then_read_many_blocks(tmp_path):
    ot = [f"verse {i} ñ" if i % 5 else "" for i in range(200)]
    nt = [f"nt {i}" for i in range(70)]
    sword.write_ztext(tmp_path, ot, nt, slots_per_block=16)
    assert (tmp_path / "ot.bzs").stat().st_size == 12 * 13  # ceil(200 / 16) blocks
    assert sword.read_ztext(tmp_path) == ot + nt


@pytest.mark.parametrize(
    "markup, expected",
    [
        ('<w lemma="strong:H1">In</w> <w>the</w> beginning', "In the beginning"),
        ("God<note>a <i>nested <b>deep</b></i> note</note>created", "God created"),
        ("heavens<note>x</note>.", "heavens."),
        ("<title>Psalm <i>1</i></title>Blessed   is\n the man", "Blessed is the man"),
        ("<note>outer <note>inner</note> still dropped</note>kept", "kept"),
        ("Tom &amp; Jerry &lt;3 &quot;hi&quot; &#233;", 'Tom & Jerry <3 "hi" é'),
        ("¶ And God said", "And God said"),
        ('<q marker="“"/>Hola</q>, <divineName>Lord</divineName>', "Hola, Lord"),
        ("", ""),
    ],
)
def test_clean_markup(markup, expected):
    assert sword.clean_markup(markup) == expected


def test_books_split_on_osis_book_milestones(tmp_path):
    ot = [
        "",
        '<div type="front" sID="f"/>Preface text.<div type="front" eID="f"/>'
        '<div canonical="true" osisID="Gen" sID="g1" type="book"/>'
        "<title>Genesis</title>",
        "In the beginning.",
        'The end.<div eID="g1" osisID="Gen" type="book"/>Glossary junk.',
    ]
    nt = ["", '<div osisID="Matt" sID="m" type="book"/>', "", "Matthew one."]
    sword.write_ztext(tmp_path, ot, nt)
    assert sword.read_ztext_books(tmp_path) == [
        ("Gen", ["In the beginning.", "The end."]),
        ("Matt", ["Matthew one."]),
    ]


def test_missing_index_names_the_file(tmp_path):
    sword.write_ztext(tmp_path, ["a"], ["b"])
    (tmp_path / "nt.bzv").unlink()
    with pytest.raises(ValueError, match=r"Missing SWORD index file .*nt\.bzv"):
        sword.read_ztext(tmp_path)


@pytest.mark.parametrize("suffix, size", [(".bzv", 15), (".bzs", 7)])
def test_truncated_index_names_the_file(tmp_path, suffix, size):
    sword.write_ztext(tmp_path, ["a", "b"], ["c"])
    path = tmp_path / f"ot{suffix}"
    path.write_bytes(path.read_bytes()[:size])
    with pytest.raises(ValueError, match=rf"Truncated .*ot\{suffix}.*received {size}"):
        sword.read_ztext(tmp_path)


def test_truncated_data_and_bad_pointers(tmp_path):
    sword.write_ztext(tmp_path, ["alpha", "beta"], ["gamma"])
    bzz = tmp_path / "ot.bzz"
    bzz.write_bytes(bzz.read_bytes()[:-4])
    with pytest.raises(ValueError, match=r"Truncated SWORD data file .*ot\.bzz"):
        sword.read_ztext(tmp_path)
    sword.write_ztext(tmp_path, ["alpha", "beta"], ["gamma"])
    (tmp_path / "nt.bzv").write_bytes(struct.pack("<IIH", 5, 0, 3))
    with pytest.raises(ValueError, match=r"block 5.*holds only 1 blocks"):
        sword.read_ztext(tmp_path)
    (tmp_path / "nt.bzv").write_bytes(struct.pack("<IIH", 0, 2, 50))
    with pytest.raises(ValueError, match=r"past the end of block 0"):
        sword.read_ztext(tmp_path)


def test_bad_testament_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="received 'apocrypha'"):
        sword.read_raw_testament(tmp_path, "apocrypha")
