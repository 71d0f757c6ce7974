import math
import os

import keras
import keras_hub
import numpy as np
import pytest

from keras_attn.models.bert import BertBackbone
from keras_attn.models.bert import BertClassifier
from keras_attn.models.bert import BertPretrainer
from keras_attn.models.bert import BertTokenClassifier
from tests.layers.copy_weights import copy_hub_encoder
from tests.test_case import assert_close
from tests.test_case import load_in_fresh_process
from tests.test_case import to_numpy

VOCAB, LAYERS, HEADS, WIDTH, FFN, SEQ = 100, 2, 4, 32, 64, 16
CONFIG = dict(
    vocabulary_size=VOCAB,
    num_layers=LAYERS,
    num_heads=HEADS,
    hidden_dim=WIDTH,
    intermediate_dim=FFN,
    max_sequence_length=SEQ,
)
LENGTHS = [10, 6, 12, 3]  # real tokens per sequence, padded to T = 12


def bert_inputs(lengths=LENGTHS, length=12, seed=0):
    """`[CLS] A [SEP] B [SEP]` pairs, 0-padded, ids in [5, VOCAB)."""
    rng = np.random.RandomState(seed)
    batch = len(lengths)
    token_ids = rng.randint(5, VOCAB, (batch, length)).astype("int32")
    segment_ids = np.zeros((batch, length), "int32")
    padding_mask = np.arange(length)[None] < np.array(lengths)[:, None]
    for i, n in enumerate(lengths):
        token_ids[i, 0] = 2
        token_ids[i, n - 1] = 3
        segment_ids[i, n // 2 : n] = 1
    token_ids[~padding_mask] = 0
    segment_ids[~padding_mask] = 0
    return {
        "token_ids": token_ids,
        "segment_ids": segment_ids,
        "padding_mask": padding_mask,
    }


def pretraining_batch(seed=0):
    x = bert_inputs(seed=seed)
    rng = np.random.RandomState(seed + 1)
    positions = np.zeros((len(LENGTHS), 3), "int32")  # P = 3, 0 = unused
    labels = np.zeros((len(LENGTHS), 3), "int32")
    for i, n in enumerate(LENGTHS):
        chosen = rng.choice(np.arange(1, n - 1), min(3, n - 2), replace=False)
        positions[i, : len(chosen)] = chosen
        labels[i, : len(chosen)] = x["token_ids"][i, chosen]
        x["token_ids"][i, chosen] = 4  # [MASK]
    x["mask_positions"] = positions
    y = {"mlm": labels, "nsp": np.array([1, 0, 1, 0], "int32")}
    return x, y


def tagging_labels(x, num_classes=5, seed=0):
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, num_classes, x["token_ids"].shape).astype("int32")
    return np.where(x["padding_mask"], labels, -1)


def backbone(**kwargs):
    return BertBackbone(**{**CONFIG, "dropout": 0.0, **kwargs})


def gelu(x):  # tanh approximation, as in BERT
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def layer_norm(x, gamma, beta, epsilon):
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + epsilon) * gamma + beta


def log_softmax(logits):
    logits = logits - logits.max(-1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(-1, keepdims=True))


# --- Backbone -------------------------------------------------------------


def copy_hub_backbone(hub, ours):
    ours.token_embedding.set_weights(hub.token_embedding.get_weights())
    ours.embeddings.position_embedding.set_weights(hub.position_embedding.get_weights())
    ours.embeddings.segment_embedding.set_weights(hub.segment_embedding.get_weights())
    ours.embeddings_layer_norm.set_weights(hub.embeddings_layer_norm.get_weights())
    for hub_layer, our_layer in zip(hub.transformer_layers, ours.transformer_layers):
        copy_hub_encoder(hub_layer, our_layer)
    ours.pooled_dense.set_weights(hub.pooled_dense.get_weights())


def test_matches_keras_hub_backbone_with_padding():
    hub = keras_hub.models.BertBackbone(**CONFIG)
    ours = backbone(dropout=0.1)
    assert ours.count_params() == hub.count_params()
    # BERT's N(0, 0.02²) init keeps activations near 0, where exact and
    # tanh-approximated GELU agree to 1e-8: widen the weights so that the
    # comparison sees the activation (and everything else).
    for weight in hub.weights:
        if weight.path.endswith(("kernel", "embeddings")):
            weight.assign(to_numpy(weight) * 10)
    copy_hub_backbone(hub, ours)
    x = bert_inputs()
    expected = hub({**x, "padding_mask": x["padding_mask"].astype("int32")})
    got = ours(x)
    # keras-hub lets padded queries attend (their outputs are junk that no
    # real token sees); ours zeroes their attention output. Only the real
    # positions are defined, so only they are compared.
    real = x["padding_mask"]
    assert_close(
        to_numpy(got["sequence_output"])[real],
        to_numpy(expected["sequence_output"])[real],
    )
    assert_close(got["pooled_output"], expected["pooled_output"])
    # The mask matters: without it the real positions change.
    unmasked = ours({**x, "padding_mask": np.ones_like(real)})
    assert not np.allclose(
        to_numpy(unmasked["sequence_output"])[real],
        to_numpy(got["sequence_output"])[real],
        atol=1e-3,
    )


def test_extra_padding_changes_nothing():
    model = backbone()
    x = bert_inputs(length=12)
    padded = {k: np.pad(v, [(0, 0), (0, 4)]) for k, v in x.items()}
    a, b = model(x), model(padded)
    real = x["padding_mask"]
    assert_close(
        to_numpy(b["sequence_output"])[:, :12][real],
        to_numpy(a["sequence_output"])[real],
    )
    assert_close(b["pooled_output"], a["pooled_output"])


def test_padding_mask_accepts_bool_and_int():
    model = backbone()
    x = bert_inputs()
    as_int = {**x, "padding_mask": x["padding_mask"].astype("int32")}
    assert_close(model(x)["pooled_output"], model(as_int)["pooled_output"])


def test_attention_scores():
    model = backbone()
    x = bert_inputs()
    scores = model.attention_scores(x)
    assert len(scores) == LAYERS
    weights = to_numpy(scores[-1])
    assert weights.shape == (4, HEADS, 12, 12)
    real = x["padding_mask"]
    rows = weights.transpose(0, 2, 1, 3)[real]  # (real queries, N, T)
    np.testing.assert_allclose(rows.sum(-1), 1.0, atol=1e-5)
    padded_keys = np.broadcast_to(~real[:, None, None, :], weights.shape)
    assert np.all(weights[padded_keys] == 0)


def test_config_round_trip():
    model = backbone(name="tiny_bert")
    config = model.get_config()
    restored = BertBackbone.from_config(config)
    assert restored.get_config() == config
    assert restored.count_params() == model.count_params()


# --- Pretrainer -----------------------------------------------------------


def test_mlm_and_nsp_heads_match_numpy():
    pretrainer = BertPretrainer(backbone())
    x, _ = pretraining_batch()
    # Non-zero output bias, so that a missing bias would show.
    head = pretrainer.mlm_head
    head.bias.assign(np.random.RandomState(3).normal(size=VOCAB) * 0.1)
    # Wide enough that GELU's tanh approximation matters (see above).
    head.dense.kernel.assign(to_numpy(head.dense.kernel) * 30)
    outputs = pretrainer(x)
    features = pretrainer.backbone(
        {k: v for k, v in x.items() if k != "mask_positions"}
    )
    hidden = to_numpy(features["sequence_output"])
    pooled = to_numpy(features["pooled_output"])

    kernel, bias = (to_numpy(w) for w in head.dense.weights)
    gamma, beta = (to_numpy(w) for w in head.layer_norm.weights)
    table = to_numpy(pretrainer.backbone.token_embedding.embeddings)  # (V, D)
    positions = x["mask_positions"]
    gathered = hidden[np.arange(len(hidden))[:, None], positions]  # (B, P, D)
    h = layer_norm(gelu(gathered @ kernel + bias), gamma, beta, 1e-12)
    expected_mlm = h @ table.T + to_numpy(head.bias)
    assert_close(outputs["mlm"], expected_mlm, atol=1e-5)

    nsp_kernel, nsp_bias = (to_numpy(w) for w in pretrainer.nsp_dense.weights)
    assert_close(outputs["nsp"], pooled @ nsp_kernel + nsp_bias)


def test_mlm_output_is_tied_to_the_token_embedding():
    pretrainer = BertPretrainer(backbone())
    x, _ = pretraining_batch()
    before = to_numpy(pretrainer(x)["mlm"])
    table = pretrainer.backbone.token_embedding.embeddings
    # Changing one row of the input table changes that token's logits.
    table.assign(to_numpy(table) + np.eye(VOCAB, WIDTH, dtype="float32")[:, ::-1])
    after = to_numpy(pretrainer(x)["mlm"])
    assert not np.allclose(before, after)
    names = [w.path for w in pretrainer.weights]
    assert len(names) == len(set(names))  # The table is not duplicated.


def test_default_losses_and_metrics_match_numpy():
    pretrainer = BertPretrainer(backbone())
    pretrainer.compile()
    x, y = pretraining_batch()
    logs = pretrainer.evaluate(x, y, verbose=0, return_dict=True)
    outputs = pretrainer(x)
    mlm, nsp = to_numpy(outputs["mlm"]), to_numpy(outputs["nsp"])
    used = y["mlm"] != 0
    mlm_nll = -np.take_along_axis(log_softmax(mlm), y["mlm"][..., None], -1)[..., 0]
    nsp_nll = -log_softmax(nsp)[np.arange(4), y["nsp"]]
    np.testing.assert_allclose(logs["mlm_loss"], mlm_nll[used].mean(), rtol=1e-4)
    np.testing.assert_allclose(logs["nsp_loss"], nsp_nll.mean(), rtol=1e-4)
    np.testing.assert_allclose(
        logs["loss"], mlm_nll[used].mean() + nsp_nll.mean(), rtol=1e-4
    )
    np.testing.assert_allclose(
        logs["mlm_accuracy"], (mlm.argmax(-1) == y["mlm"])[used].mean(), rtol=1e-5
    )
    np.testing.assert_allclose(
        logs["nsp_accuracy"], (nsp.argmax(-1) == y["nsp"]).mean(), rtol=1e-5
    )


def test_xla_predict_equals_eager():
    pretrainer = BertPretrainer(backbone(dropout=0.1))
    x, _ = pretraining_batch()
    eager = pretrainer(x)
    pretrainer.compile(jit_compile=True)
    compiled = pretrainer.predict_on_batch(x)
    for key in ("mlm", "nsp"):
        assert_close(compiled[key], eager[key], atol=1e-4)


def test_mixed_bfloat16_forward():
    pretrainer = BertPretrainer(backbone(dtype="mixed_bfloat16"))
    x, _ = pretraining_batch()
    outputs = pretrainer(x)
    for key in ("mlm", "nsp"):
        assert keras.backend.standardize_dtype(outputs[key].dtype) == "bfloat16"
        assert np.all(np.isfinite(to_numpy(keras.ops.cast(outputs[key], "float32"))))
    assert pretrainer.backbone.token_embedding.embeddings.dtype == "float32"


# --- Task models: save/load, training, freezing ---------------------------


def make_task(kind, **backbone_kwargs):
    """A task model, one batch of inputs and labels for it."""
    if kind == "pretrainer":
        x, y = pretraining_batch()
        return BertPretrainer(backbone(**backbone_kwargs)), x, y
    x = bert_inputs()
    if kind == "classifier":
        model = BertClassifier(backbone(**backbone_kwargs), num_classes=3)
        return model, x, np.array([0, 1, 2, 1], "int32")
    model = BertTokenClassifier(backbone(**backbone_kwargs), num_classes=5)
    return model, x, tagging_labels(x)


TASKS = ["pretrainer", "classifier", "token_classifier"]


def _save_and_load(model, tmp_path):
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    return keras.saving.load_model(path)


@pytest.mark.parametrize("kind", ["backbone"] + TASKS)
def test_keras_save_and_load(kind, tmp_path):
    if kind == "backbone":
        model, x = backbone(), bert_inputs()
    else:
        model, x, _ = make_task(kind)
    loaded = _save_and_load(model, tmp_path)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    for a, b in zip(
        keras.tree.flatten(loaded(x)), keras.tree.flatten(model(x)), strict=True
    ):
        assert_close(a, b)


def test_loaded_pretrainer_keeps_the_embedding_tied(tmp_path):
    model, x, _ = make_task("pretrainer")
    loaded = _save_and_load(model, tmp_path)
    assert loaded.mlm_head.token_embedding is loaded.backbone.token_embedding


@pytest.mark.parametrize("kind", TASKS)
def test_fit_reduces_the_loss(kind):
    model, x, y = make_task(kind)
    model.compile(optimizer=keras.optimizers.Adam(5e-3))
    # 30 steps: after 10 the classifier's loss ratio was 0.69-0.91 over
    # seeds 0-4 (before and after the initializer fix alike), too close to
    # the bound to say anything; after 30 it is 0.10-0.33.
    history = model.fit(x, y, epochs=30, batch_size=4, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.85 * losses[0], losses


@pytest.mark.parametrize("kind", ["classifier", "token_classifier"])
@pytest.mark.parametrize("frozen", [True, False])
def test_frozen_and_full_fine_tuning(kind, frozen):
    model, x, y = make_task(kind)
    model.backbone.trainable = not frozen
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    head = [model.output_dense.kernel, model.output_dense.bias]
    backbone_before = [to_numpy(w) for w in model.backbone.weights]
    head_before = [to_numpy(w) for w in head]
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    backbone_after = [to_numpy(w) for w in model.backbone.weights]
    assert all(not np.allclose(a, b) for a, b in zip(head_before, map(to_numpy, head)))
    unchanged = [np.array_equal(a, b) for a, b in zip(backbone_before, backbone_after)]
    if frozen:
        assert all(unchanged)
        assert len(model.trainable_weights) == 2
    else:
        # Every backbone weight gets a gradient, except the pooler when the
        # head reads the sequence output.
        pooler = {id(w) for w in model.backbone.pooled_dense.weights}
        moved = [
            not same
            for w, same in zip(model.backbone.weights, unchanged)
            if kind == "classifier" or id(w) not in pooler
        ]
        assert all(moved)


def test_classifier_reads_the_second_segment():
    model, x, _ = make_task("classifier")
    pair = model(x)
    single = model({**x, "segment_ids": np.zeros_like(x["segment_ids"])})
    # At initialization (weights ~ N(0, 0.02²)) the logits are ~1e-2, so
    # compare relative to their size.
    scale = np.abs(to_numpy(pair)).max()
    assert np.abs(to_numpy(pair) - to_numpy(single)).max() > 1e-3 * scale


def test_token_classifier_loss_ignores_minus_one():
    model, x, y = make_task("token_classifier")
    model.compile()
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    logits = to_numpy(model(x))
    used = y != -1
    nll = -np.take_along_axis(log_softmax(logits), np.maximum(y, 0)[..., None], -1)
    np.testing.assert_allclose(logs["loss"], nll[..., 0][used].mean(), rtol=1e-4)
    accuracy = (logits.argmax(-1) == y)[used].mean()
    np.testing.assert_allclose(logs["accuracy"], accuracy, rtol=1e-5)


# --- Bad input ------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    model = BertClassifier(backbone(), num_classes=2)
    x = bert_inputs()
    # Keras checks the structure first, with clear messages of its own.
    with pytest.raises(ValueError, match="Pass inputs as a dict"):
        model(x["token_ids"])
    with pytest.raises(ValueError, match='Missing data for input "segment_ids"'):
        model({k: v for k, v in x.items() if k != "segment_ids"})
    with pytest.raises(ValueError, match=r"unexpected \['mask_positions'\]"):
        model({**x, "mask_positions": np.zeros((4, 2), "int32")})
    with pytest.raises(ValueError, match=r"`token_ids` must have shape \(B, T\)"):
        model({**x, "token_ids": x["token_ids"][..., None]})
    with pytest.raises(ValueError, match="must have the same shape"):
        model({**x, "segment_ids": x["segment_ids"][:, :5]})
    with pytest.raises(ValueError, match=r"outside \[0, vocabulary_size=100\): \[100"):
        model({**x, "token_ids": x["token_ids"] + VOCAB})
    too_long = {k: np.zeros((1, SEQ + 1), "int32") for k in x}
    with pytest.raises(ValueError, match="longer than its `sequence_length=16`"):
        model(too_long)
    pretrainer = BertPretrainer(model.backbone)
    with pytest.raises(ValueError, match='Missing data for input "mask_positions"'):
        pretrainer(x)
    with pytest.raises(ValueError, match="divisible by `num_heads`"):
        BertBackbone(VOCAB, 1, num_heads=3, hidden_dim=32, intermediate_dim=64)


def test_fits_the_pretraining_pipeline():
    """The agreed data interface: `bert_pretraining_dataset` feeds `fit`."""
    from keras_attn.data import pipelines
    from keras_attn.data import tokenizers

    rng = np.random.RandomState(0)
    words = ["alpha", "beta", "gamma", "delta", "zeta", "theta", "kappa"]
    documents = [[" ".join(rng.choice(words, 6)) for _ in range(4)] for _ in range(4)]
    tokenizer = tokenizers.train_word_piece([s for d in documents for s in d], 60)
    dataset = pipelines.bert_pretraining_dataset(
        documents, tokenizer, sequence_length=16, batch_size=4, max_predictions=3
    )
    model = BertPretrainer(
        backbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=1)
    )
    model.compile()
    logs = model.fit(dataset, epochs=1, shuffle=False, verbose=0).history
    assert sorted(logs) == [
        "loss",
        "mlm_accuracy",
        "mlm_loss",
        "nsp_accuracy",
        "nsp_loss",
    ]
    assert all(np.isfinite(v[0]) for v in logs.values())


def worded_classifier():
    from keras_attn.data import tokenizers

    texts = ["the film was good", "a bad film", "good acting", "bad plot twist"]
    tokenizer = tokenizers.train_word_piece(texts * 5, 60)
    backbone = BertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=12,
    )
    return BertClassifier(backbone, 3, tokenizer=tokenizer), texts


def test_classifier_predicts_text_as_the_packed_ids():
    from keras_attn.models.bert import bert_inputs

    classifier, texts = worded_classifier()
    x = bert_inputs(classifier.tokenizer, texts, sequence_length=12)
    assert_close(classifier.predict(texts, verbose=0), classifier.predict(x, verbose=0))
    pairs = (texts[:2], texts[2:])
    x = bert_inputs(classifier.tokenizer, *pairs, sequence_length=12)
    assert_close(classifier.predict(pairs, verbose=0), classifier.predict(x, verbose=0))
    with pytest.raises(ValueError, match="has no tokenizer"):
        BertClassifier(classifier.backbone, 3).predict(texts)


@pytest.mark.one_backend  # test_gpt.py reloads in a fresh JAX process.
def test_classifier_keras_file_takes_text_in_a_fresh_process(tmp_path):
    classifier, texts = worded_classifier()
    path = tmp_path / "classifier.keras"
    classifier.save(path)
    received = load_in_fresh_process(
        path, "model.predict(sys.argv[2:], verbose=0).tolist()", *texts
    )
    assert_close(np.array(received), classifier.predict(texts, verbose=0))
