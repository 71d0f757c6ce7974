"""Sentence embeddings from a BERT backbone: packing, pooling, encoding.

Sentence-transformers models such as all-MiniLM-L6-v2 embed a sentence as
the mean of the backbone's sequence output over its real tokens (`[CLS]`
and `[SEP]` included, padding excluded), L2-normalized, so that a dot
product is the cosine similarity.
"""

import keras
import numpy as np
from keras import ops

from keras_attn.checks import check_strings

POOLINGS = ("mean", "cls")


def bert_inputs(tokenizer, texts, text_pairs=None, sequence_length=256):
    """Packs strings into the backbone's input dict, as Hugging Face does.

    `[CLS] a [SEP]`, or `[CLS] a [SEP] b [SEP]` with segment id 1 on
    `b [SEP]`, truncated to `sequence_length` (a pair loses tokens from its
    longer side first) and padded with `[PAD]` to the longest row of the
    batch: the same ids, segment ids and mask as a Hugging Face BERT
    tokenizer called with `padding=True, truncation=True,
    max_length=sequence_length`.

    Args:
        tokenizer: a WordPiece tokenizer whose vocabulary has `[PAD]`,
            `[CLS]` and `[SEP]` (e.g. from `load_hf_bert`).
        texts: list of str.
        text_pairs: list of str or None, second segments.
        sequence_length: int, the longest packed row.

    Returns:
        Dict of `"token_ids"`, `"segment_ids"` and `"padding_mask"`, each a
        `(B, T)` int32 NumPy array with `T <= sequence_length`.

    Example:

    >>> from keras_attn.models.bert import HFWordPieceTokenizer, bert_inputs
    >>> tokenizer = HFWordPieceTokenizer(
    ...     ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hi", "there"])
    >>> x = bert_inputs(tokenizer, ["Hi there", "hi"], ["there", "HI"])
    >>> x["token_ids"].tolist()
    [[2, 4, 5, 3, 5, 3], [2, 4, 3, 4, 3, 0]]
    >>> x["segment_ids"].tolist()
    [[0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 0]]
    >>> x["padding_mask"].tolist()
    [[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]]
    """
    texts = check_strings(texts, "texts")
    segments = [texts]
    if text_pairs is not None:
        segments.append(check_strings(text_pairs, "text_pairs"))
        if len(segments[1]) != len(texts):
            raise ValueError(
                f"Got {len(texts)} texts but {len(segments[1])} text_pairs; "
                "expected one pair per text."
            )
    budget = sequence_length - len(segments) - 1  # room left by [CLS], [SEP]s
    if budget < 0:
        raise ValueError(
            f"`sequence_length` must leave room for [CLS] and [SEP]; received "
            f"{sequence_length} for {len(segments)} segment(s)."
        )
    special = {}
    for token in ("[PAD]", "[CLS]", "[SEP]"):
        special[token] = tokenizer.token_to_id(token)
        if special[token] is None:
            raise ValueError(f"The tokenizer's vocabulary lacks {token!r}.")
    pieces = [_id_lists(tokenizer, segment) for segment in segments]
    rows = []
    for row_pieces in zip(*pieces):
        kept = _truncate_longest_first([len(p) for p in row_pieces], budget)
        ids, types = [special["[CLS]"]], [0]
        for segment, (piece, length) in enumerate(zip(row_pieces, kept)):
            ids += list(piece[:length]) + [special["[SEP]"]]
            types += [segment] * (length + 1)
        rows.append((ids, types))
    width = max((len(ids) for ids, _ in rows), default=0)
    x = {
        "token_ids": np.full((len(rows), width), special["[PAD]"], "int32"),
        "segment_ids": np.zeros((len(rows), width), "int32"),
        "padding_mask": np.zeros((len(rows), width), "int32"),
    }
    for i, (ids, types) in enumerate(rows):
        x["token_ids"][i, : len(ids)] = ids
        x["segment_ids"][i, : len(ids)] = types
        x["padding_mask"][i, : len(ids)] = 1
    return x


def _truncate_longest_first(lengths, budget):
    """Kept lengths of one or two segments, as Hugging Face's (Rust) tokenizers
    truncate `longest_first`: the shorter segment stays whole if it fits in
    half the budget; otherwise both get half, the longer one (the second on a
    tie) the odd token."""
    if len(lengths) == 1:
        return [min(lengths[0], budget)]
    short, long = sorted(lengths)
    if short + long <= budget:
        return list(lengths)
    if short <= budget // 2:
        kept_short, kept_long = short, budget - short
    else:
        kept_short, kept_long = budget // 2, budget - budget // 2
    if lengths[0] > lengths[1]:
        return [kept_long, kept_short]
    return [kept_short, kept_long]


def _id_lists(tokenizer, texts):
    """Word-piece ids of each text as a list of int lists."""
    ids = tokenizer.tokenize(texts)
    if hasattr(ids, "to_list"):  # tf.RaggedTensor
        return ids.to_list()
    rows = [np.asarray(row).tolist() for row in ids]
    if getattr(tokenizer, "sequence_length", None):
        rows = [[i for i in row if i != 0] for row in rows]  # strip padding
    return rows


def mean_pool(sequence_output, padding_mask, normalize=True):
    """The mean of the hidden states over the real tokens, L2-normalized.

    Args:
        sequence_output: `(B, T, D)` float tensor.
        padding_mask: `(B, T)` bool or 0/1, 1 on real tokens.
        normalize: divide each embedding by its L2 norm.

    Returns:
        `(B, D)` embeddings. A row without real tokens is zeros.

    Example:

    >>> import numpy as np
    >>> from keras_attn.models.bert import mean_pool
    >>> hidden = np.array([[[3.0, 0.0], [1.0, 4.0], [9.0, 9.0]]], "float32")
    >>> mask = np.array([[1, 1, 0]])  # the third position is padding
    >>> np.asarray(mean_pool(hidden, mask, normalize=False)).tolist()
    [[2.0, 2.0]]
    >>> np.asarray(mean_pool(hidden, mask)).astype(float).round(4).tolist()
    [[0.7071, 0.7071]]
    """
    x = ops.convert_to_tensor(sequence_output)
    mask = ops.cast(ops.convert_to_tensor(padding_mask), x.dtype)[
        ..., None
    ]  # (B, T, 1)
    total = ops.sum(x * mask, axis=1)  # (B, D)
    count = ops.maximum(ops.sum(mask, axis=1), 1e-9)  # (B, 1)
    pooled = total / count
    return _l2_normalize(pooled) if normalize else pooled


def _l2_normalize(x):
    norm = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))
    return x / ops.maximum(norm, 1e-12)


def encode_sentences(
    backbone,
    tokenizer,
    texts,
    batch_size=32,
    sequence_length=256,
    pooling="mean",
    normalize=True,
):
    """Embeds sentences with a BERT backbone, batch by batch.

    Sorts the texts by length so that each batch pads little, runs the
    backbone in inference mode and pools: `"mean"` over the real tokens (a
    sentence-transformers model such as all-MiniLM-L6-v2) or `"cls"` (the
    first token's hidden state).

    Args:
        backbone: a `BertBackbone`.
        tokenizer: its WordPiece tokenizer.
        texts: list of str.
        batch_size: sentences per forward pass.
        sequence_length: longer sentences are truncated
            (all-MiniLM-L6-v2 was trained with 128 and sentence-transformers
            cuts at 256).
        pooling: `"mean"` or `"cls"`.
        normalize: L2-normalize the embeddings.

    Returns:
        `(len(texts), hidden_dim)` float32 NumPy array, in the order of
        `texts`.

    Example:

    >>> from keras_attn.models.bert import (BertBackbone,
    ...     HFWordPieceTokenizer, encode_sentences)
    >>> tokenizer = HFWordPieceTokenizer(
    ...     ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "good", "day"])
    >>> backbone = BertBackbone(vocabulary_size=6, num_layers=1,
    ...     num_heads=2, hidden_dim=8, intermediate_dim=16,
    ...     max_sequence_length=16)
    >>> embeddings = encode_sentences(backbone, tokenizer, ["Good day", "day"])
    >>> embeddings.shape
    (2, 8)
    """
    if pooling not in POOLINGS:
        raise ValueError(f"`pooling` must be one of {POOLINGS}; received {pooling!r}.")
    texts = check_strings(texts, "texts")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"`batch_size` must be a positive int; received {batch_size!r}."
        )
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), backbone.hidden_dim), "float32")
    for start in range(0, len(texts), batch_size):
        rows = order[start : start + batch_size]
        x = bert_inputs(tokenizer, [texts[i] for i in rows], None, sequence_length)
        hidden = backbone(x, training=False)["sequence_output"]  # (B, T, D)
        if pooling == "mean":
            pooled = mean_pool(hidden, x["padding_mask"], normalize)
        else:
            pooled = hidden[:, 0, :]  # (B, D): [CLS]
            pooled = _l2_normalize(pooled) if normalize else pooled
        out[rows] = keras.ops.convert_to_numpy(pooled)
    return out
