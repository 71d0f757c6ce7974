"""Human-written dates paired with ISO `yyyy-mm-dd`, generated offline.

    >>> from keras_attn.data import dates
    >>> for human, iso in dates.generate_pairs(3, seed=1):
    ...     print(f"{human!r:34} -> {iso}")
    'Saturday, February 9, 1974'       -> 1974-02-09
    '2/27/1971'                        -> 1971-02-27
    '9/26/34'                          -> 2034-09-26

Everything is deterministic from a seed. Characters map to ids through one
vocabulary shared by source and target: id 0 pads, 1 is an unknown character,
2 starts and 3 ends a target.
"""

import datetime
import random
import string

import numpy as np

PAD, UNK, START, END = "", "[UNK]", "[START]", "[END]"
CHARACTERS = sorted(set(string.ascii_letters + string.digits + " ,./-"))
VOCABULARY = [PAD, UNK, START, END] + CHARACTERS
PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3
SOURCE_LENGTH = 32  # The longest format, "WEDNESDAY, SEPTEMBER 27, 1994", is 29.
TARGET_LENGTH = 11  # yyyy-mm-dd then [END].
FIRST_YEAR, LAST_YEAR = 1950, 2049  # Two-digit years: 50-99 -> 19xx, 00-49 -> 20xx.

_CHAR_TO_ID = {c: i for i, c in enumerate(VOCABULARY) if len(c) == 1}

FORMATS = (
    "{month} {day}, {year}",
    "{weekday}, {month} {day}, {year}",
    "{mon} {day}, {year}",
    "{weekday}, {mon} {day}, {year}",
    "{day} {month} {year}",
    "{day} {mon} {year}",
    "{m}/{day}/{yy}",
    "{m}/{day}/{year}",
    "{mm}/{dd}/{year}",
)
CASES = (str.lower, str.title, str.upper)


def format_date(date, fmt, case=str.title):
    """Write `date` as a person would, in format `fmt` and letter case `case`."""
    text = fmt.format(
        month=date.strftime("%B"),
        mon=date.strftime("%b"),
        weekday=date.strftime("%A"),
        day=date.day,
        dd=f"{date.day:02d}",
        m=date.month,
        mm=f"{date.month:02d}",
        year=date.year,
        yy=f"{date.year % 100:02d}",
    )
    return case(text)


def generate_pairs(n, seed=0, exclude=()):
    """`n` distinct `(human, iso)` pairs, none of whose human text is in `exclude`.

    Dates are uniform over 1950-2049, formats and cases uniform.
    """
    rng = random.Random(seed)
    first = datetime.date(FIRST_YEAR, 1, 1).toordinal()
    last = datetime.date(LAST_YEAR, 12, 31).toordinal()
    seen = set(exclude)
    pairs = []
    while len(pairs) < n:
        date = datetime.date.fromordinal(rng.randint(first, last))
        human = format_date(date, rng.choice(FORMATS), rng.choice(CASES))
        if human in seen:
            continue
        seen.add(human)
        pairs.append((human, date.isoformat()))
    return pairs


def train_test_pairs(num_train, num_test, seed=0):
    """Training pairs and held-out pairs whose texts never occur in training."""
    train = generate_pairs(num_train, seed)
    test = generate_pairs(num_test, seed + 1, exclude={h for h, _ in train})
    return train, test


def check_texts(texts, max_length=SOURCE_LENGTH):
    """Validate user input: a non-empty list of non-empty strings."""
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    if not texts:
        raise ValueError("Expected at least one date string; received none.")
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(
                f"Expected date strings; received {text!r} of type "
                f"{type(text).__name__}."
            )
        if not text.strip():
            raise ValueError(f"Expected a date; received the empty string {text!r}.")
        if len(text) > max_length:
            raise ValueError(
                f"Expected a date of at most {max_length} characters; received "
                f"{len(text)}: {text!r}."
            )
    return texts


def encode(texts, length=SOURCE_LENGTH):
    """Strings -> `(N, length)` int32 ids, padded with 0; unknown chars -> 1."""
    ids = np.zeros((len(texts), length), "int32")
    for row, text in enumerate(texts):
        codes = [_CHAR_TO_ID.get(c, UNK_ID) for c in text[:length]]
        ids[row, : len(codes)] = codes
    return ids


def decode(ids):
    """`(N, L)` ids -> strings, stopping at [END] and skipping padding."""
    texts = []
    for row in np.asarray(ids):
        chars = []
        for i in row:
            if i == END_ID:
                break
            if i > END_ID:
                chars.append(VOCABULARY[i])
        texts.append("".join(chars))
    return texts


def arrays(pairs):
    """Pairs -> model inputs `{"source", "target_in"}` and `target_out` ids.

    Teacher forcing: the decoder reads `[START] y1 .. yn` and predicts
    `y1 .. yn [END]`.
    """
    humans, isos = zip(*pairs)
    target = encode(isos, TARGET_LENGTH - 1)
    start = np.full((len(pairs), 1), START_ID, "int32")
    end = np.full((len(pairs), 1), END_ID, "int32")
    inputs = {
        "source": encode(humans),
        "target_in": np.concatenate([start, target], 1),
    }
    return inputs, np.concatenate([target, end], 1)


def make_dataset(pairs, batch_size=128, shuffle=False, seed=0):
    """A `tf.data.Dataset` of `(inputs, target_out)` batches for `model.fit`."""
    import tensorflow as tf

    inputs, targets = arrays(pairs)
    ds = tf.data.Dataset.from_tensor_slices((inputs, targets))
    if shuffle:
        ds = ds.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
