import os
import tempfile

import keras
import keras_hub
import numpy as np
import pytest

from keras_attn import samplers
from keras_attn.models.gpt import GPTBackbone
from keras_attn.models.gpt import GPTCausalLM
from keras_attn.models.gpt.gpt_causal_lm import buffer_length
from tests.layers.copy_weights import copy_hub_decoder
from tests.test_case import assert_close
from tests.test_case import byte_gpt
from tests.test_case import load_in_fresh_process
from tests.test_case import to_numpy

SMALL = dict(
    vocabulary_size=100,
    num_layers=2,
    num_heads=4,
    hidden_dim=32,
    intermediate_dim=64,
    max_sequence_length=16,
)
TOKENS = np.array([[5, 17, 42, 8, 99, 3, 0, 0], [61, 2, 9, 0, 0, 0, 0, 0]], "int32")
MASK = (TOKENS != 0).astype("int32")
PROMPTS = [[5, 17, 42, 8], [61], [9, 33]]


def small_lm(**overrides):
    return GPTCausalLM(GPTBackbone(**{**SMALL, **overrides}))


def inputs(tokens=TOKENS, mask=MASK):
    return {"token_ids": tokens, "padding_mask": mask}


def copy_hub_gpt2(hub, ours):
    """keras_hub GPT2Backbone -> GPTBackbone."""
    ours.embeddings.token_embedding.embeddings.assign(hub.token_embedding.embeddings)
    ours.embeddings.position_embedding.position_embeddings.assign(
        hub.position_embedding.position_embeddings
    )
    for hub_layer, our_layer in zip(hub.transformer_layers, ours.transformer_layers):
        copy_hub_decoder(hub_layer, our_layer)
    ours.layer_norm.set_weights(hub.layer_norm.get_weights())


def hub_and_ours():
    hub = keras_hub.models.GPT2Backbone(**SMALL, dropout=0.0)
    lm = small_lm()
    copy_hub_gpt2(hub, lm.backbone)
    return hub, lm


def full_pass_greedy(lm, rows, max_new_tokens):
    """Reference decoding: argmax of a full uncached forward pass per token,
    over the ids other than the padding id 0."""
    out = []
    for row in rows:
        seq = list(row)
        for _ in range(max_new_tokens):
            ids = np.array([seq], "int32")
            logits = to_numpy(lm(inputs(ids, np.ones_like(ids))))
            seq.append(int(np.argmax(logits[0, -1, 1:])) + 1)  # 0 pads
        out.append(seq)
    return out


def padded(rows, width):
    return np.array([row + [0] * (width - len(row)) for row in rows], "int32")


def test_backbone_and_logits_match_keras_hub_gpt2():
    hub, lm = hub_and_ours()
    valid = MASK.astype(bool)
    expected = to_numpy(hub(inputs()))
    assert_close(to_numpy(lm.backbone(inputs()))[valid], expected[valid])
    # Logits through the tied embedding, as keras-hub's GPT2CausalLM.
    hub_lm = keras_hub.models.GPT2CausalLM(backbone=hub, preprocessor=None)
    assert_close(to_numpy(lm(inputs()))[valid], to_numpy(hub_lm(inputs()))[valid])
    assert lm.count_params() == hub_lm.count_params()


def test_generate_greedy_matches_keras_hub_generate():
    hub, lm = hub_and_ours()
    hub_lm = keras_hub.models.GPT2CausalLM(backbone=hub, preprocessor=None)
    hub_lm.compile(sampler="greedy")
    new = 5
    width = max(map(len, PROMPTS)) + new
    ids = padded(PROMPTS, width)
    expected = hub_lm.generate(
        {"token_ids": ids, "padding_mask": ids != 0}, stop_token_ids=None
    )["token_ids"]
    ours = lm.generate(PROMPTS, new)
    for i, row in enumerate(PROMPTS):
        n = len(row) + new
        np.testing.assert_array_equal(ours[i, :n], to_numpy(expected)[i, :n])
        assert not ours[i, n:].any()


def test_cached_steps_equal_full_pass():
    lm = small_lm()
    backbone = lm.backbone
    init, step = backbone.init_cache, backbone.call_with_cache
    tokens = TOKENS[:1, :6]  # (1, 6), no padding
    full = to_numpy(lm(inputs(tokens, np.ones_like(tokens))))  # (1, 6, V)
    cache = init(1, SMALL["max_sequence_length"])
    hidden, cache = step(tokens[:, :3], cache, 0)  # prefill
    assert_close(lm.logits(hidden), full[:, :3])
    for index in range(3, 6):
        hidden, cache = step(tokens[:, index : index + 1], cache, index)
        assert_close(lm.logits(hidden)[:, 0], full[:, index])


def test_greedy_generate_equals_repeated_full_pass():
    lm = small_lm()
    ids = lm.generate(PROMPTS, 6)
    assert ids.shape == (3, 4 + 6)
    expected = full_pass_greedy(lm, PROMPTS, 6)
    assert lm.strip_padding(ids) == expected
    # The same prompts as a padded array, and left-padded with a mask.
    np.testing.assert_array_equal(lm.generate(padded(PROMPTS, 4), 6), ids)
    left = np.array([[0] * (4 - len(r)) + r for r in PROMPTS], "int32")
    np.testing.assert_array_equal(
        lm.generate({"token_ids": left, "padding_mask": left != 0}, 6), ids
    )


def test_generate_compiles_once():
    lm = small_lm()
    assert int(buffer_length(5, 16)) == int(buffer_length(16, 16)) == 16
    assert [int(buffer_length(n, 1024)) for n in (1, 64, 65, 300, 1024)] == [
        64,
        64,
        128,
        512,
        1024,
    ]
    lm.generate([[5, 6, 7]], 2)
    for rows, new in (([[8]], 9), ([[1, 2, 3, 4, 5, 6, 7]], 1), ([[4, 4]], 14)):
        ids = lm.generate(rows, new)
        assert lm.strip_padding(ids) == full_pass_greedy(lm, rows, new)
    loop = lm.make_generate_function()  # the loop `generate` ran
    assert loop.trace_count == 1
    # A batch of another size compiles once more, not per call.
    lm.generate([[3], [4]], 2)
    lm.generate([[3, 5], [4]], 3)
    assert loop.trace_count <= 2


def test_generate_uses_current_weights():
    # A compiled loop must read the variables, not constants of the first call.
    lm = small_lm()
    lm.generate(PROMPTS, 3)
    table = lm.backbone.token_embedding.embeddings
    table.assign(np.random.default_rng(3).normal(size=table.shape) * 0.5)
    assert lm.strip_padding(lm.generate(PROMPTS, 3)) == full_pass_greedy(lm, PROMPTS, 3)


def test_stop_tokens_end_rows():
    lm = small_lm()
    free = lm.generate(PROMPTS, 6)
    stop = int(free[0, 4 + 1])  # row 0's second new token
    ids = lm.generate(PROMPTS, 6, stop_token_ids=[stop])
    for i, row in enumerate(PROMPTS):
        new = list(free[i, len(row) : len(row) + 6])
        if stop in new:
            cut = len(row) + new.index(stop) + 1
            np.testing.assert_array_equal(ids[i, :cut], free[i, :cut])
            assert not ids[i, cut:].any()
        else:
            np.testing.assert_array_equal(ids[i], free[i])
    assert (ids != free).any()  # row 0 at least was cut


def test_sampling_is_seeded_and_stays_in_top_k():
    lm = small_lm()
    sampler = samplers.TopKSampler(k=3, temperature=2.0)
    a = lm.generate(PROMPTS, 8, sampler=sampler, seed=7)
    b = lm.generate(PROMPTS, 8, sampler=sampler, seed=7)
    np.testing.assert_array_equal(a, b)
    c = lm.generate(PROMPTS, 8, sampler=sampler, seed=8)
    assert (a != c).any()
    # Each sampled token is among the 3 most likely under a full pass.
    for i, row in enumerate(PROMPTS):
        seq = list(a[i, : len(row) + 8])
        for t in range(len(row), len(seq)):
            x = np.array([seq[:t]], "int32")
            logits = to_numpy(lm(inputs(x, np.ones_like(x))))[0, -1]
            assert seq[t] in np.argsort(logits[1:])[-3:] + 1  # 0 pads


def test_bad_generate_inputs():
    lm = small_lm()
    with pytest.raises(ValueError, match="Prompt 1 is empty"):
        lm.generate([[5], []], 2)
    with pytest.raises(ValueError, match="17 tokens.*max_sequence_length=16"):
        lm.generate([[5] * 10], 2 + 5)
    with pytest.raises(ValueError, match=r"outside \[0, vocabulary_size=100\)"):
        lm.generate([[5, 100]], 2)
    with pytest.raises(ValueError, match="outside"):
        lm.generate([[-1, 5]], 2)
    with pytest.raises(ValueError, match="max_new_tokens"):
        lm.generate([[5]], 0)
    with pytest.raises(ValueError, match="stop_token_ids"):
        lm.generate([[5]], 2, stop_token_ids=[100])
    with pytest.raises(ValueError, match="sampler name"):
        lm.generate([[5]], 2, sampler="beam")
    with pytest.raises(ValueError, match="divisible"):
        GPTBackbone(**{**SMALL, "num_heads": 5})


def test_config_and_keras_save_round_trip():
    lm = small_lm()
    config = lm.backbone.get_config()
    assert GPTBackbone.from_config(config).get_config() == config
    expected = to_numpy(lm(inputs()))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "gpt.keras")
        lm.save(path)
        loaded = keras.saving.load_model(path)
    assert isinstance(loaded, GPTCausalLM)
    assert isinstance(loaded.backbone, GPTBackbone)
    assert_close(loaded(inputs()), expected)
    np.testing.assert_array_equal(loaded.generate(PROMPTS, 3), lm.generate(PROMPTS, 3))


def test_fit_reduces_loss_ignoring_padding():
    lm = small_lm()
    lm.compile(optimizer=keras.optimizers.Adam(1e-2))
    x = inputs()
    y = np.roll(TOKENS, -1, axis=1) * MASK  # next tokens, 0 on padding
    before = lm.evaluate(x, y, verbose=0, return_dict=True)
    lm.fit(x, y, epochs=3, batch_size=2, verbose=0)
    after = lm.evaluate(x, y, verbose=0, return_dict=True)
    assert after["loss"] < before["loss"]
    assert 0.0 <= after["accuracy"] <= 1.0
    # Padding labels are ignored: changing the logits there changes nothing.
    logits = to_numpy(lm(x))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
    noisy = logits + (1 - MASK)[..., None] * 5.0 * np.random.rand(*logits.shape)
    assert_close(loss(y, noisy), loss(y, logits))


def test_mixed_bfloat16_has_no_nan():
    keras.config.set_dtype_policy("mixed_bfloat16")
    lm = small_lm()
    logits = to_numpy(lm(inputs())).astype("float32")
    assert np.isfinite(logits).all()
    ids = lm.generate(PROMPTS, 3, sampler="top_p", seed=0)
    assert ((ids >= 0) & (ids < SMALL["vocabulary_size"])).all()


def test_xla_predict_equals_eager():
    lm = small_lm()
    lm.compile(jit_compile=True)
    assert_close(lm.predict(inputs(), verbose=0), lm(inputs()))


def test_attention_scores_are_causal():
    lm = small_lm()
    scores = lm.backbone.attention_scores(inputs())
    assert len(scores) == SMALL["num_layers"]
    first = to_numpy(scores[0])  # (B, N, T, T)
    assert first.shape == (2, 4, 8, 8)
    assert not np.triu(first[0, 0], k=1).any()  # no look-ahead
    assert_close(first[0, :, :6].sum(-1), np.ones((4, 6)))


def test_flash_attention_backbone_matches_and_round_trips():
    """`flash_attention=True` routes full-sequence calls through
    `keras.ops.dot_product_attention` (its own implementation on a CPU):
    the same logits, generation (on the cache, the default path) unchanged,
    and the flag is saved."""
    default, fused = small_lm(), small_lm(flash_attention=True)
    fused.set_weights(default.get_weights())
    valid = TOKENS != 0
    np.testing.assert_allclose(
        np.asarray(fused.predict_on_batch(inputs()))[valid],
        np.asarray(default.predict_on_batch(inputs()))[valid],
        atol=1e-5,
    )
    np.testing.assert_array_equal(
        fused.generate(PROMPTS, 5), default.generate(PROMPTS, 5)
    )
    config = fused.backbone.get_config()
    assert config["flash_attention"] is True
    assert GPTBackbone.from_config(config).transformer_layers[0].flash_attention


def assemble(prompts, steps):
    """Each prompt followed by the non-zero tokens `stream` yielded for it."""
    rows = [list(row) for row in prompts]
    for step in steps:
        assert step.shape == (len(prompts),) and step.dtype == np.int32
        for row, token in zip(rows, step.tolist()):
            if token:
                row.append(token)
    return rows


def test_stream_greedy_equals_full_pass():
    lm = small_lm()
    steps = lm.stream(PROMPTS, 5)
    first = next(steps)  # a generator: one step per next()
    # The shortest prompt (row 1) starts; rows 0 and 2 still read theirs.
    assert first[0] == 0 and first[1] != 0 and first[2] == 0
    rows = assemble(PROMPTS, [first, *steps])
    assert rows == full_pass_greedy(lm, PROMPTS, 5)


@pytest.mark.parametrize("sampler", ["greedy", samplers.TopPSampler(p=0.9)])
def test_stream_equals_generate_with_seed_and_stop_tokens(sampler):
    lm = small_lm()
    free = lm.generate(PROMPTS, 6, sampler=sampler, seed=3)
    stop = int(free[0, 4 + 1])
    ids = lm.generate(PROMPTS, 6, sampler=sampler, seed=3, stop_token_ids=[stop])
    steps = list(lm.stream(PROMPTS, 6, sampler=sampler, seed=3, stop_token_ids=[stop]))
    assert assemble(PROMPTS, steps) == lm.strip_padding(ids)
    # Stops early once every row is done, never runs past the longest row.
    assert len(steps) <= 4 - 1 + 6


def test_stream_steps_bring_back_their_tokens_not_the_cache(monkeypatch):
    # Each step once returned the whole state through `predict_on_batch`:
    # the cache went to NumPy and back at every token, most of a step's time.
    lm = small_lm()
    returned = []  # bytes of NumPy each `predict_on_batch` gave back
    predict_on_batch = keras.Model.predict_on_batch

    def counting(model, x):
        out = predict_on_batch(model, x)
        returned.append(sum(np.asarray(a).nbytes for a in keras.tree.flatten(out)))
        return out

    monkeypatch.setattr(keras.Model, "predict_on_batch", counting)
    steps = list(lm.stream(PROMPTS, 5))
    prefill, *per_step = returned
    length = buffer_length(4 + 5, SMALL["max_sequence_length"])
    cache = lm.backbone.init_cache(len(PROMPTS), length)
    cache = sum(to_numpy(c).nbytes for c in keras.tree.flatten(cache))
    assert prefill > cache  # the prefill hands its state over once
    assert len(per_step) == len(steps)
    batch = len(PROMPTS)
    assert max(per_step) <= 3 * batch * 4  # new tokens, index, done


def test_interleaved_streams_keep_their_own_state():
    lm = small_lm()
    others = [[7, 7, 7, 7], [3], [11, 12]]  # the same shapes as PROMPTS
    first, second = lm.stream(PROMPTS, 5), lm.stream(others, 5)
    steps = [[], []]
    for a, b in zip(first, second):
        steps[0].append(a)
        steps[1].append(b)
    assert assemble(PROMPTS, steps[0]) == full_pass_greedy(lm, PROMPTS, 5)
    assert assemble(others, steps[1]) == full_pass_greedy(lm, others, 5)
    # A later stream of the same shapes reuses a finished one's variables
    # and its compiled step.
    _, kept = lm.make_generate_function("greedy", step=True)._free_resident_loop
    assert kept.trace_count == 1
    assert assemble(others, lm.stream(others, 5)) == full_pass_greedy(lm, others, 5)
    _, reused = lm.make_generate_function("greedy", step=True)._free_resident_loop
    assert reused is kept and reused.trace_count == 1


def test_a_stream_left_halfway_does_not_spoil_the_next():
    lm = small_lm()
    steps = lm.stream(PROMPTS, 5)
    next(steps), next(steps)
    steps.close()  # as a caller that stops reading does
    others = [[7, 7, 7, 7], [3], [11, 12]]
    assert assemble(others, lm.stream(others, 5)) == full_pass_greedy(lm, others, 5)
    # Another batch size: other shapes, another loop.
    assert assemble(others[:2], lm.stream(others[:2], 5)) == full_pass_greedy(
        lm, others[:2], 5
    )


def test_stream_in_mixed_bfloat16_equals_generate():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        lm = small_lm()
    finally:
        keras.config.set_dtype_policy("float32")
    ids = lm.generate(PROMPTS, 5)
    assert assemble(PROMPTS, lm.stream(PROMPTS, 5)) == lm.strip_padding(ids)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="XLA programs of a tf.function"
)
def test_stream_step_is_one_xla_program_for_every_index():
    # XLA bakes an input's value into the program where an op needs it as a
    # constant (`tf.slice`'s begin): the step then compiled anew at every
    # index, ~0.5 s a step. The exported `stream_step` compiles this same
    # `loop.call`.
    import tensorflow as tf

    lm = small_lm()
    sampler = samplers.get("greedy")
    inputs, _ = lm._generate_inputs(PROMPTS, 5, sampler, None, 0, None)
    loop = lm.make_generate_function(sampler, step=True)
    step = tf.function(loop.call, jit_compile=True)
    state = loop.predict_on_batch(inputs)  # the prefill
    # One step first: the prefill's state has no `new_tokens` yet.
    state = loop.predict_on_batch({**inputs, "state": state})
    programs = []
    for _ in range(2):
        given = tf.nest.map_structure(tf.convert_to_tensor, {**inputs, "state": state})
        programs.append(step.experimental_get_compiler_ir(given)(stage="hlo"))
        state = loop.predict_on_batch(given)
    assert int(state["index"][0]) == 4  # three steps past the shortest prompt
    assert programs[0] == programs[1]


def as_bytes(ids):
    """byte_tokenizer's ids decoded by hand: id b + 2 is byte b."""
    return bytes(int(i) - 2 for i in ids).decode("utf-8", errors="replace")


def test_text_in_text_out_matches_the_ids():
    lm = byte_gpt()
    sampler = samplers.TopKSampler(k=5)
    prompts = ["ROMEO.", "To be"]
    texts = lm.generate(prompts, 6, sampler=sampler, seed=1)
    ids = lm.generate(
        [[b + 2 for b in p.encode()] for p in prompts], 6, sampler=sampler, seed=1
    )
    assert texts == [as_bytes(row) for row in lm.strip_padding(ids)]
    one = lm.generate("ROMEO.", 6, sampler=sampler, seed=1)
    assert isinstance(one, str) and one.startswith("ROMEO.")


def test_stream_text_pieces_join_to_generate():
    lm = byte_gpt()
    sampler = samplers.TopPSampler(p=0.9, temperature=1.5)
    whole = lm.generate("ROMEO.", 10, sampler=sampler, seed=4)
    pieces = list(lm.stream("ROMEO.", 10, sampler=sampler, seed=4))
    assert all(isinstance(p, str) for p in pieces)
    assert "ROMEO." + "".join(pieces) == whole
    rows = list(lm.stream(["a", "bc"], 4, seed=0))
    assert all(isinstance(r, list) and len(r) == 2 for r in rows)


def test_text_without_a_tokenizer_says_how_to_attach_one():
    with pytest.raises(ValueError, match="has no tokenizer: build it with"):
        small_lm().generate("ROMEO.", 3)


def test_keras_file_keeps_the_tokenizer_in_a_fresh_process(tmp_path):
    lm = byte_gpt()
    expected = lm.generate(["ROMEO.", "Ay"], 8, sampler="top_k", seed=2)
    path = tmp_path / "gpt.keras"
    lm.save(path)
    received = load_in_fresh_process(
        path, "model.generate(['ROMEO.', 'Ay'], 8, sampler='top_k', seed=2)"
    )
    assert received == expected


def test_resident_loop_refuses_a_state_of_another_layout():
    from keras_attn.models.resident_step_loop import ResidentStepLoop

    lm = small_lm()
    sampler = samplers.get("greedy")
    step_loop = lm.make_generate_function(sampler, step=True)
    state = step_loop.predict_on_batch(
        lm._generate_inputs(PROMPTS, 5, sampler, None, 0, None)[0]
    )
    loop = ResidentStepLoop(step_loop, state)
    other = step_loop.predict_on_batch(
        lm._generate_inputs(PROMPTS[:2], 5, sampler, None, 0, None)[0]
    )
    with pytest.raises(ValueError, match=r"received keys .* and leaves"):
        loop.assign_state(other)
