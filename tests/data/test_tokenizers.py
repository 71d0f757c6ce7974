import random
import time

import numpy as np
import pytest
import regex
import tensorflow as tf

from keras_attn.data import tokenizers

MIXED = [
    "The quick brown fox jumps over the lazy dog.",
    "El niño comió piñas y café en la montaña; ¿qué más?",
    "Numbers 12345 and 6.78, tabs\tand  double  spaces\n\nnew lines.",
    "it's we're I'll they'd (brackets) [x] {y} <z> a-b_c",
]
# No NUL: tf-text's regex split (the tf.data path) ends the text at a NUL.
ROUND_TRIP = MIXED + ["", " ", "àéîõü ÀÉÎÕÜ ñÑ çÇ", "日本語のテキスト", "emoji 🙂👍"]


def graph_ids(tokenizer, texts):
    """Ids from keras-hub's tf.data path, the one the pipelines use."""
    ds = tf.data.Dataset.from_tensor_slices(texts).batch(len(texts))
    ids = next(iter(ds.map(tokenizer)))
    return ids.to_list() if isinstance(ids, tf.RaggedTensor) else ids.numpy().tolist()


def reference_encode(text, merges, vocabulary):
    """GPT-2 byte-level BPE written out plainly (independent of the trainer)."""
    byte_map = {b: chr(b) for b in range(33, 127)}
    byte_map.update({b: chr(b) for b in range(161, 173)})
    byte_map.update({b: chr(b) for b in range(174, 256)})
    others = [b for b in range(256) if b not in byte_map]
    byte_map.update({b: chr(256 + k) for k, b in enumerate(others)})
    ranks = {tuple(m.split(" ")): r for r, m in enumerate(merges)}
    pattern = (
        r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
    )
    ids = []
    for word in regex.findall(pattern, text):
        symbols = [byte_map[b] for b in word.encode("utf-8")]
        while len(symbols) > 1:
            pairs = list(zip(symbols, symbols[1:]))
            best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
            if best not in ranks:
                break
            i = pairs.index(best)
            symbols[i : i + 2] = [best[0] + best[1]]
        ids.extend(vocabulary[s] for s in symbols)
    return ids


@pytest.fixture(scope="module")
def bpe():
    corpus = MIXED * 20 + ["señora señor señorita piña piñata"] * 10
    return tokenizers.train_byte_pair(corpus, 400)


@pytest.fixture(scope="module")
def word_piece():
    corpus = ["the cat sat on the mat", "the dog sat on the log"] * 5
    return tokenizers.train_word_piece(corpus, 60)


def test_word_piece_reserved_tokens_take_ids_0_to_4(word_piece):
    vocabulary = word_piece.get_vocabulary()
    assert vocabulary[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert len(set(vocabulary)) == len(vocabulary)
    ids = [int(i) for i in word_piece.tokenize("The cat sat")]
    pieces = " ".join(vocabulary[i] for i in ids)
    assert pieces.replace(" ##", "") == "the cat sat"  # lowercased, no [UNK]


def test_word_piece_unknown_characters_become_unk(word_piece):
    ids = graph_ids(word_piece, ["the ☃ cat", "zzz"])
    assert ids[0][1] == 1 and ids[0][0] != 1
    assert ids[1] == [1]


def test_word_piece_sequence_length_truncates_and_pads():
    tokenizer = tokenizers.train_word_piece(["a b c d e"] * 3, 20, sequence_length=3)
    vocab = tokenizer.get_vocabulary()
    ids = graph_ids(tokenizer, ["a b c d e", "a"])
    assert ids[0] == [vocab.index(w) for w in "abc"]
    assert ids[1] == [vocab.index("a"), 0, 0]


def test_word_piece_needs_unk():
    with pytest.raises(ValueError, match="UNK"):
        tokenizers.train_word_piece(["a b"], 20, reserved_tokens=("[PAD]",))


def test_bpe_learns_the_obvious_merges():
    # Words: "ab" once, " ab" three times, " cd" once. Pair counts: (a, b) 4,
    # (Ġ, a) 3, (Ġ, c) 1, (c, d) 1; after "a b": (Ġ, ab) 3, then nothing twice.
    tokenizer = tokenizers.train_byte_pair(["ab ab ab ab cd"], 300)
    assert tokenizer.merges == ["a b", "Ġ ab"]
    assert tokenizer.vocabulary_size() == 260
    assert graph_ids(tokenizer, [" ab ab"]) == [[259, 259]]


def test_bpe_reserved_and_byte_ids(bpe):
    assert int(bpe.token_to_id("<pad>")) == 0
    assert int(bpe.token_to_id("<|endoftext|>")) == 1
    # A byte the corpus never merges: "~" (0x7e) has id 0x7e + 2.
    assert graph_ids(bpe, ["~"]) == [[0x7E + 2]]
    ids = graph_ids(bpe, ["a<|endoftext|>b"])[0]
    assert ids == [ord("a") + 2, 1, ord("b") + 2]
    assert 0 not in sum(graph_ids(bpe, ROUND_TRIP), [])


def test_bpe_encodes_like_a_reference_gpt2_encoder(bpe):
    vocabulary = dict(bpe.vocabulary)
    texts = MIXED + ["señorita piñata", "the señora's 42 piñas"]
    expected = [reference_encode(t, bpe.merges, vocabulary) for t in texts]
    assert graph_ids(bpe, texts) == expected
    # Frequent words were learned as single tokens.
    assert len(graph_ids(bpe, [" señorita"])[0]) == 1


@pytest.mark.parametrize("make", ["bpe", "bytes"])
def test_byte_level_round_trip(bpe, make):
    tokenizer = bpe if make == "bpe" else tokenizers.byte_tokenizer()
    for ids, text in zip(graph_ids(tokenizer, ROUND_TRIP), ROUND_TRIP):
        assert tokenizer.detokenize(ids) == text
        assert tokenizer.detokenize(tokenizer.tokenize(text)) == text


def test_byte_tokenizer_ids_are_bytes_plus_two():
    tokenizer = tokenizers.byte_tokenizer()
    text = "a é🙂"
    expected = [b + 2 for b in text.encode("utf-8")]
    assert graph_ids(tokenizer, [text]) == [expected]
    # Eagerly, NUL is byte 0 -> id 2, not the padding id.
    assert [int(i) for i in tokenizer.tokenize("a\x00b")] == [99, 2, 100]
    assert tokenizer.vocabulary_size() == 259


@pytest.mark.parametrize("name", ["word_piece", "bpe", "bytes"])
def test_empty_string_gives_no_ids(name, word_piece, bpe):
    tokenizer = {"word_piece": word_piece, "bpe": bpe}.get(name)
    tokenizer = tokenizer or tokenizers.byte_tokenizer()
    assert graph_ids(tokenizer, ["", "a"])[0] == []
    assert len(tokenizer.tokenize("")) == 0


@pytest.mark.parametrize("name", ["word_piece", "bpe", "bytes"])
def test_save_load_round_trip(name, word_piece, bpe, tmp_path):
    tokenizer = {"word_piece": word_piece, "bpe": bpe}.get(name)
    tokenizer = tokenizer or tokenizers.byte_tokenizer(sequence_length=12)
    tokenizers.save_tokenizer(tokenizer, tmp_path / "model")
    (tmp_path / "model" / "model.keras").write_bytes(b"")  # a model beside it
    loaded = tokenizers.load_tokenizer(tmp_path / "model")
    assert type(loaded) is type(tokenizer)
    assert loaded.get_config() == tokenizer.get_config()
    texts = MIXED + ["señor ☃ <|endoftext|>"]
    assert graph_ids(loaded, texts) == graph_ids(tokenizer, texts)
    for text in texts:
        np.testing.assert_array_equal(loaded.tokenize(text), tokenizer.tokenize(text))


def test_bad_arguments():
    with pytest.raises(ValueError, match="258"):
        tokenizers.train_byte_pair(["abc"], 100)
    with pytest.raises(TypeError, match="list of str"):
        tokenizers.train_byte_pair("abc", 300)
    with pytest.raises(FileNotFoundError, match="save_tokenizer"):
        tokenizers.load_tokenizer("/nonexistent/dir")
    with pytest.raises(TypeError, match="Tokenizer"):
        tokenizers.save_tokenizer("not a tokenizer", "/tmp/x")


def test_bpe_trains_a_megabyte_quickly():
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyzáéíóúñ"
    words = [
        "".join(rng.choice(letters) for _ in range(rng.randint(1, 9)))
        for _ in range(5000)
    ]
    texts = [" ".join(rng.choices(words, k=12)) + "." for _ in range(12500)]
    assert sum(len(t.encode("utf-8")) for t in texts) > 1_000_000
    start = time.perf_counter()
    tokenizer = tokenizers.train_byte_pair(texts, 2000)
    assert time.perf_counter() - start < 20  # measured: ~1 s per MB + merges
    assert tokenizer.vocabulary_size() == 2000
