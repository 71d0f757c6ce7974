"""Argument checks shared across the package: one message for one mistake."""


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
