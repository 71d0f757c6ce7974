import math

import keras_hub
import numpy as np
import pytest

from keras_attn.data import pipelines
from keras_attn.data import tokenizers

RESERVED = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, UNK, CLS, SEP, MASK = range(5)
NUM_DOCS, NUM_SENTENCES = 100, 21


def collect(ds):
    """One epoch as NumPy arrays, batches stacked along the first axis."""
    batches = [(x, y) for x, y in ds]
    x = {k: np.concatenate([b[0][k].numpy() for b in batches]) for k in batches[0][0]}
    if isinstance(batches[0][1], dict):
        y = {
            k: np.concatenate([b[1][k].numpy() for b in batches]) for k in batches[0][1]
        }
    else:
        y = np.concatenate([b[1].numpy() for b in batches])
    return x, y


@pytest.fixture(scope="module")
def corpus():
    """Sentences "d<doc> s<index> w.. w..": ids tell the document and index."""
    rng = np.random.default_rng(1)
    filler = [f"w{i}" for i in range(30)]
    docs = [
        [
            " ".join([f"d{d}", f"s{i}", *rng.choice(filler, rng.integers(3, 12))])
            for i in range(NUM_SENTENCES)
        ]
        for d in range(NUM_DOCS)
    ]
    words = [f"d{d}" for d in range(NUM_DOCS)]
    words += [f"s{i}" for i in range(NUM_SENTENCES)] + filler
    vocabulary = RESERVED + words
    tokenizer = keras_hub.tokenizers.WordPieceTokenizer(vocabulary)
    return docs, vocabulary, tokenizer


@pytest.fixture(scope="module")
def bert_epoch(corpus):
    docs, _, tokenizer = corpus
    ds = pipelines.bert_pretraining_dataset(
        docs, tokenizer, sequence_length=40, batch_size=256, max_predictions=40
    )
    return collect(ds)


def encode(sentence, vocabulary):
    return [vocabulary.index(w) for w in sentence.split()]


def restore(x, y):
    """Token ids before masking: put the mlm labels back at mask_positions."""
    original = x["token_ids"].copy()
    for row in range(len(original)):
        used = y["mlm"][row] != 0
        original[row, x["mask_positions"][row, used]] = y["mlm"][row, used]
    return original


def sigma5(p, n):
    return 5 * math.sqrt(p * (1 - p) / n)


def test_bert_layout_and_next_sentence_pairs(corpus, bert_epoch):
    docs, vocabulary, _ = corpus
    x, y = bert_epoch
    where = {
        tuple(encode(s, vocabulary)): (d, i)
        for d in range(NUM_DOCS)
        for i, s in enumerate(docs[d])
    }
    original = restore(x, y)
    seen_first = []
    for row, ids in enumerate(original):
        seps = np.flatnonzero(ids == SEP)
        assert ids[0] == CLS and len(seps) == 2
        a, b = tuple(ids[1 : seps[0]]), tuple(ids[seps[0] + 1 : seps[1]])
        (doc_a, i_a), (doc_b, i_b) = where[a], where[b]
        if y["nsp"][row] == 1:
            assert (doc_b, i_b) == (doc_a, i_a + 1)
        else:
            assert doc_b != doc_a  # random B never from A's document
        seen_first.append((doc_a, i_a))
        segments = np.zeros_like(ids)
        segments[seps[0] + 1 : seps[1] + 1] = 1
        np.testing.assert_array_equal(x["segment_ids"][row], segments)
        np.testing.assert_array_equal(x["padding_mask"][row], np.arange(40) <= seps[1])
        assert not ids[seps[1] + 1 :].any()
    # Every sentence with a successor is an A exactly once.
    expected = [(d, i) for d in range(NUM_DOCS) for i in range(NUM_SENTENCES - 1)]
    assert sorted(seen_first) == expected
    n = len(y["nsp"])
    assert abs(y["nsp"].mean() - 0.5) < sigma5(0.5, n)


def test_bert_selects_15_percent_of_non_special_tokens(bert_epoch):
    x, y = bert_epoch
    original = restore(x, y)
    selectable = (original > MASK).sum(axis=1)
    selected = (y["mlm"] != 0).sum(axis=1)
    # tf-text selects exactly ceil(rate * n) per sequence (float32 math).
    expected = np.ceil(selectable.astype("float32") * np.float32(0.15))
    np.testing.assert_array_equal(selected, np.minimum(expected, 40))
    rate = selected.sum() / selectable.sum()
    assert 0.15 <= rate <= 0.15 + len(selected) / selectable.sum()
    for row in range(len(original)):
        used = y["mlm"][row] != 0
        positions = x["mask_positions"][row, used]
        assert len(set(positions)) == len(positions)
        assert (original[row, positions] > MASK).all()  # never a special token
        np.testing.assert_array_equal(original[row, positions], y["mlm"][row, used])
        assert not x["mask_positions"][row, ~used].any()
        untouched = np.ones(40, bool)
        untouched[positions] = False
        np.testing.assert_array_equal(
            x["token_ids"][row, untouched], original[row, untouched]
        )


def test_bert_replacements_split_80_10_10(corpus, bert_epoch):
    vocabulary_size = len(corpus[1])
    x, y = bert_epoch
    rows, slots = np.nonzero(y["mlm"])
    new = x["token_ids"][rows, x["mask_positions"][rows, slots]]
    old = y["mlm"][rows, slots]
    n = len(new)
    assert n > 5000
    # A random replacement is [MASK] or the original token 1/V of the time.
    p_mask = 0.8 + 0.1 / vocabulary_size
    p_same = 0.1 + 0.1 / vocabulary_size
    p_random = 1 - p_mask - p_same
    assert abs((new == MASK).mean() - p_mask) < sigma5(p_mask, n)
    assert abs((new == old).mean() - p_same) < sigma5(p_same, n)
    is_random = (new != MASK) & (new != old)
    assert abs(is_random.mean() - p_random) < sigma5(p_random, n)
    assert (new >= 0).all() and (new < vocabulary_size).all()


def test_bert_caps_predictions(corpus):
    docs, _, tokenizer = corpus
    ds = pipelines.bert_pretraining_dataset(
        docs[:5], tokenizer, sequence_length=32, batch_size=8, max_predictions=2
    )
    x, y = collect(ds)
    assert x["mask_positions"].shape[1] == y["mlm"].shape[1] == 2
    assert ((y["mlm"] != 0).sum(axis=1) == 2).all()
    assert x["token_ids"].shape[1] == 32


def test_bert_errors(corpus):
    docs, _, tokenizer = corpus
    with pytest.raises(ValueError, match="2 non-empty documents"):
        pipelines.bert_pretraining_dataset(docs[:1], tokenizer)
    with pytest.raises(TypeError, match="list of sentences"):
        pipelines.bert_pretraining_dataset(["a. b.", "c. d."], tokenizer)
    bytes_only = tokenizers.byte_tokenizer()
    with pytest.raises(ValueError, match=r"\[CLS\]"):
        pipelines.bert_pretraining_dataset(docs[:3], bytes_only)


def test_next_sentence_pairs_same_seed_same_pairs(corpus):
    docs = corpus[0][:10]
    assert pipelines.next_sentence_pairs(docs, seed=3) == pipelines.next_sentence_pairs(
        docs, seed=3
    )
    assert pipelines.next_sentence_pairs(docs, seed=3) != pipelines.next_sentence_pairs(
        docs, seed=4
    )


def byte_ids(text):
    """Independent reference for `byte_tokenizer`: byte b -> id b + 2."""
    return [b + 2 for b in text.encode("utf-8")]


@pytest.mark.parametrize("shuffle", [False, True])
def test_causal_lm_blocks_follow_the_stream(shuffle):
    texts = ["hello world", "añb", "", "x" * 30, "the end"]
    stream = sum((byte_ids(t) + [1] for t in texts), [])
    ds = pipelines.causal_lm_dataset(
        texts, tokenizers.byte_tokenizer(), 8, batch_size=3, shuffle=shuffle
    )
    x, y = collect(ds)
    blocks = np.array(stream[: len(stream) // 9 * 9]).reshape(-1, 9)
    got = np.concatenate([x["token_ids"], y[:, -1:]], axis=1)
    if shuffle:
        got, blocks = np.unique(got, axis=0), np.unique(blocks, axis=0)
    np.testing.assert_array_equal(got, blocks)  # ragged tail dropped
    np.testing.assert_array_equal(y[:, :-1], x["token_ids"][:, 1:])
    assert x["padding_mask"].all()


def test_causal_lm_too_short():
    with pytest.raises(ValueError, match="fewer than one block"):
        pipelines.causal_lm_dataset(["hi"], tokenizers.byte_tokenizer(), 8, 2)


def test_translation_shift_start_end_truncation():
    pairs = [("hola", "hi"), ("una frase larga", "a long sentence"), ("", "")]
    start, end = 258, 1
    ds = pipelines.translation_dataset(
        pairs,
        tokenizers.byte_tokenizer(),
        tokenizers.byte_tokenizer(),
        6,
        5,
        batch_size=2,
        start_token_id=start,
        end_token_id=end,
        shuffle=False,
    )
    x, y = collect(ds)
    for row, (source, target) in enumerate(pairs):
        src = byte_ids(source)[:6]
        tgt = byte_ids(target)[:4]  # room for the start / end token
        pad = [0] * (4 - len(tgt))
        np.testing.assert_array_equal(
            x["encoder_token_ids"][row], src + [0] * (6 - len(src))
        )
        np.testing.assert_array_equal(x["decoder_token_ids"][row], [start] + tgt + pad)
        np.testing.assert_array_equal(y[row], tgt + [end] + pad)
        # Labels are the decoder input shifted left by one.
        np.testing.assert_array_equal(
            y[row, : len(tgt)], x["decoder_token_ids"][row, 1 : len(tgt) + 1]
        )


def round_robin(len_a, len_b, room):
    """Tokens kept from A and B: one each in turn, A first."""
    a = b = 0
    while a + b < room and (a < len_a or b < len_b):
        if a < len_a:
            a += 1
        if a + b < room and b < len_b:
            b += 1
    return a, b


def test_classification_packing_and_round_robin_truncation(corpus):
    _, vocabulary, tokenizer = corpus
    texts = ["w1 w2 w3 w4 w5 w6 w7", "w1", "w1 w2 w3 w4 w5 w6 w7", "w9 w8"]
    pairs = ["w8 w9", "w2 w3 w4 w5 w6 w7 w8 w9", "w1 w2 w3 w4 w5 w6", "w7"]
    ds = pipelines.classification_dataset(
        texts,
        [0, 1, 2, 3],
        tokenizer,
        10,
        batch_size=3,
        text_pairs=pairs,
        shuffle=False,
    )
    x, y = collect(ds)
    np.testing.assert_array_equal(y, [0, 1, 2, 3])
    for row, (a, b) in enumerate(zip(texts, pairs)):
        a, b = encode(a, vocabulary), encode(b, vocabulary)
        keep_a, keep_b = round_robin(len(a), len(b), 10 - 3)
        ids = [CLS] + a[:keep_a] + [SEP] + b[:keep_b] + [SEP]
        segments = [0] * (keep_a + 2) + [1] * (keep_b + 1)
        pad = 10 - len(ids)
        np.testing.assert_array_equal(x["token_ids"][row], ids + [0] * pad)
        np.testing.assert_array_equal(x["segment_ids"][row], segments + [0] * pad)
        np.testing.assert_array_equal(
            x["padding_mask"][row], [1] * len(ids) + [0] * pad
        )


def test_classification_single_text(corpus):
    _, vocabulary, tokenizer = corpus
    ds = pipelines.classification_dataset(
        ["w3 w4"], [5], tokenizer, 6, 4, shuffle=False
    )
    x, y = collect(ds)
    np.testing.assert_array_equal(
        x["token_ids"], [[CLS, *encode("w3 w4", vocabulary), SEP, 0, 0]]
    )
    assert not x["segment_ids"].any() and y.tolist() == [5]
    with pytest.raises(ValueError, match="one label per text"):
        pipelines.classification_dataset(["a"], [1, 2], tokenizer, 6, 4)


@pytest.mark.parametrize("head", [0, 2, 6])
def test_classification_keeps_head_and_tail_of_long_texts(corpus, head):
    _, vocabulary, tokenizer = corpus
    words = [f"w{i}" for i in range(12)]
    texts = [" ".join(words), " ".join(words[:5]), " ".join(words[:7])]
    ds = pipelines.classification_dataset(
        texts, [0, 1, 2], tokenizer, 8, 4, shuffle=False, head_tokens=head
    )
    x, _ = collect(ds)
    budget = 8 - 2  # [CLS] and [SEP]
    for text, row in zip(texts, x["token_ids"]):
        ids = encode(text, vocabulary)
        if len(ids) > budget:  # the first `head` ids and the last ones
            ids = ids[:head] + ids[len(ids) - (budget - head) :]
        expected = [CLS, *ids, SEP]
        np.testing.assert_array_equal(row, expected + [PAD] * (8 - len(expected)))


def test_head_tokens_errors(corpus):
    _, _, tokenizer = corpus
    with pytest.raises(ValueError, match="head_tokens.*at most 6"):
        pipelines.classification_dataset(["a"], [0], tokenizer, 8, 4, head_tokens=7)
    with pytest.raises(ValueError, match="single texts"):
        pipelines.classification_dataset(
            ["a"], [0], tokenizer, 8, 4, text_pairs=["b"], head_tokens=2
        )


def test_tagging_tags_the_first_piece():
    vocabulary = RESERVED + ["play", "##ing", "##ed", "go", "home"]
    tokenizer = keras_hub.tokenizers.WordPieceTokenizer(vocabulary)
    words = [["go", "playing", "home"], ["played", "zz", "go"]]
    tags = [[1, 2, 3], [4, 5, 6]]
    ds = pipelines.tagging_dataset(words, tags, tokenizer, 6, 2, shuffle=False)
    x, y = collect(ds)
    np.testing.assert_array_equal(
        x["token_ids"], [[2, 8, 5, 6, 9, 3], [2, 5, 7, 1, 8, 3]]
    )
    np.testing.assert_array_equal(y, [[-1, 1, 2, -1, 3, -1], [-1, 4, -1, 5, 6, -1]])
    # Truncated: the last pieces go, [SEP] stays, padding is tagged -1.
    ds = pipelines.tagging_dataset(words, tags, tokenizer, 4, 2, shuffle=False)
    x, y = collect(ds)
    np.testing.assert_array_equal(x["token_ids"], [[2, 8, 5, 3], [2, 5, 7, 3]])
    np.testing.assert_array_equal(y, [[-1, 1, 2, -1], [-1, 4, -1, -1]])
    ds = pipelines.tagging_dataset([["go"]], [[7]], tokenizer, 5, 2, shuffle=False)
    x, y = collect(ds)
    np.testing.assert_array_equal(y, [[-1, 7, -1, -1, -1]])
    assert x["padding_mask"].tolist() == [[True, True, True, False, False]]
    with pytest.raises(ValueError, match="one tag"):
        pipelines.tagging_dataset([["go"]], [[1, 2]], tokenizer, 5, 2)


def test_image_classification_scales_and_keeps_labels():
    images = np.arange(6 * 2 * 2, dtype="uint8").reshape(6, 2, 2, 1) * 5
    ds = pipelines.image_classification_dataset(images, np.arange(6), 4, shuffle=False)
    x = np.concatenate([b[0].numpy() for b in ds])
    y = np.concatenate([b[1].numpy() for b in ds])
    np.testing.assert_allclose(x, images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, np.arange(6))
    with pytest.raises(ValueError, match="uint8"):
        pipelines.image_classification_dataset(images / 255.0, np.arange(6), 4)
    with pytest.raises(ValueError, match="one label per image"):
        pipelines.image_classification_dataset(images, np.arange(5), 4)


def test_image_augmentation_draws_per_image_and_per_epoch():
    """A random layer inside `tf.data` must not repeat one draw: each image
    of a batch gets its own, and the next epoch others."""
    import keras

    images = np.zeros((32, 8, 8, 1), "uint8")
    images[:, :, :4] = 255  # left half white: a flip moves it right
    augment = keras.layers.RandomFlip("horizontal", seed=3)
    ds = pipelines.image_classification_dataset(
        images, np.zeros(32), 32, shuffle=False, augment=augment
    )
    flips = [next(iter(ds))[0].numpy()[:, 0, -1, 0] > 0.5 for _ in range(2)]
    for flipped in flips:
        assert 0 < flipped.sum() < 32  # some images flipped, not all
    assert (flips[0] != flips[1]).any()


def test_image_augmentation_layers_apply_in_order():
    import keras

    images = np.zeros((4, 6, 6, 1), "uint8")
    images[:, 0, 0] = 255  # one bright corner pixel
    # A flip that always flips, then a fixed one-pixel shift down.
    layers = [
        keras.layers.RandomFlip("horizontal", seed=0),
        keras.layers.RandomTranslation(
            (1 / 6, 1 / 6), 0, fill_mode="constant", interpolation="nearest"
        ),
    ]
    ds = pipelines.image_classification_dataset(
        images, np.zeros(4), 4, shuffle=False, augment=layers
    )
    x = next(iter(ds))[0].numpy()[..., 0]
    for image in x:
        row, column = np.argwhere(image > 0.5)[0]
        assert row == 1 and column in (0, 5)  # shifted; flipped or not
