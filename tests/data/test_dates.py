import datetime
import re

import numpy as np
import pytest

from keras_attn.data import dates

# Formats as strptime spells them; two-digit years are checked separately
# because strptime's century pivot (69) differs from the dataset's (50).
STRPTIME = [
    "%B %d, %Y",
    "%A, %B %d, %Y",
    "%b %d, %Y",
    "%A, %b %d, %Y",
    "%d %B %Y",
    "%d %b %Y",
    "%m/%d/%Y",
]


def parse(human):
    """An independent reading of a human date (not the generator's code)."""
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{2})", human)
    if m:
        month, day, yy = map(int, m.groups())
        return datetime.date(1900 + yy if yy >= 50 else 2000 + yy, month, day)
    for fmt in STRPTIME:
        try:
            return datetime.datetime.strptime(human, fmt).date()
        except ValueError:
            pass
    raise AssertionError(f"unparseable: {human!r}")


def test_every_pair_is_correct():
    for human, iso in dates.generate_pairs(3000, seed=3):
        assert parse(human).isoformat() == iso, human


def test_weekday_agrees_with_the_date():
    for human, iso in dates.generate_pairs(2000, seed=4):
        if "," in human and human.split(",")[0].isalpha():
            weekday = datetime.date.fromisoformat(iso).strftime("%A")
            assert human.split(",")[0].lower() == weekday.lower()


def test_covers_the_styles_people_write():
    humans = [h for h, _ in dates.generate_pairs(3000, seed=5)]
    patterns = {
        "lower month": r"[a-z]+ \d{1,2}, \d{4}",
        "UPPER with weekday": r"[A-Z]+, [A-Z]+ \d{1,2}, \d{4}",
        "Title abbreviated": r"[A-Z][a-z]{2} \d{1,2}, \d{4}",
        "m/d/yy": r"\d{1,2}/\d{1,2}/\d{2}",
        "m/d/yyyy": r"\d{1,2}/\d{1,2}/\d{4}",
    }
    for name, pattern in patterns.items():
        assert any(re.fullmatch(pattern, h) for h in humans), name
    assert max(len(h) for h in humans) <= dates.SOURCE_LENGTH


def test_deterministic_and_held_out():
    assert dates.generate_pairs(50, seed=7) == dates.generate_pairs(50, seed=7)
    assert dates.generate_pairs(50, seed=7) != dates.generate_pairs(50, seed=8)
    train, test = dates.train_test_pairs(2000, 500, seed=0)
    assert not {h for h, _ in train} & {h for h, _ in test}
    assert len(test) == 500


def test_encode_decode_round_trip():
    texts = ["Sep 30, 1981", "10/31/90"]
    ids = dates.encode(texts)
    assert ids.shape == (2, dates.SOURCE_LENGTH) and ids.dtype == np.int32
    assert dates.decode(ids) == texts
    assert dates.encode(["é"])[0, 0] == dates.UNK_ID


def test_arrays_shift_the_target_for_teacher_forcing():
    inputs, target_out = dates.arrays([("Sep 30, 1981", "1981-09-30")])
    assert inputs["target_in"][0, 0] == dates.START_ID
    np.testing.assert_array_equal(inputs["target_in"][0, 1:], target_out[0, :-1])
    assert target_out[0, -1] == dates.END_ID
    assert dates.decode(target_out) == ["1981-09-30"]


@pytest.mark.parametrize(
    "texts, error, message",
    [
        ([], ValueError, "at least one"),
        ([""], ValueError, "empty string"),
        (["   "], ValueError, "empty string"),
        ([19810930], TypeError, "int"),
        ([None], TypeError, "NoneType"),
        (["x" * 40], ValueError, "at most 32 characters; received 40"),
    ],
)
def test_bad_input_is_rejected(texts, error, message):
    with pytest.raises(error, match=message):
        dates.check_texts(texts)


def test_dataset_batches():
    ds = dates.make_dataset(dates.generate_pairs(10), batch_size=4)
    inputs, target = next(iter(ds))
    assert tuple(inputs["source"].shape) == (4, dates.SOURCE_LENGTH)
    assert tuple(inputs["target_in"].shape) == (4, dates.TARGET_LENGTH)
    assert tuple(target.shape) == (4, dates.TARGET_LENGTH)


def test_tfds_builder_matches_generator(tmp_path):
    import tensorflow_datasets as tfds

    from keras_attn.data.date_tfds import HumanDates

    builder = HumanDates(config="tiny", data_dir=str(tmp_path))
    builder.download_and_prepare()
    test = tfds.as_numpy(builder.as_dataset(split="test"))
    got = sorted((x["human"].decode(), x["iso"].decode()) for x in test)
    _, expected = dates.train_test_pairs(200, 50, seed=0)
    assert got == sorted(expected)
