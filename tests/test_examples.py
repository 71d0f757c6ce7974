"""Each example's own `main()` runs in its tiny mode (as flax's tests do)."""

import os

import keras

from examples import date_seq2seq


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
