"""Each example's own `main()` runs in its tiny mode (as flax's tests do)."""

import os

import keras

from examples import date_seq2seq
from examples import translate_transformer


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


def test_translate_tiny(tmp_path):
    result = translate_transformer.main(
        ["--tiny", "--verbose", "0", "--output-dir", str(tmp_path)]
    )
    for name in ("transformer", "rnn"):
        assert 0.0 <= result[name]["bleu_greedy"] <= 100.0
        assert len(result[name]["history"]["loss"]) == 1
        assert (tmp_path / f"{name}.keras").exists()
    assert len(result["samples"]) == 5
    assert os.path.getsize(tmp_path / "cross_attention.png") > 5_000
    assert (tmp_path / "logs" / "transformer").is_dir()
    assert (tmp_path / "checkpoints" / "rnn.weights.h5").exists()
