"""The keras.io-style scripts in examples/ run in their tiny mode."""

import importlib.util
import os

import numpy as np
import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples")


def load(name):
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(EXAMPLES, f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_is_short_and_has_a_main():
    for filename in sorted(os.listdir(EXAMPLES)):
        if filename.endswith(".py"):
            with open(os.path.join(EXAMPLES, filename)) as f:
                lines = f.read().splitlines()
            assert len(lines) <= 150, (filename, len(lines))
            assert "def main(argv=None):" in lines, filename


def test_date_converter_bahdanau(tmp_path):
    plot = tmp_path / "attention.png"
    result = load("date_converter_bahdanau").main(["--tiny", "--plot", str(plot)])
    assert 0.0 <= result["exact_match"] <= 1.0
    weights = result["weights"]  # (B, T, S) Bahdanau weights, rows sum to 1
    assert weights.shape[-1] == 32
    assert abs(float(weights[0, 0].sum()) - 1.0) < 1e-4
    assert plot.stat().st_size > 5_000


def test_mini_gpt():
    result = load("mini_gpt").main(["--tiny"])
    assert result["perplexity"] > 1.0
    assert all(text.startswith("ROMEO:") for text in result["samples"].values())


def test_text_classification_transformer():
    result = load("text_classification_transformer").main(["--tiny"])
    assert 0.0 <= result["test_accuracy"] <= 1.0


@pytest.mark.tf_only  # tf.data pipelines of keras_attn.data
def test_translation_transformer():
    result = load("translation_transformer").main(["--tiny"])
    assert 0.0 <= result["bleu_beam1"] <= 100.0
    assert "bleu_beam4" in result


@pytest.mark.tf_only  # tf.data pipelines of keras_attn.data
def test_bert_pretrain_finetune():
    result = load("bert_pretrain_finetune").main(["--tiny"])
    assert {"frozen_backbone", "fine_tuned"} <= set(result)
    assert 0.0 <= result["pretraining"]["mlm_accuracy"] <= 1.0


@pytest.mark.tf_only  # tf.data pipelines of keras_attn.data
def test_vit_fashion_mnist():
    result = load("vit_fashion_mnist").main(["--tiny"])
    assert 0.0 <= result["test_accuracy"] <= 1.0
    maps = result["rollout"]  # (B, 7, 7), each a share of the class token's flow
    assert maps.shape == (4, 7, 7)
    assert np.all(maps >= 0) and np.all(maps.sum((1, 2)) < 1.0)
