"""Every family's SavedModel, called in a fresh process, against the model.

One module fixture trains two tiny tokenizers, builds tiny random models,
exports all of them, and runs `load_and_call.py` once (a process that
imports TensorFlow and TensorFlow Text, never keras_attn) together with
`saved_model_cli show --all` on each SavedModel. The tests compare what
came back with the in-memory models, fed through independent references:
keras-hub's Python tokenizer path, the training pipelines' packing, and a
NumPy sampler over uncached forward passes.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attn.data import pipelines
from keras_attn.data import tokenizers
from keras_attn.export import export_bert_classifier
from keras_attn.export import export_bert_embedder
from keras_attn.export import export_gpt_generator
from keras_attn.export import export_translator
from keras_attn.export import stream_saved_model
from keras_attn.models import BertBackbone
from keras_attn.models import BertClassifier
from keras_attn.models import GPTBackbone
from keras_attn.models import GPTCausalLM
from keras_attn.models import RNNSeq2Seq
from keras_attn.models import TransformerSeq2Seq
from tests.samplers.test_tunable_sampler import reference_token
from tests.test_case import byte_gpt
from tests.test_case import to_numpy

pytestmark = pytest.mark.tf_only

CORPUS = [
    "the cat sat on the mat",
    "el gato se sentó en la alfombra",
    "a dog ate my homework",
    "un perro comió mi tarea",
    "good movie, great plot!",
    "bad movie, boring plot.",
    "the weather is nice today",
    "hace buen tiempo hoy",
]
SOURCES = [
    "el gato se sentó",
    "un perro",
    "",
    "hace buen tiempo hoy en la alfombra con el gato y el perro y mi tarea",
    "Perro ☃ gato",
]
TEXTS = ["good movie", "the cat sat on the mat with a dog and my homework", "", "☃"]
PAIRS = ["great plot!", "bad", "a dog", "the weather is nice today and hace buen"]
LABELS = ["negative", "neutral", "positive"]
PROMPTS = ["the cat", "hace buen tiempo", "a"]
SEQUENCE_LENGTH = 12  # BERT exports: long texts and pairs get truncated.
EMBED_LENGTH = 8
GPT_LENGTH = 80  # > 64, so the generation buffer is a power of two below it.
CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
LOADER = os.path.join(os.path.dirname(__file__), "load_and_call.py")
# TensorFlow Text ops that TensorFlow Serving's model server has carried for
# years (it embeds TF Text 2.12; newer ops such as `TFText>RoundRobinTrim`
# are missing there, keras-hub's packer uses it, so the exports do not).
SERVING_TEXT_OPS = {
    "CaseFoldUTF8",
    "FastWordpieceTokenizeWithOffsets",
    "NormalizeUTF8",
    "RegexSplitWithOffsets",
}


def strings(value, dtype="string"):
    return [value, dtype]


def generate_inputs(prompts, max_new_tokens, temperature, top_k, top_p, seed):
    return {
        "prompt": strings(prompts),
        "max_new_tokens": [max_new_tokens, "int32"],
        "temperature": [temperature, "float32"],
        "top_k": [top_k, "int32"],
        "top_p": [top_p, "float32"],
        "seed": [seed, "int64"],
    }


SAMPLED = dict(
    max_new_tokens=[5, 7, 3],
    temperature=[0.9, 1.3, 0.0],
    top_k=[5, 0, 0],
    top_p=[1.0, 0.8, 1.0],
    seed=[11, 12, 13],
)
SCALAR = dict(max_new_tokens=4, temperature=1.0, top_k=0, top_p=0.9, seed=5)
FRESH = dict(max_new_tokens=8, temperature=1.0, top_k=0, top_p=1.0, seed=-1)
GREEDY_NEW = 6
BAD_GENERATE = {
    "too_long": (PROMPTS, dict(SCALAR, max_new_tokens=GPT_LENGTH), "max_sequence"),
    "empty_prompt": (["the cat", ""], SCALAR, "empty prompt"),
    "top_p_zero": (PROMPTS, dict(SCALAR, top_p=0.0), "`top_p` must be"),
    "negative_k": (PROMPTS, dict(SCALAR, top_k=-2), "`top_k` must be"),
    "shape": (PROMPTS, dict(SCALAR, temperature=[0.5, 0.7]), "one per prompt"),
}


def word_ids(tokenizer, texts):
    """Ids from keras-hub's eager Python path (the graph uses the TF path)."""
    return [[int(i) for i in np.ravel(tokenizer.tokenize(t))] for t in texts]


def padded(rows, width=None):
    width = width or max(max(len(r) for r in rows), 1)
    return np.array([r + [0] * (width - len(r)) for r in rows], "int32")


def decode(hex_strings):
    return [bytes.fromhex(s) for s in hex_strings]


def as_bytes(text):
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)


def greedy_continuations(lm, rows, max_new_tokens, stop_token_ids=None):
    ids = lm.generate(
        rows,
        max_new_tokens,
        sampler="greedy",
        stop_token_ids=stop_token_ids,
        jit_compile=False,
    )
    return lm.strip_padding(ids)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    directory = tmp_path_factory.mktemp("exports")
    word_piece = tokenizers.train_word_piece(CORPUS * 3, 100)
    byte_pair = tokenizers.train_byte_pair(CORPUS * 3, 300)
    vocabulary = word_piece.vocabulary_size()
    transformer = TransformerSeq2Seq(
        vocabulary,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=12,
    )
    rnn = RNNSeq2Seq(vocabulary, embedding_dim=8, hidden_dim=16)
    backbone = BertBackbone(
        vocabulary,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=16,
    )
    classifier = BertClassifier(backbone, num_classes=len(LABELS))
    lm = GPTCausalLM(
        GPTBackbone(
            byte_pair.vocabulary_size(),
            num_layers=1,
            num_heads=2,
            hidden_dim=16,
            intermediate_dim=32,
            max_sequence_length=GPT_LENGTH,
        )
    )
    # Stop where the greedy continuation of the first prompt puts its third
    # token, so that the exported loop must stop a row early.
    prompt_ids = word_ids(byte_pair, PROMPTS)
    unstopped = greedy_continuations(lm, prompt_ids, GREEDY_NEW)
    stop_ids = [1, unstopped[0][len(prompt_ids[0]) + 2]]

    paths = {
        name: str(directory / name / "1")
        for name in ("transformer", "rnn", "classifier", "embedder", "gpt")
    }
    export_translator(
        transformer, word_piece, paths["transformer"], max_length=8, beam_size=2
    )
    export_translator(rnn, word_piece, paths["rnn"], max_length=6)
    export_bert_classifier(
        classifier,
        word_piece,
        LABELS,
        paths["classifier"],
        sequence_length=SEQUENCE_LENGTH,
        sentence_pairs=True,
    )
    export_bert_embedder(
        backbone,
        word_piece,
        paths["embedder"],
        pooling="mean",
        normalize=True,
        sequence_length=EMBED_LENGTH,
    )
    export_gpt_generator(lm, byte_pair, paths["gpt"], stop_token_ids=stop_ids)

    pair_inputs = {"text": strings(TEXTS), "text_pair": strings(PAIRS)}
    calls = [
        ("transformer", "translate", {"source": strings(SOURCES)}),
        ("rnn", "translate", {"source": strings(SOURCES)}),
        ("rnn", "serving_default", {"source": strings(SOURCES[:2])}),
        ("classifier", "classify", pair_inputs),
        ("classifier", "embed", pair_inputs),
        ("embedder", "embed", {"text": strings(TEXTS)}),
        ("gpt", "generate", generate_inputs(PROMPTS, GREEDY_NEW, 0.0, 0, 1.0, 0)),
        ("gpt", "generate", generate_inputs(PROMPTS, **SAMPLED)),
        ("gpt", "generate", generate_inputs(PROMPTS, **SCALAR)),
        ("gpt", "generate", generate_inputs(PROMPTS, **SCALAR)),
        ("gpt", "generate", generate_inputs(PROMPTS, **FRESH)),
        ("gpt", "generate", generate_inputs(PROMPTS, **FRESH)),
    ]
    ids = [
        "transformer",
        "rnn",
        "rnn_default",
        "classify",
        "classifier_embed",
        "embed",
        "greedy",
        "sampled",
        "scalar",
        "scalar_again",
        "fresh",
        "fresh_again",
    ]
    # Also run in a TF1 session, the way TensorFlow Serving runs the graph.
    in_session = {"transformer", "classify", "embed", "sampled"}
    spec_calls = [
        {"id": i, "model": m, "signature": s, "inputs": x, "session": i in in_session}
        for i, (m, s, x) in zip(ids, calls)
    ]
    for name, (prompts, settings, _) in BAD_GENERATE.items():
        spec_calls.append(
            {
                "id": name,
                "model": "gpt",
                "signature": "generate",
                "inputs": generate_inputs(prompts, **settings),
            }
        )
    spec_path, result_path = directory / "spec.json", directory / "result.json"
    spec_path.write_text(json.dumps({"paths": paths, "calls": spec_calls}))

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    # The executable once, beside the loader (which runs the same `show
    # --all` function on every SavedModel in its own process).
    cli = subprocess.Popen(
        [CLI, "show", "--dir", paths["gpt"], "--all"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    loader = subprocess.run(
        [sys.executable, LOADER, str(spec_path), str(result_path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert loader.returncode == 0, loader.stderr[-3000:]
    cli_out, cli_err = cli.communicate()
    assert cli.returncode == 0, cli_err[-2000:]
    return {
        "word_piece": word_piece,
        "byte_pair": byte_pair,
        "transformer": transformer,
        "rnn": rnn,
        "classifier": classifier,
        "lm": lm,
        "stop_ids": stop_ids,
        "result": json.loads(result_path.read_text()),
        "cli": cli_out,
        "paths": paths,
    }


def translations(setup, model, **generate_kwargs):
    """In-memory translations of SOURCES: Python-path ids, `generate`, cut at
    the end token, Python-path detokenization."""
    tokenizer = setup["word_piece"]
    rows = word_ids(tokenizer, SOURCES)
    if isinstance(model, TransformerSeq2Seq):
        rows = [r[: model.max_sequence_length] for r in rows]
    ids, _ = model.generate(padded(rows), **generate_kwargs)
    out = []
    for row in ids.tolist():
        row = row[: row.index(model.end_id)] if model.end_id in row else row
        out.append(as_bytes(tokenizer.detokenize([t for t in row if t])))
    return out


def test_transformer_translate_equals_beam_search_in_memory(setup):
    served = decode(setup["result"]["outputs"]["transformer"]["translation"])
    expected = translations(setup, setup["transformer"], max_length=8, beam_size=2)
    assert served == expected
    assert any(served)  # random weights still translate into some pieces


def test_rnn_translate_equals_greedy_in_memory(setup):
    outputs = setup["result"]["outputs"]
    served = decode(outputs["rnn"]["translation"])
    assert served == translations(setup, setup["rnn"], max_length=6)
    assert decode(outputs["rnn_default"]["translation"]) == served[:2]


def pipeline_inputs(setup, texts, sequence_length, pairs=None):
    """The classification pipeline's packing (keras-hub's packer)."""
    dataset = pipelines.classification_dataset(
        texts,
        [0] * len(texts),
        setup["word_piece"],
        sequence_length,
        batch_size=len(texts),
        text_pairs=pairs,
        shuffle=False,
    )
    x, _ = next(iter(dataset))
    return {k: v.numpy().astype("int32") for k, v in x.items()}


def test_classify_equals_the_classifier_on_pipeline_packing(setup):
    outputs = setup["result"]["outputs"]
    x = pipeline_inputs(setup, TEXTS, SEQUENCE_LENGTH, PAIRS)
    logits = to_numpy(setup["classifier"](x)).astype("float64")
    expected = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    probabilities = np.array(outputs["classify"]["probabilities"])
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    labels = [s.decode() for s in decode(outputs["classify"]["labels"])]
    assert labels == [LABELS[i] for i in expected.argmax(-1)]
    pooled = to_numpy(setup["classifier"].backbone(x)["pooled_output"])
    served = np.array(outputs["classifier_embed"]["embeddings"])
    np.testing.assert_allclose(served, pooled, atol=1e-5)


def test_embed_mean_pools_and_normalizes_like_sentence_transformers(setup):
    x = pipeline_inputs(setup, TEXTS, EMBED_LENGTH)
    hidden = to_numpy(setup["classifier"].backbone(x)["sequence_output"])
    mask = x["padding_mask"][:, :, None].astype("float64")
    mean = (hidden * mask).sum(1) / mask.sum(1)
    expected = mean / np.linalg.norm(mean, axis=-1, keepdims=True)
    served = np.array(setup["result"]["outputs"]["embed"]["embeddings"])
    np.testing.assert_allclose(served, expected, atol=1e-5)


def served_generation(setup, call):
    outputs = setup["result"]["outputs"][call]
    return decode(outputs["text"]), decode(outputs["completion"])


def byte_level_text(tokenizer, ids):
    """Byte-level BPE ids -> UTF-8 bytes, invalid sequences replaced by
    U+FFFD: each piece's characters mapped back to GPT-2's bytes."""
    to_byte = {char: byte for byte, char in tokenizers.bytes_to_unicode().items()}
    data = bytes(to_byte[c] for i in ids for c in tokenizer.id_to_token(i))
    return data.decode("utf-8", errors="replace").encode("utf-8")


def texts_of(setup, prompt_rows, rows):
    """Texts and completions of `prompt + new ids` rows; the new ids without
    stop tokens and padding."""
    tokenizer, stop = setup["byte_pair"], set(setup["stop_ids"])
    texts, completions = [], []
    for prompt, row in zip(prompt_rows, rows):
        new = [t for t in row[len(prompt) :] if t and t not in stop]
        texts.append(byte_level_text(tokenizer, list(prompt) + new))
        completions.append(byte_level_text(tokenizer, new))
    return texts, completions


def test_generate_greedy_equals_generate_in_memory(setup):
    prompt_rows = word_ids(setup["byte_pair"], PROMPTS)
    rows = greedy_continuations(setup["lm"], prompt_rows, GREEDY_NEW, setup["stop_ids"])
    text, completion = served_generation(setup, "greedy")
    assert (text, completion) == texts_of(setup, prompt_rows, rows)
    assert [t.startswith(p.encode()) for t, p in zip(text, PROMPTS)] == [True] * 3
    # The first row stopped at a stop token, at most three tokens in.
    assert len(rows[0]) <= len(prompt_rows[0]) + 3
    assert rows[0][-1] in setup["stop_ids"]


def sampled_reference(setup, max_new_tokens, temperature, top_k, top_p, seed):
    """Each prompt continued by uncached full passes and the NumPy sampler,
    with the documented random numbers of its seed."""
    stop = set(setup["stop_ids"])
    prompt_rows = word_ids(setup["byte_pair"], PROMPTS)
    settings = [max_new_tokens, temperature, top_k, top_p, seed]
    settings = [np.broadcast_to(s, len(PROMPTS)).tolist() for s in settings]
    rows = []
    for prompt, new, t, k, p, s in zip(prompt_rows, *settings):
        uniform = tf.random.stateless_uniform(
            [GPT_LENGTH], seed=[s, 0], alg="philox"
        ).numpy()
        row = list(prompt)
        for _ in range(new):
            ids = np.array([row], "int32")
            logits = to_numpy(setup["lm"]({"token_ids": ids, "padding_mask": ids > 0}))
            logits = logits[0, -1].astype("float64")
            logits[0] = -1e9  # Id 0 pads: never generated.
            row.append(int(reference_token(logits, uniform[len(row)], t, k, p)))
            if row[-1] in stop:
                break
        rows.append(row)
    return texts_of(setup, prompt_rows, rows)


@pytest.mark.parametrize("call, settings", [("sampled", SAMPLED), ("scalar", SCALAR)])
def test_generate_samples_like_the_reference_sampler(setup, call, settings):
    assert served_generation(setup, call) == sampled_reference(setup, **settings)


def test_generate_seeds(setup):
    assert served_generation(setup, "scalar") == served_generation(
        setup, "scalar_again"
    )
    fresh, fresh_again = (
        served_generation(setup, c)[1] for c in ("fresh", "fresh_again")
    )
    assert fresh != fresh_again  # seed -1: fresh random numbers each call


@pytest.mark.parametrize("call", sorted(BAD_GENERATE))
def test_generate_rejects_bad_inputs_with_a_clear_message(setup, call):
    assert call not in setup["result"]["outputs"]
    assert BAD_GENERATE[call][2] in setup["result"]["errors"][call]


@pytest.mark.parametrize(
    "call, settings",
    [
        ("greedy", dict(max_new_tokens=GREEDY_NEW, temperature=0.0, seed=0)),
        ("sampled", SAMPLED),
        ("scalar", SCALAR),
    ],
)
def test_stream_pieces_join_to_the_served_completion(setup, call, settings):
    """The streamed pieces of each prompt, joined, are the `generate`
    signature's completion for the same settings and seed (the loader's
    fresh process called `generate`)."""
    pieces = list(stream_saved_model(setup["paths"]["gpt"], PROMPTS, **settings))
    assert len(pieces) > 1 and all(len(p) == len(PROMPTS) for p in pieces)
    joined = [as_bytes("".join(p[row] for p in pieces)) for row in range(3)]
    assert joined == served_generation(setup, call)[1]
    one = list(stream_saved_model(setup["paths"]["gpt"], PROMPTS[1], **SCALAR))
    assert all(isinstance(p, str) for p in one)
    assert as_bytes("".join(one)) == served_generation(setup, "scalar")[1][1]


def test_stream_steps_one_token_at_a_time_like_the_model(setup):
    """`stream_start` prefills; each `stream_step` adds one position, the
    token the in-memory `stream` makes at that step."""
    loaded = tf.saved_model.load(setup["paths"]["gpt"])
    start, step = (loaded.signatures[n] for n in ("stream_start", "stream_step"))
    settings = dict(max_new_tokens=4, temperature=0.0, top_k=0, top_p=1.0, seed=0)
    dtypes = dict(zip(settings, ["int32", "float32", "int32", "float32", "int64"]))
    state = start(
        prompt=tf.constant(PROMPTS),
        **{k: tf.constant(v, dtypes[k]) for k, v in settings.items()},
    )
    prompt_rows = word_ids(setup["byte_pair"], PROMPTS)
    assert state["index"].numpy().tolist() == [min(map(len, prompt_rows))] * 3
    expected = list(
        setup["lm"].stream(
            prompt_rows, 4, stop_token_ids=setup["stop_ids"], jit_compile=False
        )
    )
    _, names = step.structured_input_signature
    for i, tokens in enumerate(expected):
        index = state["index"].numpy()
        state = step(**{name: state[name] for name in names})
        assert (state["index"].numpy() == index + 1).all()
        np.testing.assert_array_equal(state["new_tokens"].numpy(), tokens, str(i))
    assert state["done"].numpy().all()


def test_stream_of_a_bfloat16_model_matches_its_generate(tmp_path):
    """Under mixed_bfloat16 the caches that go out and back are bfloat16."""
    keras.config.set_dtype_policy("mixed_bfloat16")  # conftest resets it
    lm = byte_gpt()  # built under the policy
    tokenizer = lm.tokenizer
    loaded = tf.saved_model.load(export_gpt_generator(lm, tokenizer, str(tmp_path)))
    _, specs = loaded.signatures["stream_step"].structured_input_signature
    assert specs["key_0"].dtype == tf.bfloat16
    prompts, settings = ["ab", "c"], dict(SCALAR, max_new_tokens=6)
    dtypes = ["int32", "float32", "int32", "float32", "int64"]
    served = loaded.signatures["generate"](
        prompt=tf.constant(prompts),
        **{k: tf.constant(v, d) for (k, v), d in zip(settings.items(), dtypes)},
    )["completion"].numpy()
    pieces = list(stream_saved_model(loaded, prompts, **settings))
    assert [as_bytes("".join(p[i] for p in pieces)) for i in range(2)] == list(served)


def test_stream_refuses_what_it_cannot_stream(setup):
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty prompt"):
        next(stream_saved_model(setup["paths"]["gpt"], ["the cat", ""], 4))
    with pytest.raises(ValueError, match="no `stream_start`/`stream_step`"):
        next(stream_saved_model(setup["paths"]["transformer"], "the cat", 4))
    with pytest.raises(TypeError, match="a str or a non-empty list of str"):
        next(stream_saved_model(setup["paths"]["gpt"], [[5, 6]], 4))


def test_loader_imported_neither_keras_attn_nor_keras_hub(setup):
    # TensorFlow 2.21 itself imports Keras (for `tf.keras`), hence no check
    # on "keras".
    assert not {"keras_attn", "keras_hub"} & set(setup["result"]["imported"])


def test_graphs_use_only_text_ops_tensorflow_serving_has(setup):
    custom = setup["result"]["custom_ops"]
    for name, ops in custom.items():
        assert set(ops) <= SERVING_TEXT_OPS, (name, ops)
    assert custom["rnn"]  # WordPiece tokenizing does need TF Text.


SIGNATURES = {
    "transformer": {"translate": ["source"]},
    "rnn": {"translate": ["source"]},
    "classifier": {"classify": ["text", "text_pair"], "embed": ["text", "text_pair"]},
    "embedder": {"embed": ["text"]},
    "gpt": {"generate": ["prompt"], "stream_start": ["prompt"]},
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_saved_model_cli_lists_the_signatures(setup, name):
    show = setup["result"]["shows"][name]
    for signature, string_inputs in SIGNATURES[name].items():
        for key in (signature, "serving_default"):
            start = show.index(f"signature_def['{key}']")
            block = show[start : show.find("Method name", start)]
            for input_name in string_inputs:
                entry = block[block.index(f"inputs['{input_name}']") :]
                assert entry.split("dtype: ")[1].startswith("DT_STRING")
    if name == "gpt":
        for setting in ("max_new_tokens", "temperature", "top_k", "top_p", "seed"):
            assert f"inputs['{setting}']" in show
        # The executable prints the same signatures (the op set after them
        # is a Python set, printed in no fixed order).
        signatures = show.split("The MetaGraph with tag set")[0]
        assert setup["cli"].split("The MetaGraph with tag set")[0] == signatures


def test_tensorflow_serving_style_loading_gives_the_same_outputs(setup):
    result = setup["result"]
    assert len(result["session_outputs"]) == 4
    for call, outputs in result["session_outputs"].items():
        for name, value in outputs.items():
            expected = result["outputs"][call][name]
            if isinstance(value[0], str):
                assert value == expected, (call, name)
            else:
                np.testing.assert_allclose(value, expected, atol=1e-6, err_msg=call)
