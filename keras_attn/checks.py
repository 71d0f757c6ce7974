"""Argument checks shared across the package: one message for one mistake."""

import math


def check_positive_int(value, name, allow_none=False):
    """`value` if it is an int >= 1 (or None when allowed), else a
    ValueError that names the argument and what it received."""
    if value is None and allow_none:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        expected = "a positive integer" + (" or None" if allow_none else "")
        raise ValueError(f"`{name}` must be {expected}; received {value!r}.")
    return value


def check_strings(texts, name):
    """`texts` as a list of str, or a TypeError (a lone str is refused: it
    would be read as a list of characters)."""
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError(f"`{name}` must be a list of str; received {texts!r:.80}.")
    return list(texts)


def special_token_ids(tokenizer, tokens, name="tokenizer", needed_by="this step"):
    """`{token: id}` for `tokens`, or a ValueError naming the missing ones."""
    vocabulary = set(tokenizer.get_vocabulary())
    missing = [t for t in tokens if t not in vocabulary]
    if missing:
        raise ValueError(
            f"`{name}`'s vocabulary lacks {missing}; {needed_by} needs "
            f"{list(tokens)} (keras_attn.data.tokenizers.train_word_piece "
            "reserves them)."
        )
    return {t: int(tokenizer.token_to_id(t)) for t in tokens}


def check_number(value, name, low=None, high=None, low_open=False, high_open=False):
    """`value` as a float if it is a finite real number in the range, else a
    ValueError naming the argument (bools and NaN/inf are refused)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    dtype = getattr(value, "dtype", None)  # a NumPy scalar or 0-d array
    ok = ok or (dtype is not None and dtype.kind in "iuf" and value.ndim == 0)
    if ok:
        try:
            number = float(value)
        except (TypeError, ValueError):
            ok = False
    ok = ok and math.isfinite(number)
    if ok and low is not None:
        ok = number > low if low_open else number >= low
    if ok and high is not None:
        ok = number < high if high_open else number <= high
    if not ok:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low}, "
        hi = "" if high is None else f"{high}" + (")" if high_open else "]")
        where = f" in {lo or '(-inf, '}{hi or 'inf)'}"
        raise ValueError(
            f"`{name}` must be a finite number{where}; received {value!r}."
        )
    return number


def check_token_ids(ids, vocabulary_size, name="token_ids"):
    """`ids` as a NumPy int array, or an error: a TypeError for non-integer
    ids (floats would be truncated), a ValueError naming the first ids
    outside `[0, vocabulary_size)` (backends differ there: TensorFlow on CPU
    reads a row from the end of the table for a negative id, JAX gives NaN
    for an id past the end)."""
    import numpy as np

    array = np.asarray(ids)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise TypeError(
            f"`{name}` must hold integer token ids; received dtype {array.dtype}"
            f"{' (floats would be truncated)' if array.dtype.kind == 'f' else ''}."
        )
    bad = array[(array < 0) | (array >= vocabulary_size)] if array.size else array
    if bad.size:
        raise ValueError(
            f"`{name}` has ids outside [0, vocabulary_size={vocabulary_size}): "
            f"{sorted(set(bad.ravel().tolist()))[:5]}."
        )
    return array


def check_id_batch(ids, vocabulary_size, name="source"):
    """A non-empty `(batch, length)` batch of token ids as a NumPy int32
    array, or the error `check_token_ids` gives (a ValueError for another
    rank or an empty batch)."""
    import numpy as np

    array = check_token_ids(ids, vocabulary_size, name)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(
            f"`{name}` must be a non-empty (batch, length) batch of ids; "
            f"received shape {array.shape}."
        )
    return array.astype(np.int32)


# --- Command-line flags: defined where the command line can import them
# without importing Keras (`keras-attn --help` must not load TensorFlow).
from keras_attn_cli.flags import FlagParser  # noqa: E402, F401
from keras_attn_cli.flags import dropout_rate  # noqa: E402, F401
from keras_attn_cli.flags import non_negative_float  # noqa: E402, F401
from keras_attn_cli.flags import non_negative_int  # noqa: E402, F401
from keras_attn_cli.flags import positive_float  # noqa: E402, F401
from keras_attn_cli.flags import positive_int  # noqa: E402, F401
from keras_attn_cli.flags import probability  # noqa: E402, F401
