"""Each example's own `main()` runs in its tiny mode (as flax's tests do)."""

import itertools
import os

import keras
import numpy as np
import pytest

from keras_attn.data import tokenizers
from keras_attn.recipes import bert_finetune
from keras_attn.recipes import bert_pretrain
from keras_attn.recipes import date_seq2seq
from keras_attn.recipes import gpt_lm
from keras_attn.recipes import newsgroups
from keras_attn.recipes import semantic_search
from keras_attn.recipes import shared
from keras_attn.recipes import translate_transformer
from keras_attn.recipes import vit
from keras_attn.training import TimeBudget
from keras_attn.training import hardware
from keras_attn.training.flags import largest_dropout


@pytest.fixture
def compiled(monkeypatch):
    """Records (model name, jit_compile, largest dropout rate) of every
    `compile` a recipe makes; `check_dropout_rule(calls)` then fails where a
    model with dropout was compiled with XLA on a TensorFlow CPU (its random
    numbers are slow there: `training.fastest_config`)."""
    calls = []
    original = keras.Model.compile

    def compile(self, *args, **kwargs):
        calls.append(
            (self.name, kwargs.get("jit_compile", "auto"), largest_dropout(self))
        )
        return original(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "compile", compile)
    return calls


def check_dropout_rule(calls):
    assert calls, "the recipe compiled nothing"
    if keras.backend.backend() != "tensorflow" or hardware.gpus():
        return
    with_xla = [call for call in calls if call[2] > 0 and call[1] is True]
    assert not with_xla, with_xla


def test_date_demo_tiny(tmp_path):
    result = date_seq2seq.main(
        ["--tiny", "--verbose", "0", "--output-dir", str(tmp_path)]
    )
    assert len(result["history"]) == 1
    assert set(result["examples"]) == set(date_seq2seq.EXAMPLES)
    assert os.path.getsize(tmp_path / "attention.png") > 10_000
    assert (tmp_path / "date_seq2seq.keras").exists()
    if keras.backend.backend() == "tensorflow":
        assert (tmp_path / "saved_model" / "saved_model.pb").exists()


@pytest.mark.tf_only  # TransformerSeq2Seq and RNNSeq2Seq run on JAX in tests/models.
def test_translate_tiny(tmp_path, compiled):
    result = translate_transformer.main(
        ["--tiny", "--verbose", "0", "--output-dir", str(tmp_path)]
    )
    for name in ("transformer", "rnn"):
        assert 0.0 <= result[name]["bleu_greedy"] <= 100.0
        assert len(result[name]["history"]["loss"]) == 1
        assert (tmp_path / f"{name}.keras").exists()
    assert len(result["samples"]) == 5
    check_dropout_rule(compiled)
    assert os.path.getsize(tmp_path / "cross_attention.png") > 5_000
    assert os.path.getsize(tmp_path / "learning_curves.png") > 5_000
    assert (tmp_path / "logs" / "transformer").is_dir()
    assert (tmp_path / "checkpoints" / "rnn.weights.h5").exists()
    if keras.backend.backend() == "tensorflow":
        assert (tmp_path / "saved_model" / "saved_model.pb").exists()


@pytest.mark.tf_only  # The models run on JAX in tests/models; once is enough here.
def test_bert_pretrain_then_finetune_tiny(tmp_path, compiled):
    flags = ["--tiny", "--verbose", "0", "--output-dir", str(tmp_path)]
    pretrained = bert_pretrain.main(flags)
    check_dropout_rule(compiled)
    assert set(pretrained["held_out"]) >= {"mlm_accuracy", "nsp_accuracy"}
    assert (tmp_path / "backbone.keras").exists()
    assert os.path.getsize(tmp_path / "attention.png") > 5_000
    # --dropout 0 for the head: the backbone still has its own 0.1.
    finetuned = bert_finetune.main(flags + ["--dropout", "0"])
    check_dropout_rule(compiled)
    for name in ("bag_of_words", "frozen_backbone", "fine_tuned"):
        assert 0.0 <= finetuned[name]["test_accuracy"] <= 1.0
    frozen = finetuned["frozen_backbone"]["trainable_parameters"]
    assert frozen < finetuned["fine_tuned"]["trainable_parameters"]
    assert (tmp_path / "saved_model" / "saved_model.pb").exists()


@pytest.mark.tf_only  # The models run on JAX in tests/models; once is enough here.
def test_gpt_lm_tiny(tmp_path, compiled):
    result = gpt_lm.main(["--tiny", "--verbose", "0", "--output-dir", str(tmp_path)])
    assert result["validation_perplexity"] > 1.0
    check_dropout_rule(compiled)
    assert set(result["samples"]) == set(gpt_lm.SAMPLERS)
    for texts in result["samples"].values():
        assert len(texts) == len(gpt_lm.PROMPTS)
        assert all(t.startswith(p) for t, p in zip(texts, gpt_lm.PROMPTS))
        # Samples stop at the end of text, as `keras-attn generate` does.
        assert not any(tokenizers.END_OF_TEXT in t for t in texts), texts
    assert (tmp_path / "gpt.keras").exists()
    assert (tmp_path / "saved_model" / "saved_model.pb").exists()
    assert os.path.getsize(tmp_path / "attention.png") > 5_000
    assert os.path.getsize(tmp_path / "learning_curves.png") > 5_000


@pytest.mark.tf_only  # The models run on JAX in tests/models; once is enough here.
def test_gpt_lm_counts_steps_with_the_byte_tokenizer(tmp_path):
    flags = ["--tiny", "--verbose", "0", "--output-dir", str(tmp_path)]
    flags += ["--tokenizer", "byte", "--steps", "6", "--eval-every", "2"]
    result = gpt_lm.main(flags)
    assert result["steps"] == 6 and result["epochs"] == 3
    assert len(result["history"]["val_loss"]) == 3
    loaded = keras.saving.load_model(str(tmp_path / "gpt.keras"))
    assert loaded.generate("ROMEO.", 3).startswith("ROMEO.")  # text in, out


@pytest.mark.tf_only  # The models run on JAX in tests/models; once is enough here.
def test_newsgroups_tiny(tmp_path):
    flags = ["--tiny", "--verbose", "0", "--no-jit", "--output-dir", str(tmp_path)]
    result = newsgroups.main(flags + ["--head-tokens", "8"])
    for name in newsgroups.MODELS:
        assert 0.0 <= result[name]["test_accuracy"] <= 1.0, name
    assert result["minilm-finetuned"]["head_tokens"] == 8
    assert result["tfidf"]["test_accuracy"] > 0.9  # the stand-in's words tell
    assert set(result["histories"]) == {
        "minilm-finetuned",
        "bert-pretrained",
        "bert-scratch",
    }
    assert os.path.getsize(tmp_path / "learning_curves.png") > 5_000
    # A run of some models adds to the results of the others.
    again = newsgroups.main(flags + ["--models", "tfidf"])
    assert set(newsgroups.MODELS) <= set(again)


def test_newsgroups_head_tokens_must_fit_the_sequence(capsys):
    with pytest.raises(SystemExit):
        newsgroups.parse_args(["--sequence-length", "16", "--head-tokens", "15"])
    assert "at most --sequence-length - 2 (14); received 15" in capsys.readouterr().err


@pytest.mark.tf_only  # The models run on JAX in tests/models; once is enough here.
def test_semantic_search_tiny(tmp_path):
    # A tiny random checkpoint in the Hugging Face format, written by the
    # example itself, stands in for the real 90 MB all-MiniLM-L6-v2.
    flags = ["--tiny", "--verbose", "0", "--no-jit", "--output-dir", str(tmp_path)]
    result = semantic_search.main(flags)
    assert (tmp_path / "tiny_hf" / "model.safetensors").exists()
    assert set(result["search"]) == set(semantic_search.QUERIES)
    for hits in result["search"].values():
        scores = [hit["score"] for hit in hits]
        assert len(hits) == 3 and scores == sorted(scores, reverse=True)
    for name in (
        "embeddings_logistic_regression",
        "nearest_neighbours",
        "frozen_backbone",
        "fine_tuned",
    ):
        assert 0.0 <= result[name]["test_accuracy"] <= 1.0
    frozen = result["frozen_backbone"]["trainable_parameters"]
    assert frozen < result["fine_tuned"]["trainable_parameters"]
    # The recipe trains in the precision `auto` picked for this machine
    # (training.fastest_config); bfloat16 embeddings (~0.1 each) round at
    # ~1e-3 between the SavedModel's graph and the in-memory model.
    picked = keras.config.dtype_policy().name
    tolerance = 1e-5 if picked == "float32" else 1e-2
    assert result["export"]["max_abs_difference"] < tolerance, picked


def test_vit_stem_flag(capsys):
    assert vit.parse_args([]).stem_filters == [32, 64]
    plain = vit.parse_args(["--stem-filters"])  # no value: the plain ViT
    assert plain.stem_filters == []
    assert vit.parse_args(["--stem-filters", "--tiny"]).patch_size == 7
    assert vit.parse_args(["--patch-size", "7", "--stem-filters"]).patch_size == 7
    # The default stem's stride 4 does not divide 7: refused before any data.
    with pytest.raises(SystemExit):
        vit.parse_args(["--patch-size", "7"])
    assert "needs a patch size that is a multiple of 4" in capsys.readouterr().err


def test_vit_tiny(tmp_path):
    flags = ["--tiny", "--verbose", "0", "--output-dir", str(tmp_path)]
    models = vit.MODELS
    if keras.backend.backend() == "tensorflow":
        # No XLA compile for seconds of training; JAX without jit runs op by
        # op (1,450 small compilations: 144 s in CI against ~45 s jitted).
        flags.append("--no-jit")
    else:
        # The ViT on JAX; the CNN (core Keras) and the scikit-learn models
        # do not depend on the backend this run tests (64 s in CI with them).
        models = ("vit",)
    # Flips and shifts.
    result = vit.main(flags + ["--shift", "2", "--models", *models])
    for name in models:
        assert 0.0 <= result[name]["test_accuracy"] <= 1.0
    # The recipe's ViT has a convolutional stem (one convolution in --tiny).
    assert result["vit"]["settings"]["stem_filters"] == [4]
    assert result["vit"]["settings"]["patch_size"] == 4
    # training.TimeBudget drives the learning rate: warm-up, then cosine
    # decay to ~0 at the last step (3e-3 at its peak).
    rates = result["vit"]["history"]["learning_rate"]
    assert rates[0] > rates[-1] and rates[-1] < 3e-4, rates
    for name in ("vit.keras", "attention_rollout.png", "learning_curves.png"):
        assert (tmp_path / name).exists(), name
    if keras.backend.backend() != "tensorflow":
        return
    assert (tmp_path / "saved_model" / "saved_model.pb").exists()
    # A later run of one model keeps the others' results.
    again = vit.main(flags + ["--models", "forest"])
    assert set(vit.MODELS) <= set(again)


def fit_on_a_fake_clock(learning_rate, seconds, loss_scale=False):
    """Eight steps of SGD at `learning_rate` under a `TimeBudget` of
    `seconds` whose clock moves 10 s a read (15 s: two steps run); with
    `loss_scale`, wrapped as mixed_float16 wraps it."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    optimizer = keras.optimizers.SGD(learning_rate)
    if loss_scale:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, loss="mse")
    ticks = itertools.count(step=10.0)
    budget = TimeBudget(seconds, clock=lambda: next(ticks))
    ones = np.ones((8, 1), "float32")
    model.fit(ones, ones, batch_size=1, verbose=0, callbacks=[budget])
    return model, budget


def test_a_time_budget_that_cuts_a_schedule_short_is_reported(capsys):
    schedules = keras.optimizers.schedules
    model, budget = fit_on_a_fake_clock(schedules.CosineDecay(0.1, 100), 15)
    assert budget.stopped
    message = shared.schedule_cut_short(model, budget)
    assert "at step 2, with the learning rate at 0.0999" in message
    assert message in capsys.readouterr().out
    model, budget = fit_on_a_fake_clock(
        schedules.CosineDecay(0.1, 100), 15, loss_scale=True
    )
    assert "at step 2," in shared.schedule_cut_short(model, budget)
    # Stopped inside the warm-up, far below the peak: reported too.
    warm = schedules.CosineDecay(0.0, 100, warmup_target=0.1, warmup_steps=50)
    model, budget = fit_on_a_fake_clock(warm, 15)
    assert "at step 2, with the learning rate at 0.004" in (
        shared.schedule_cut_short(model, budget)
    )
    # Any Keras schedule, e.g. one evaluated with an integer step that would
    # overflow int32 on JAX.
    boundaries = schedules.PiecewiseConstantDecay([4], [0.1, 0.01])
    model, budget = fit_on_a_fake_clock(boundaries, 15)
    assert "at step 2," in shared.schedule_cut_short(model, budget)
    # Not when the schedule had reached its end by then, nor for a constant
    # rate, nor when the epochs ended the run before the time did.
    for rate, seconds in [(schedules.CosineDecay(0.1, 2), 15), (0.1, 15)]:
        model, budget = fit_on_a_fake_clock(rate, seconds)
        assert budget.stopped
        assert shared.schedule_cut_short(model, budget) is None
    model, budget = fit_on_a_fake_clock(schedules.CosineDecay(0.1, 100), 1000)
    assert not budget.stopped
    assert shared.schedule_cut_short(model, budget) is None
