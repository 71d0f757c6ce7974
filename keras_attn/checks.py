"""Argument checks shared across the package: one message for one mistake."""

import math
import numbers


def _is_int(value):
    """A Python int, not a bool. NumPy integers are refused, as Keras's own
    layers refuse them for sizes (`Dense(np.int64(2))`)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _hint(value):
    """What to do about a NumPy integer."""
    numpy = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    return " (a NumPy integer: pass int(...))" if numpy and not _is_int(value) else ""


def check_positive_int(value, name, allow_none=False):
    """`value` if it is a Python int >= 1 (or None when allowed), else a
    ValueError that names the argument and what it received."""
    if value is None and allow_none:
        return value
    if not _is_int(value) or value < 1:
        expected = "a positive integer" + (" or None" if allow_none else "")
        raise ValueError(
            f"`{name}` must be {expected}; received {value!r}{_hint(value)}."
        )
    return value


def check_sizes(**sizes):
    """`check_positive_int` on each `name=value`."""
    for name, value in sizes.items():
        check_positive_int(value, name)


def describe(value):
    """What an error message says it received: a tensor by its dtype and
    shape (a JAX tracer or a symbolic tensor is no clue to a user), anything
    else by its type."""
    import keras

    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        try:
            dtype = keras.backend.standardize_dtype(dtype)
        except ValueError:
            pass
        kind = "array" if type(value).__module__ == "numpy" else "tensor"
        return f"a {kind} of dtype {dtype} and shape {tuple(shape)}"
    return f"a {type(value).__name__}"


def check_count(value, name):
    """`value` if it is a Python int >= 0, else a ValueError naming the
    argument."""
    if not _is_int(value) or value < 0:
        raise ValueError(
            f"`{name}` must be a non-negative integer; received {value!r}"
            f"{_hint(value)}."
        )
    return value


def check_block_sizes(num_heads, hidden_dim, **sizes):
    """Check a Transformer's sizes: each a positive int, and `hidden_dim`
    divisible by `num_heads` (each head gets `hidden_dim // num_heads`)."""
    check_sizes(num_heads=num_heads, hidden_dim=hidden_dim, **sizes)
    if hidden_dim % num_heads:
        raise ValueError(
            "`hidden_dim` must be divisible by `num_heads`; received "
            f"hidden_dim={hidden_dim} and num_heads={num_heads}."
        )


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


def check_token_ids(ids, vocabulary_size, name="token_ids", owner=None):
    """`ids` as a NumPy int array, or an error: a TypeError for non-integer
    ids (floats would be truncated), a ValueError naming the first ids
    outside `[0, vocabulary_size)` (backends differ there: TensorFlow on CPU
    reads a row from the end of the table for a negative id, JAX gives NaN
    for an id past the end). `owner`, if given, names the model in the
    message."""
    import numpy as np

    where = "" if owner is None else f"{owner}: "

    array = np.asarray(ids)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise TypeError(
            f"{where}`{name}` must hold integer token ids; received dtype {array.dtype}"
            f"{' (floats would be truncated)' if array.dtype.kind == 'f' else ''}."
        )
    bad = array[(array < 0) | (array >= vocabulary_size)] if array.size else array
    if bad.size:
        raise ValueError(
            f"{where}`{name}` has ids outside [0, vocabulary_size={vocabulary_size}): "
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
