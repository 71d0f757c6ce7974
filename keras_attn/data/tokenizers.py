"""Tokenizers built on keras-hub: trained WordPiece, trained byte-level BPE, bytes.

Three tokenizers cover the models in this package:

- `train_word_piece`: `WordPieceTokenizer`; `[PAD]` 0, `[UNK]` 1, `[CLS]` 2,
  `[SEP]` 3, `[MASK]` 4.
- `train_byte_pair`: `BytePairTokenizer`; `<pad>` 0, `<|endoftext|>` 1, bytes
  2..257, merged tokens from 258.
- `byte_tokenizer`: `BytePairTokenizer` over bytes only, same ids as above.

All three return keras-hub tokenizer layers, so they work eagerly and inside
`tf.data` pipelines. With `sequence_length=None` a batch of strings gives ragged
ids; with `sequence_length=L` every row is cut to its first `L` ids (truncation
keeps the start of the text) and padded with 0 on the right.

The empty string tokenizes to no ids. WordPiece maps a word it cannot spell
with its vocabulary to `[UNK]`; the byte-level tokenizers never need an unknown
token because every byte has an id.

Two keras-hub behaviours to know about. Inside `tf.data` (and so in every
pipeline of `keras_attn.data.pipelines`) a NUL character ends the text: tf-text's
regex split stops there. Eager calls of a `BytePairTokenizer` run the Hugging
Face `tokenizers` path, whose pre-tokenizer regex is Llama 3's rather than the
GPT-2 split used in `tf.data` and by the trainer here; it gave the same ids in
our checks, but only the `tf.data` path is tested against the trainer.

    >>> from keras_attn.data import tokenizers
    >>> bpe = tokenizers.train_byte_pair(["low lower lowest"] * 4, 262)
    >>> bpe.detokenize(bpe.tokenize("lowest glow"))
    'lowest glow'
    >>> int(bpe.token_to_id("<pad>")), int(bpe.token_to_id("<|endoftext|>"))
    (0, 1)
"""

import json
import os

import keras
import keras_hub
import tensorflow as tf

from keras_attn.checks import check_strings

WORD_PIECE_RESERVED = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD = "<pad>"
END_OF_TEXT = "<|endoftext|>"
NUM_BYTE_LEVEL_RESERVED = 2  # `<pad>` and `<|endoftext|>` come before the bytes.

_TOKENIZER_CONFIG = "tokenizer.json"
_ASSET_DIR = os.path.join("assets", "tokenizer")


def train_word_piece(
    texts,
    vocabulary_size,
    lowercase=True,
    strip_accents=False,
    reserved_tokens=WORD_PIECE_RESERVED,
    sequence_length=None,
):
    """Learns a WordPiece vocabulary and returns a tokenizer that uses it.

    The reserved tokens take ids `0, 1, ...` in the order given; with the
    default they are `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`. The learned
    vocabulary may be smaller than `vocabulary_size` on a small corpus.

    Args:
        texts: list of str, the training corpus.
        vocabulary_size: int, the largest vocabulary to learn, reserved tokens
            included.
        lowercase: bool, lowercase text before training and tokenizing.
        strip_accents: bool, remove accents before training and tokenizing.
        reserved_tokens: sequence of str, tokens placed first; must contain
            `"[UNK]"`, the token for words the vocabulary cannot spell.
        sequence_length: int or None, pad/truncate outputs to this length.

    Returns:
        A `keras_hub.tokenizers.WordPieceTokenizer`.

    Example:

    >>> tokenizer = train_word_piece(["the cat sat on the mat"] * 3, 40)
    >>> tokenizer.get_vocabulary()[:5]
    ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    >>> [tokenizer.id_to_token(i) for i in tokenizer.tokenize("The cat ☃")]
    ['t', '##h', '##e', 'c', '##at', '[UNK]']
    """
    texts = check_strings(texts, "texts")
    reserved_tokens = list(reserved_tokens)
    if "[UNK]" not in reserved_tokens:
        raise ValueError(
            "`reserved_tokens` must contain '[UNK]', the out-of-vocabulary token. "
            f"Received: reserved_tokens={reserved_tokens}"
        )
    if vocabulary_size <= len(reserved_tokens):
        raise ValueError(
            "`vocabulary_size` must be larger than the number of reserved tokens "
            f"({len(reserved_tokens)}). Received: vocabulary_size={vocabulary_size}"
        )
    learned = keras_hub.tokenizers.compute_word_piece_vocabulary(
        tf.data.Dataset.from_tensor_slices(texts or [""]).batch(1024),
        vocabulary_size,
        lowercase=lowercase,
        strip_accents=strip_accents,
        reserved_tokens=reserved_tokens,
    )
    # Put the reserved tokens first ourselves rather than rely on the learner.
    reserved = set(reserved_tokens)
    vocabulary = reserved_tokens + [t for t in learned if t not in reserved]
    return keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=vocabulary[:vocabulary_size],
        sequence_length=sequence_length,
        lowercase=lowercase,
        strip_accents=strip_accents,
        oov_token="[UNK]",
    )


def train_byte_pair(texts, vocabulary_size, min_frequency=2, sequence_length=None):
    """Learns byte-level BPE merges (GPT-2 style) and returns a tokenizer.

    The merges are learned by Hugging Face `tokenizers`' `BpeTrainer` (a
    maintained Rust implementation that comes with keras-hub): text is split
    into words with GPT-2's pre-tokenizer, each word is written as bytes
    (one printable character per byte, GPT-2's byte-to-unicode map), and the
    most frequent adjacent pair of symbols is merged until the vocabulary is
    full or no pair occurs `min_frequency` times. The tokenizer that uses
    them is keras-hub's `BytePairTokenizer`, which runs in the graph.

    Ids: `<pad>` = 0, `<|endoftext|>` = 1, byte `b` = `b + 2` (so `2..257`),
    merged tokens from 258 in the order they were learned. Any text encodes
    (bytes are the fallback) and decodes back exactly. `<|endoftext|>` in the
    input text becomes id 1 and is removed from the training counts.

    Speed: the 5.1 MB Shakespeare corpus trains to 8,000 ids in 1.5 s on a
    2-core VM (4.6 s with the pure-Python trainer this replaced).

    Args:
        texts: list of str, the training corpus.
        vocabulary_size: int, the vocabulary size to reach, at least 258.
        min_frequency: int, stop when the best pair occurs fewer times.
        sequence_length: int or None, pad/truncate outputs to this length.

    Returns:
        A `keras_hub.tokenizers.BytePairTokenizer`.

    Example:

    >>> tokenizer = train_byte_pair(["hug hug hug pug"], 259)
    >>> tokenizer.merges  # "ug" occurs 4 times, more than any other pair
    ['u g']
    """
    import tokenizers as hf_tokenizers

    texts = check_strings(texts, "texts")
    if vocabulary_size < 256 + NUM_BYTE_LEVEL_RESERVED:
        raise ValueError(
            "A byte-level vocabulary needs at least 258 entries (<pad>, "
            "<|endoftext|> and 256 bytes). "
            f"Received: vocabulary_size={vocabulary_size}"
        )
    byte_level = hf_tokenizers.pre_tokenizers.ByteLevel(
        add_prefix_space=False, use_regex=True
    )
    trainer = hf_tokenizers.trainers.BpeTrainer(
        vocab_size=vocabulary_size,
        min_frequency=min_frequency,
        special_tokens=[PAD, END_OF_TEXT],
        initial_alphabet=hf_tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe = hf_tokenizers.Tokenizer(hf_tokenizers.models.BPE())
    bpe.pre_tokenizer = byte_level
    parts = (part for text in texts for part in text.split(END_OF_TEXT))
    bpe.train_from_iterator(parts, trainer)
    merges = [
        merge if isinstance(merge, str) else " ".join(merge)
        for merge in json.loads(bpe.to_str())["model"]["merges"]
    ]
    vocabulary = _byte_level_vocabulary()
    for merge in merges:
        vocabulary.setdefault(merge.replace(" ", ""), len(vocabulary))
    return _byte_pair_tokenizer(vocabulary, merges, sequence_length)


def byte_tokenizer(sequence_length=None):
    """A byte-level tokenizer whose id 0 is free for padding.

    keras-hub's `ByteTokenizer` gives byte `b` the id `b`, so the NUL byte
    would read as padding. This tokenizer is a `BytePairTokenizer` with no
    merges instead: `<pad>` = 0, `<|endoftext|>` = 1 and byte `b` = `b + 2`.
    keras-hub needs at least one merge, so id 258 is a merge of byte 0xFF with
    itself, which UTF-8 text never contains: 259 ids in all, 258 never
    produced. It round-trips any text and saves like the trained BPE.

    Args:
        sequence_length: int or None, pad/truncate outputs to this length.

    Returns:
        A `keras_hub.tokenizers.BytePairTokenizer` with one unused merge.

    Example:

    >>> tokenizer = byte_tokenizer()
    >>> [int(i) for i in tokenizer.tokenize("Añ")]  # b"A\\xc3\\xb1"
    [67, 197, 179]
    >>> tokenizer.vocabulary_size()
    259
    """
    # keras-hub cannot build a BPE tokenizer without merges, so add one that
    # never applies: byte 0xFF twice (0xFF never occurs in UTF-8), id 258.
    vocabulary = _byte_level_vocabulary()
    never = bytes_to_unicode()[0xFF]
    vocabulary[never + never] = len(vocabulary)
    return _byte_pair_tokenizer(vocabulary, [f"{never} {never}"], sequence_length)


def save_tokenizer(tokenizer, directory):
    """Saves a keras-hub tokenizer into `directory` (created if needed).

    The layout is keras-hub's preset layout: `tokenizer.json` (the layer
    config) and `assets/tokenizer/` (vocabulary, merges). It sits beside a
    saved model, e.g. `model.keras`, without clashing.

    Args:
        tokenizer: a `keras_hub.tokenizers.Tokenizer`.
        directory: str or path-like.
    """
    if not isinstance(tokenizer, keras_hub.tokenizers.Tokenizer):
        raise TypeError(
            "Expected a keras_hub.tokenizers.Tokenizer. "
            f"Received: {type(tokenizer).__name__}"
        )
    os.makedirs(directory, exist_ok=True)
    tokenizer.save_to_preset(str(directory))


def load_tokenizer(directory):
    """Loads a tokenizer written by `save_tokenizer`.

    Args:
        directory: str or path-like.

    Returns:
        The tokenizer, of the class it was saved as.
    """
    config_path = os.path.join(directory, _TOKENIZER_CONFIG)
    if not os.path.exists(config_path):
        raise FileNotFoundError(
            f"No {_TOKENIZER_CONFIG} in {directory!r}; expected a directory "
            "written by save_tokenizer()."
        )
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    # Registers the checkpoint tokenizer, which keras_attn.models loads lazily.
    from keras_attn.models.bert import hf_word_piece_tokenizer  # noqa: F401

    tokenizer = keras.saving.deserialize_keras_object(config)
    tokenizer.load_assets(os.path.join(directory, _ASSET_DIR))
    return tokenizer


def bytes_to_unicode():
    """GPT-2's map from each byte to a printable character.

    Printable Latin-1 bytes map to themselves; the other 68 (controls, space,
    ...) map to `chr(256 + k)` in byte order, so no symbol is whitespace.

    Returns:
        dict int -> str, 256 entries.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    mapping = {b: chr(b) for b in printable}
    others = [b for b in range(256) if b not in mapping]
    for k, b in enumerate(others):
        mapping[b] = chr(256 + k)
    return mapping


def _byte_level_vocabulary():
    vocabulary = {PAD: 0, END_OF_TEXT: 1}
    for b, char in sorted(bytes_to_unicode().items()):
        vocabulary[char] = b + NUM_BYTE_LEVEL_RESERVED
    return vocabulary


def _byte_pair_tokenizer(vocabulary, merges, sequence_length):
    return keras_hub.tokenizers.BytePairTokenizer(
        vocabulary=vocabulary,
        merges=merges,
        sequence_length=sequence_length,
        unsplittable_tokens=[END_OF_TEXT],
    )
