"""`tf.data` pipelines from lists of strings to model-ready `(x, y)` batches.

- `bert_pretraining_dataset`: x = `token_ids`, `segment_ids`, `padding_mask`,
  `mask_positions`; y = `{"mlm": (B, P), "nsp": (B,)}`.
- `causal_lm_dataset`: x = `token_ids`, `padding_mask`; y = `(B, T)` next ids.
- `translation_dataset`: x = `encoder_token_ids`, `decoder_token_ids`;
  y = `(B, T)` decoder ids shifted left, ending with the end token.
- `classification_dataset`: x = the BERT dict; y = `(B,)` labels.
- `tagging_dataset`: x = the BERT dict; y = `(B, T)` tags, -1 ignored.
- `image_classification_dataset`: x = `(B, H, W, C)` floats in [0, 1],
  optionally augmented; y = `(B,)` labels.

Padding id is 0 everywhere. Tokenization runs inside `tf.data` (keras-hub's
TensorFlow path), so the pipelines feed models on any Keras backend. The last
batch may be smaller than `batch_size`. The same `seed` gives the same
sentence pairs and the same shuffled order. The BERT masks are not
reproducible: tf-text draws them with stateful random ops inside a parallel
loop, so they change from run to run (and from epoch to epoch, which is
RoBERTa's dynamic masking).

    >>> import keras_hub
    >>> from keras_attn.data import pipelines
    >>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad"]
    >>> tokenizer = keras_hub.tokenizers.WordPieceTokenizer(vocabulary + ["film"])
    >>> ds = pipelines.classification_dataset(
    ...     ["good film", "bad film"], [1, 0], tokenizer, 6, batch_size=2,
    ...     shuffle=False)
    >>> x, y = next(iter(ds))
    >>> x["token_ids"].numpy().tolist(), y.numpy().tolist()
    ([[2, 5, 7, 3, 0, 0], [2, 6, 7, 3, 0, 0]], [1, 0])
"""

import keras_hub
import numpy as np
import tensorflow as tf

from keras_attn.checks import check_strings
from keras_attn.checks import special_token_ids
from keras_attn.data.tokenizers import END_OF_TEXT
from keras_attn.data.tokenizers import WORD_PIECE_RESERVED

AUTOTUNE = tf.data.AUTOTUNE


def next_sentence_pairs(documents, nsp_rate=0.5, seed=0):
    """Sentence pairs for next-sentence prediction.

    Every sentence that has a successor in its document is a sentence A once.
    With probability `nsp_rate` its B is that successor (label 1); otherwise B
    is drawn uniformly from the sentences of all *other* documents (label 0).
    Empty or blank sentences are dropped first; a one-sentence document gives
    no A but can give random Bs.

    Args:
        documents: list of documents, each a list of str sentences.
        nsp_rate: float, probability that B is the true next sentence.
        seed: int, seed of the NumPy generator.

    Returns:
        Three lists: first sentences, second sentences, int labels.
    """
    if not 0.0 <= nsp_rate <= 1.0:
        raise ValueError(f"`nsp_rate` must be in [0, 1]. Received: {nsp_rate}")
    docs = []
    for document in documents:
        if isinstance(document, str):
            raise TypeError(
                "`documents` must be a list of documents, each a list of "
                f"sentences (str). Received a str: {document!r:.60}"
            )
        docs.append([s for s in document if s.strip()])
    sizes = np.array([len(d) for d in docs])
    if np.count_nonzero(sizes) < 2:
        raise ValueError(
            "Next-sentence prediction needs at least 2 non-empty documents (random "
            f"B sentences come from another document). Received {len(docs)} "
            f"documents, {np.count_nonzero(sizes)} non-empty."
        )
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flat = [s for d in docs for s in d]
    rng = np.random.default_rng(seed)
    first, second, labels = [], [], []
    for d, doc in enumerate(docs):
        for i in range(len(doc) - 1):
            first.append(doc[i])
            if rng.random() < nsp_rate:
                second.append(doc[i + 1])
                labels.append(1)
            else:
                # Uniform over the sentences outside document d: draw from
                # len(flat) - len(doc) slots and skip over document d.
                k = int(rng.integers(len(flat) - len(doc)))
                second.append(flat[k + len(doc) if k >= starts[d] else k])
                labels.append(0)
    if not first:
        raise ValueError("No document has two sentences; no pair can be built.")
    return first, second, labels


def bert_pretraining_dataset(
    documents,
    tokenizer,
    sequence_length=128,
    batch_size=32,
    mask_selection_rate=0.15,
    mask_token_rate=0.8,
    random_token_rate=0.1,
    max_predictions=20,
    nsp_rate=0.5,
    seed=0,
    shuffle=True,
):
    """BERT pretraining batches: next-sentence pairs with masked tokens.

    Pairs come from `next_sentence_pairs`. Each pair is packed as
    `[CLS] A [SEP] B [SEP]` + padding with segment ids 0 (through the first
    `[SEP]`), 1 (B and the last `[SEP]`) and 0 on padding. Pairs too long for
    `sequence_length` are truncated round robin: A and B lose tokens from
    their ends, the longer one first, until the pair fits (A keeps the extra
    token when the room is odd).

    Masking (keras-hub `MaskedLMMaskGenerator`, i.e. tf-text's selector):
    in each sequence exactly `min(ceil(mask_selection_rate * n),
    max_predictions)` of its `n` non-special tokens are chosen uniformly
    (the five reserved WordPiece tokens are never chosen). Each chosen token
    becomes `[MASK]` with probability `mask_token_rate`, a token drawn
    uniformly from the whole vocabulary with probability `random_token_rate`
    (which can be the original token), and stays unchanged otherwise.

    Args:
        documents: list of documents, each a list of str sentences.
        tokenizer: a WordPiece tokenizer with the reserved tokens `[PAD]`,
            `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]` (see `train_word_piece`).
        sequence_length: int, packed length `T`.
        batch_size: int.
        mask_selection_rate: float, share of non-special tokens chosen.
        mask_token_rate: float, share of chosen tokens set to `[MASK]`.
        random_token_rate: float, share of chosen tokens set to a random id.
        max_predictions: int, `P`, the most chosen tokens per sequence.
        nsp_rate: float, share of pairs whose B is the true next sentence.
        seed: int, seeds the pairs and the shuffle (not the masks).
        shuffle: bool, shuffle the pairs each epoch.

    Returns:
        A `tf.data.Dataset` of `(x, y)`: x = `{"token_ids", "segment_ids",
        "padding_mask", "mask_positions"}` with shapes `(B, T)` and `(B, P)`;
        y = `{"mlm": (B, P) original ids at mask_positions, 0 in unused slots,
        "nsp": (B,) 1 if B follows A}`.
    """
    special = special_token_ids(
        tokenizer, WORD_PIECE_RESERVED, needed_by="this pipeline"
    )
    first, second, labels = next_sentence_pairs(documents, nsp_rate, seed)
    packer = keras_hub.layers.MultiSegmentPacker(
        sequence_length=sequence_length,
        start_value=special["[CLS]"],
        end_value=special["[SEP]"],
        pad_value=special["[PAD]"],
        truncate="round_robin",
    )
    masker = keras_hub.layers.MaskedLMMaskGenerator(
        vocabulary_size=tokenizer.vocabulary_size(),
        mask_selection_rate=mask_selection_rate,
        mask_token_id=special["[MASK]"],
        mask_selection_length=max_predictions,
        unselectable_token_ids=sorted(special.values()),
        mask_token_rate=mask_token_rate,
        random_token_rate=random_token_rate,
    )

    def to_inputs(a, b, nsp):
        token_ids, segment_ids = packer((_ragged(tokenizer(a)), _ragged(tokenizer(b))))
        masked = masker(token_ids)
        x = {
            "token_ids": masked["token_ids"],
            "segment_ids": segment_ids,
            "padding_mask": token_ids != special["[PAD]"],
            "mask_positions": tf.cast(masked["mask_positions"], "int32"),
        }
        return x, {"mlm": masked["mask_ids"], "nsp": nsp}

    ds = tf.data.Dataset.from_tensor_slices((first, second, np.array(labels, "int32")))
    return _finish(ds, to_inputs, batch_size, shuffle, seed, len(first))


def causal_lm_dataset(
    texts,
    tokenizer,
    sequence_length,
    batch_size,
    end_token_id=None,
    shuffle=True,
    seed=0,
):
    """Next-token batches cut from one stream of all texts.

    Each text is tokenized and followed by the end-of-text id; the stream is
    cut into consecutive blocks of `sequence_length + 1` ids and the ragged
    tail (fewer than `sequence_length + 1` ids) is dropped. For a block `b`,
    x = `b[:-1]`, y = `b[1:]`; blocks are full, so `padding_mask` is all ones.

    Args:
        texts: list of str.
        tokenizer: a keras-hub tokenizer (e.g. `train_byte_pair`).
        sequence_length: int, `T`.
        batch_size: int.
        end_token_id: int or None; None looks up `<|endoftext|>`.
        shuffle: bool, shuffle the blocks each epoch.
        seed: int.

    Returns:
        A `tf.data.Dataset` of `({"token_ids": (B, T), "padding_mask": (B, T)},
        (B, T) labels)`.
    """
    texts = check_strings(texts, "texts")
    if end_token_id is None:
        end_token_id = special_token_ids(
            tokenizer, [END_OF_TEXT], needed_by="this pipeline"
        )[END_OF_TEXT]
    stream = []
    for ids in _tokenize_all(texts, tokenizer):
        stream.append(ids)
        stream.append(np.array([end_token_id], "int32"))
    stream = np.concatenate(stream) if stream else np.zeros(0, "int32")
    num_blocks = len(stream) // (sequence_length + 1)
    if num_blocks == 0:
        raise ValueError(
            f"The texts give {len(stream)} tokens, fewer than one block of "
            f"sequence_length + 1 = {sequence_length + 1}."
        )
    blocks = stream[: num_blocks * (sequence_length + 1)].reshape(num_blocks, -1)

    def to_inputs(block):
        x = {
            "token_ids": block[:, :-1],
            "padding_mask": tf.ones_like(block[:, :-1], "bool"),
        }
        return x, block[:, 1:]

    ds = tf.data.Dataset.from_tensor_slices(blocks)
    return _finish(ds, to_inputs, batch_size, shuffle, seed, num_blocks)


def translation_dataset(
    pairs,
    source_tokenizer,
    target_tokenizer,
    source_length,
    target_length,
    batch_size,
    start_token_id,
    end_token_id,
    shuffle=True,
    seed=0,
):
    """Teacher-forcing batches for an encoder-decoder.

    The source is tokenized, cut to its first `source_length` ids and padded
    with 0. The target `t` is cut to its first `target_length - 1` ids so that
    the start and end tokens always fit: decoder input = `[start] + t`, labels
    = `t + [end]`, both padded with 0 to `target_length`. Long pairs are
    truncated, never dropped.

    Args:
        pairs: list of `(source, target)` str pairs.
        source_tokenizer: keras-hub tokenizer of the source language.
        target_tokenizer: keras-hub tokenizer of the target language.
        source_length: int, `S`.
        target_length: int, `T`.
        batch_size: int.
        start_token_id: int, first decoder input id.
        end_token_id: int, last label id.
        shuffle: bool, shuffle the pairs each epoch.
        seed: int.

    Returns:
        A `tf.data.Dataset` of `({"encoder_token_ids": (B, S),
        "decoder_token_ids": (B, T)}, (B, T) labels)`.
    """
    sources, targets = _unzip_pairs(pairs)
    decoder_packer = keras_hub.layers.StartEndPacker(
        target_length, start_value=start_token_id, pad_value=0
    )
    label_packer = keras_hub.layers.StartEndPacker(
        target_length, end_value=end_token_id, pad_value=0
    )

    def to_inputs(source, target):
        source_ids = _ragged(source_tokenizer(source))
        target_ids = _ragged(target_tokenizer(target))[:, : target_length - 1]
        x = {
            "encoder_token_ids": source_ids.to_tensor(0, shape=[None, source_length]),
            "decoder_token_ids": decoder_packer(target_ids),
        }
        return x, label_packer(target_ids)

    ds = tf.data.Dataset.from_tensor_slices((sources, targets))
    return _finish(ds, to_inputs, batch_size, shuffle, seed, len(sources))


def classification_dataset(
    texts,
    labels,
    tokenizer,
    sequence_length,
    batch_size,
    text_pairs=None,
    shuffle=True,
    seed=0,
    head_tokens=None,
):
    """Sentence (pair) classification batches in BERT's layout.

    Packs `[CLS] a [SEP]`, or `[CLS] a [SEP] b [SEP]` when `text_pairs` is
    given, with the same segment ids and round-robin truncation as
    `bert_pretraining_dataset`. A single text longer than the sequence
    keeps its beginning, or with `head_tokens` its first `head_tokens`
    pieces and its last ones ("head + tail" truncation, Sun et al., 2019,
    "How to Fine-Tune BERT for Text Classification?").

    Args:
        texts: list of str.
        labels: list of int class ids.
        tokenizer: a WordPiece tokenizer with the reserved tokens.
        sequence_length: int, `T`.
        batch_size: int.
        text_pairs: list of str or None, the second sentences.
        shuffle: bool, shuffle each epoch.
        seed: int.
        head_tokens: int or None: a text of more than `sequence_length - 2`
            pieces keeps its first `head_tokens` and fills the rest from its
            end; None keeps the beginning only. Single texts only.

    Returns:
        A `tf.data.Dataset` of (BERT inputs dict, `(B,)` int labels).
    """
    texts = check_strings(texts, "texts")
    budget = sequence_length - 2  # [CLS] and [SEP]
    if head_tokens is not None:
        if text_pairs is not None:
            raise ValueError(
                "`head_tokens` applies to single texts; received `text_pairs` "
                "too (pairs are truncated round robin)."
            )
        if not 0 <= head_tokens <= budget:
            raise ValueError(
                f"`head_tokens` must be in [0, sequence_length - 2], at most "
                f"{budget} here; received {head_tokens}."
            )
    labels = np.asarray(labels, "int32")
    columns = [texts]
    if text_pairs is not None:
        columns.append(check_strings(text_pairs, "text_pairs"))
    for column in columns:
        if len(column) != len(labels):
            raise ValueError(
                f"Got {len(column)} texts but {len(labels)} labels; "
                "expected one label per text."
            )
    special = special_token_ids(
        tokenizer, ["[PAD]", "[CLS]", "[SEP]"], needed_by="this pipeline"
    )
    packer = keras_hub.layers.MultiSegmentPacker(
        sequence_length=sequence_length,
        start_value=special["[CLS]"],
        end_value=special["[SEP]"],
        pad_value=special["[PAD]"],
        truncate="round_robin",
    )

    def to_inputs(*args):
        *segments, label = args
        segments = tuple(_ragged(tokenizer(s)) for s in segments)
        if head_tokens is not None:
            segments = (_keep_head_and_tail(segments[0], budget, head_tokens),)
        token_ids, segment_ids = packer(segments)
        x = {
            "token_ids": token_ids,
            "segment_ids": segment_ids,
            "padding_mask": token_ids != special["[PAD]"],
        }
        return x, label

    ds = tf.data.Dataset.from_tensor_slices((*columns, labels))
    return _finish(ds, to_inputs, batch_size, shuffle, seed, len(labels))


def tagging_dataset(
    token_lists, tag_lists, tokenizer, sequence_length, batch_size, shuffle=True, seed=0
):
    """Token tagging (e.g. NER) batches: word tags moved onto word pieces.

    Each word is tokenized on its own; its tag goes on its first piece and -1
    (ignored by the loss) on the other pieces, on `[CLS]`, `[SEP]` and on
    padding. Sequences are packed `[CLS] pieces [SEP]` and cut to
    `sequence_length` (pieces of the last words are dropped; `[SEP]` stays).
    A word that gives no pieces (e.g. the empty string) loses its tag.

    Args:
        token_lists: list of sentences, each a list of str words.
        tag_lists: list of lists of int tags >= 0, one per word.
        tokenizer: a WordPiece tokenizer with the reserved tokens.
        sequence_length: int, `T`.
        batch_size: int.
        shuffle: bool, shuffle each epoch.
        seed: int.

    Returns:
        A `tf.data.Dataset` of (BERT inputs dict, `(B, T)` int tags).
    """
    if len(token_lists) != len(tag_lists):
        raise ValueError(
            f"Got {len(token_lists)} sentences but {len(tag_lists)} tag lists."
        )
    for words, tags in zip(token_lists, tag_lists):
        check_strings(words, "token_lists[i]")
        if len(words) != len(tags):
            raise ValueError(
                f"Each word needs one tag. Received {len(words)} words "
                f"{words!r:.60} and {len(tags)} tags."
            )
        if any(t < 0 for t in tags):
            raise ValueError(f"Tags must be >= 0 (-1 means ignored). Got {tags}.")
    special = special_token_ids(
        tokenizer, ["[PAD]", "[CLS]", "[SEP]"], needed_by="this pipeline"
    )
    token_packer = keras_hub.layers.MultiSegmentPacker(
        sequence_length,
        start_value=special["[CLS]"],
        end_value=special["[SEP]"],
        pad_value=special["[PAD]"],
    )
    tag_packer = keras_hub.layers.MultiSegmentPacker(
        sequence_length, start_value=-1, end_value=-1, pad_value=-1
    )

    def to_inputs(words, tags):
        # words, tags: (B, W) ragged; pieces: (N, P) ragged, N = words in batch.
        pieces = _ragged(tokenizer(words.flat_values))
        num_pieces = pieces.row_lengths()  # (N,)
        first_piece = tf.ragged.range(num_pieces).flat_values == 0
        piece_tags = tf.where(first_piece, tf.repeat(tags.flat_values, num_pieces), -1)
        per_sentence = tf.reduce_sum(words.with_flat_values(num_pieces), axis=1)
        token_ids, segment_ids = token_packer(
            tf.RaggedTensor.from_row_lengths(pieces.flat_values, per_sentence)
        )
        labels, _ = tag_packer(
            tf.RaggedTensor.from_row_lengths(piece_tags, per_sentence)
        )
        x = {
            "token_ids": token_ids,
            "segment_ids": segment_ids,
            "padding_mask": token_ids != special["[PAD]"],
        }
        return x, labels

    ds = tf.data.Dataset.from_tensor_slices(
        (
            tf.ragged.constant(token_lists, dtype=tf.string),
            tf.ragged.constant(tag_lists, dtype=tf.int32),
        )
    )
    return _finish(ds, to_inputs, batch_size, shuffle, seed, len(token_lists))


def image_classification_dataset(
    images, labels, batch_size, shuffle=True, augment=None, seed=0
):
    """Batches of images scaled to [0, 1] and their labels.

    Args:
        images: `(N, H, W, C)` uint8 array.
        labels: `(N,)` ints.
        batch_size: examples per batch.
        shuffle: reshuffle every epoch.
        augment: a Keras preprocessing layer (e.g. `RandomFlip`) or a list
            of them, applied in order to each image as a batch of one, so
            that every image gets its own random draw; or None. Pass a list
            rather than a `keras.Sequential`: inside `tf.data` the
            preprocessing layers run on TensorFlow whatever the backend, a
            `Sequential` around them does not.
        seed: shuffling seed.

    Returns:
        A `tf.data.Dataset` of `(images, labels)`: `(B, H, W, C)` float32
        and `(B,)` int32.

    Example:

    >>> import numpy as np
    >>> from keras_attn.data import pipelines
    >>> images = np.full((5, 4, 4, 1), 255, "uint8")
    >>> ds = pipelines.image_classification_dataset(images, [0, 1, 2, 3, 4], 2,
    ...     shuffle=False)
    >>> x, y = next(iter(ds))
    >>> x.shape.as_list(), float(x.numpy().max()), y.numpy().tolist()
    ([2, 4, 4, 1], 1.0, [0, 1])
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(
            "`images` must be a (N, H, W, C) uint8 array; received "
            f"{images.dtype} of shape {images.shape}."
        )
    labels = np.asarray(labels, "int32")
    if labels.shape != images.shape[:1]:
        raise ValueError(
            f"`labels` must hold one label per image ({len(images)}); received "
            f"shape {labels.shape}."
        )
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(
        lambda x, y: (tf.cast(x, tf.float32) / 255.0, y), num_parallel_calls=AUTOTUNE
    )
    if augment is not None:
        augment = list(augment) if isinstance(augment, (list, tuple)) else [augment]

        def draw(x, y):
            x = x[None]
            for layer in augment:
                x = layer(x, training=True)
            return x[0], y

        ds = ds.map(draw, num_parallel_calls=AUTOTUNE)
    return ds.batch(batch_size).prefetch(AUTOTUNE)


def _finish(ds, to_inputs, batch_size, shuffle, seed, size):
    """Shuffle (whole dataset), batch, then map `to_inputs` over batches."""
    if shuffle:
        ds = ds.shuffle(max(size, 1), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    return ds.map(to_inputs, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def _keep_head_and_tail(ids, budget, head):
    """Each ragged row of more than `budget` ids cut to its first `head` ids
    and its last `budget - head`; shorter rows unchanged."""
    lengths = ids.row_lengths()
    positions = tf.ragged.range(tf.minimum(lengths, budget))  # (B, None)
    skipped = tf.maximum(lengths - budget, 0)  # the middle a long row drops
    flat = positions.flat_values
    rows_skipped = tf.gather(skipped, positions.value_rowids())
    flat = flat + tf.where(flat >= head, rows_skipped, tf.zeros_like(flat))
    return tf.gather(ids, positions.with_flat_values(flat), batch_dims=1)


def _ragged(ids):
    """Tokenizer output as ragged; a tokenizer with `sequence_length` pads with
    0, which is stripped here so the packers see only real tokens."""
    if isinstance(ids, tf.RaggedTensor):
        return ids
    return tf.RaggedTensor.from_tensor(ids, padding=0)


def _tokenize_all(texts, tokenizer, chunk=1024):
    """Token ids of each text, tokenized in `tf.data` like the pipelines."""
    ds = tf.data.Dataset.from_tensor_slices(texts).batch(chunk)
    for batch in ds.map(lambda t: _ragged(tokenizer(t))):
        yield from (row.numpy().astype("int32") for row in batch)


def _unzip_pairs(pairs):
    pairs = list(pairs)
    if not all(len(p) == 2 for p in pairs):
        raise ValueError("`pairs` must be a list of (source, target) str pairs.")
    sources = check_strings([p[0] for p in pairs], "sources")
    targets = check_strings([p[1] for p in pairs], "targets")
    return sources, targets
