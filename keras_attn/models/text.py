"""Strings in and out of the task models: what their `tokenizer` does.

A task built with a `tokenizer` (a keras-hub tokenizer: `train_byte_pair`,
`byte_tokenizer`, `train_word_piece`, a checkpoint's) keeps it as a layer,
so `model.save("m.keras")` stores its vocabulary with the weights and
`keras.saving.load_model` gives back a model that takes and returns text.
"""

import re

import keras_hub
import numpy as np


def is_text(x):
    """Whether `x` is a str or a non-empty list/tuple of str."""
    if isinstance(x, str):
        return True
    return (
        isinstance(x, (list, tuple))
        and len(x) > 0
        and all(isinstance(item, str) for item in x)
    )


def require_tokenizer(model, what):
    """The model's tokenizer, or a ValueError saying how to attach one."""
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise ValueError(
            f"{type(model).__name__} received {what} as text but has no "
            "tokenizer: build it with one, "
            f"`{type(model).__name__}(..., tokenizer=tokenizer)`, or pass "
            "token ids."
        )
    return tokenizer


def tokenize(tokenizer, texts):
    """Each text's token ids, as a list of lists of int."""
    return [
        np.asarray(tokenizer.tokenize(text)).astype("int64").ravel().tolist()
        for text in texts
    ]


def detokenize(tokenizer, ids):
    """The text of a list of ids (padding 0s must already be dropped).

    A WordPiece tokenizer's detokenizing puts spaces around punctuation
    (`LORD ' s .`); they are taken out again (`LORD's.`).
    """
    text = tokenizer.detokenize([int(i) for i in ids])
    if hasattr(text, "numpy"):
        text = text.numpy()
    if isinstance(text, np.ndarray):
        text = text.item()
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = str(text)
    if isinstance(tokenizer, keras_hub.tokenizers.WordPieceTokenizer):
        text = tidy_word_pieces(text)
    return text


def tidy_word_pieces(text):
    """WordPiece detokenizing leaves spaces around punctuation: drop them."""
    text = re.sub(r" ([.,;:!?)])", r"\1", text)
    text = re.sub(r" ?' ?", "'", text)  # LORD ' s -> LORD's
    return re.sub(r"\( ", "(", text)


def new_pieces(wholes, shown, produced):
    """What each row's streamed text adds at one step.

    Args:
        wholes: each row's whole new text so far (bytes that are not valid
            UTF-8 yet decoded as U+FFFD).
        shown: the text already yielded for each row.
        produced: whether each row made a token at this step; a row that
            did not (still in its prompt, or stopped) flushes what it held.

    Returns:
        `(pieces, shown)`: the new text of each row, and what has been
        yielded after it. A row that made a token holds back a trailing
        U+FFFD (a character whose UTF-8 bytes are not all generated yet).

    Example:

    >>> new_pieces(["h\\ufffd", ""], ["", ""], [True, False])
    (['h', ''], ['h', ''])
    """
    pieces, now = [], []
    for whole, before, made in zip(wholes, shown, produced):
        stable = whole.rstrip("\ufffd") if made else whole
        pieces.append(stable[len(before) :])
        now.append(stable)
    return pieces, now
