import math

import keras
import keras_hub
import numpy as np
import pytest
from keras import ops

from keras_attn.models import TransformerSeq2Seq
from tests import references
from tests.layers.copy_weights import copy_hub_decoder
from tests.layers.copy_weights import copy_hub_encoder
from tests.test_case import assert_close
from tests.test_case import load_in_fresh_process
from tests.test_case import to_numpy

SMALL = dict(
    encoder_vocabulary_size=13,
    num_layers=2,
    num_heads=2,
    hidden_dim=8,
    intermediate_dim=16,
    dropout=0.0,
    max_sequence_length=7,
)
SOURCE = np.array([[5, 6, 7, 8, 9, 0], [4, 10, 0, 0, 0, 0]], "int32")
TARGET = np.array([[2, 5, 7, 8], [2, 6, 0, 0]], "int32")


def small_model(**overrides):
    return TransformerSeq2Seq(**{**SMALL, **overrides})


def inputs(source=SOURCE, target=TARGET):
    return {"encoder_token_ids": source, "decoder_token_ids": target}


def hub_reference(model, source, target):
    """The same network from keras-hub layers, weights copied from `model`.

    Embeddings: keras Embedding × √D + keras-hub SinePositionEncoding;
    blocks: keras_hub.layers.TransformerEncoder/Decoder; tied logits.
    """
    D = model.hidden_dim
    table = to_numpy(model.encoder_embedding.token_embedding.embeddings)
    sine = keras_hub.layers.SinePositionEncoding()

    def embed(ids):
        x = table[ids] * math.sqrt(D)
        return x + to_numpy(sine(x))

    kwargs = dict(
        intermediate_dim=model.intermediate_dim,
        num_heads=model.num_heads,
        normalize_first=model.normalize_first,
        layer_norm_epsilon=1e-5,
    )
    x = embed(source)
    source_mask = source != 0
    for ours in model.encoder_layers:
        hub = keras_hub.layers.TransformerEncoder(**kwargs)
        hub.build(x.shape)
        copy_hub_encoder(hub, ours)
        x = to_numpy(hub(x, padding_mask=source_mask))
    encoded = x
    y = embed(target)
    for ours in model.decoder_layers:
        hub = keras_hub.layers.TransformerDecoder(**kwargs)
        hub.build(y.shape, encoded.shape)
        copy_hub_decoder(hub, ours)
        y = to_numpy(
            hub(
                y,
                encoded,
                decoder_padding_mask=target != 0,
                encoder_padding_mask=source_mask,
            )
        )
    return y @ table.T


@pytest.mark.parametrize("normalize_first", [False])
def test_matches_keras_hub_layers_with_padding(normalize_first):
    model = small_model(normalize_first=normalize_first)
    expected = hub_reference(model, SOURCE, TARGET)
    actual = to_numpy(model(inputs()))
    real = TARGET != 0  # Padded target positions are not compared.
    assert_close(actual[real], expected[real])


def test_extra_source_padding_changes_nothing():
    model = small_model()
    longer = np.pad(SOURCE, [[0, 0], [0, 1]])
    assert_close(model(inputs(longer)), model(inputs()))


def test_cross_attention_comes_from_source_padding():
    model = small_model()
    encoded, mask = model.encode(SOURCE)
    _, cross = model.decode(TARGET, encoded, mask, return_attention_scores=True)
    assert len(cross) == SMALL["num_layers"]
    weights = to_numpy(cross[-1])  # (B, N, T, S)
    assert weights.shape == (2, 2, 4, 6)
    np.testing.assert_array_equal(weights[1, :, :, 2:], 0.0)
    # Real target positions spread one unit of attention over the source;
    # padded target positions (queries) attend nowhere.
    sums = weights.sum(-1).transpose(0, 2, 1)  # (B, T, N)
    assert_close(sums[TARGET != 0], 1.0)
    np.testing.assert_array_equal(sums[TARGET == 0], 0.0)


def test_cached_steps_equal_the_full_pass():
    model = small_model()
    encoded, mask = model.encode(SOURCE)
    full = to_numpy(model.decode(TARGET, encoded, mask))
    self_caches, cross_caches = model.init_cache(encoded, max_length=5)
    for i in range(TARGET.shape[1]):
        logits, self_caches, _ = model.decode_step(
            ops.convert_to_tensor(TARGET[:, i]), i, self_caches, cross_caches, mask
        )
        row = TARGET[:, i] != 0
        assert_close(to_numpy(logits)[row], full[row, i])


def forward(model):
    """`(source, target) -> (B, T, V)` logits of full, uncached passes."""
    return lambda source, target: to_numpy(model(inputs(source, target)))


def greedy_reference(model, source, max_length):
    return references.greedy_decode(
        forward(model), source, max_length, model.start_id, model.end_id
    )


def beam_reference(model, source, max_length, beam_size, length_penalty):
    return references.beam_decode(
        forward(model),
        source,
        max_length,
        model.start_id,
        model.end_id,
        beam_size,
        length_penalty,
    )


def test_greedy_generation_equals_uncached_argmax():
    model = small_model()
    ids, weights = model.generate(SOURCE, max_length=5)
    np.testing.assert_array_equal(ids, greedy_reference(model, SOURCE, 5))
    assert weights.shape == (2, 5, SMALL["max_sequence_length"])
    alive = np.cumsum(ids == model.end_id, 1) - (ids == model.end_id) == 0
    assert_close(weights.sum(-1)[alive], np.ones(alive.sum()))
    np.testing.assert_array_equal(weights[1, :, 2:], 0.0)


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_beam_search_equals_reference(length_penalty):
    # Few classes and a peaked model so beams end at different lengths.
    model = small_model(encoder_vocabulary_size=6, start_id=1, end_id=2)
    weights = model.get_weights()
    rng = np.random.default_rng(1)
    model.set_weights([w + rng.normal(0, 0.5, w.shape) for w in weights])
    source = np.array([[3, 4, 5, 0], [5, 5, 0, 0]], "int32")
    ids, _ = model.generate(
        source, max_length=4, beam_size=3, length_penalty=length_penalty
    )
    expected = beam_reference(model, source, 4, 3, length_penalty)
    np.testing.assert_array_equal(ids, expected)


def test_beam_size_one_is_greedy():
    model = small_model()
    greedy, _ = model.generate(SOURCE, max_length=5)
    beam, _ = model.generate(SOURCE, max_length=5, beam_size=1, length_penalty=0.0)
    np.testing.assert_array_equal(greedy, beam)


def test_generation_compiles_once_per_setting():
    model = small_model()
    model.generate(SOURCE, max_length=5, beam_size=2)
    decoder = model.make_generate_function(5, beam_size=2)
    traces = decoder.trace_count  # The first call may also build (JAX).
    for length in (3, 6, 4):
        model.generate(SOURCE[:, :length], max_length=5, beam_size=2)
    assert decoder.trace_count == traces


@pytest.mark.parametrize(
    "overrides",
    # Shared vocabulary and tied output: one table, no logits layer.
    [{}, {"decoder_vocabulary_size": 11, "tie_embeddings": False}],
)
def test_vocabularies_and_tying(overrides):
    model = small_model(**overrides)
    D, V = SMALL["hidden_dim"], SMALL["encoder_vocabulary_size"]
    tables = [
        w for w in model.weights if "embedding" in w.path and "position" not in w.path
    ]
    if "decoder_vocabulary_size" in overrides:
        assert sorted(tuple(w.shape) for w in tables) == [(11, D), (V, D)]
        assert model.output_dense.kernel.shape == (D, 11)
        assert tuple(model(inputs()).shape) == (2, 4, 11)
    else:
        assert [tuple(w.shape) for w in tables] == [(V, D)]
        assert model.output_dense is None


def test_save_and_load_round_trip(tmp_path):
    model = small_model(decoder_vocabulary_size=11, normalize_first=True)
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.get_config() == model.get_config()
    assert_close(restored(inputs()), model(inputs()))
    np.testing.assert_array_equal(
        restored.generate(SOURCE, 4, beam_size=2)[0],
        model.generate(SOURCE, 4, beam_size=2)[0],
    )


def test_fit_learns_to_copy():
    rng = np.random.default_rng(0)
    source = rng.integers(4, 13, size=(256, 5)).astype("int32")
    decoder_in = np.concatenate([np.full((256, 1), 2), source], 1).astype("int32")
    labels = np.concatenate([source, np.full((256, 1), 3)], 1).astype("int32")
    model = small_model(hidden_dim=32, intermediate_dim=64)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(
        inputs(source, decoder_in), labels, epochs=8, batch_size=32, verbose=0
    )
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]


def test_mixed_precision_and_xla():
    model = small_model()
    eager = to_numpy(model(inputs()))
    model.compile(jit_compile=True)
    assert_close(model.predict(inputs(), verbose=0), eager, atol=1e-4)
    keras.config.set_dtype_policy("mixed_bfloat16")
    half = small_model()
    outputs = to_numpy(ops.cast(half(inputs()), "float32"))
    assert np.isfinite(outputs).all()
    ids, weights = half.generate(SOURCE, max_length=3, beam_size=2)
    assert np.isfinite(weights).all()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: m.generate(SOURCE, max_length=8), "max_length"),
        (lambda m: m.generate(SOURCE, max_length=0), "max_length"),
        (lambda m: m.generate(SOURCE, beam_size=0), "beam_size"),
        (lambda m: m.generate(np.ones((1, 9), "int32")), "max_sequence_length"),
        (lambda m: m.generate(np.ones((9,), "int32")), "shape"),
    ],
)
def test_bad_generation_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call(small_model())


def test_empty_source_gives_finite_output():
    model = small_model()
    empty = np.zeros((1, 4), "int32")
    ids, weights = model.generate(empty, max_length=3)
    assert np.isfinite(weights).all()
    np.testing.assert_array_equal(weights, 0.0)


def worded_model(**overrides):
    from keras_attn.data import tokenizers

    pairs = ["el rey vio la casa", "the king saw the house", "la mujer", "a woman"]
    tokenizer = tokenizers.train_word_piece(pairs * 5, 60)
    model = TransformerSeq2Seq(
        **{
            **SMALL,
            "encoder_vocabulary_size": tokenizer.vocabulary_size(),
            "max_sequence_length": 24,
            **overrides,
        },
        tokenizer=tokenizer,
    )
    return model, tokenizer


def test_translates_strings_as_the_greedy_reference():
    model, tokenizer = worded_model()
    texts = ["el rey vio la casa", "la mujer"]
    rows = [np.asarray(tokenizer.tokenize(t)).tolist() for t in texts]
    source = np.zeros((2, 24), "int32")
    for i, row in enumerate(rows):
        source[i, : len(row)] = row
    expected = []
    for row in greedy_reference(model, source, 6).tolist():
        row = row[: row.index(model.end_id)] if model.end_id in row else row
        words = tokenizer.detokenize([i for i in row if i])
        words = words.numpy().decode() if hasattr(words, "numpy") else str(words)
        expected.append(words)
    from keras_attn.models.text import tidy_word_pieces

    assert model.generate(texts, 6) == [tidy_word_pieces(e) for e in expected]
    assert model.generate(texts[0], 6) == model.generate(texts, 6)[0]
    with pytest.raises(ValueError, match="more than max_sequence_length=24"):
        model.generate(" ".join(["el rey"] * 10), 6)


def test_text_model_keras_round_trip(tmp_path):
    model, _ = worded_model()
    path = str(tmp_path / "translator.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.generate(["la mujer"], 5, beam_size=2) == model.generate(
        ["la mujer"], 5, beam_size=2
    )


@pytest.mark.one_backend  # test_gpt.py reloads in a fresh JAX process.
def test_text_model_translates_in_a_fresh_process(tmp_path):
    model, _ = worded_model()
    path = tmp_path / "translator.keras"
    model.save(path)
    texts = ["el rey vio la casa", "la mujer"]
    received = load_in_fresh_process(
        path, "model.generate(sys.argv[2:], 5, beam_size=2)", *texts
    )
    assert received == model.generate(texts, 5, beam_size=2)
