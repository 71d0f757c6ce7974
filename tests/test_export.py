import json
import os
import subprocess
import sys

import pytest

from keras_attn.data import dates
from keras_attn.recipes import date_seq2seq

pytestmark = pytest.mark.tf_only

TEXTS = ["Sep 30, 1981", "TUESDAY, SEPTEMBER 25, 1984", "10/31/90", "x" * 40, "ü"]

# Runs in a fresh interpreter that never imports keras_attn (nor keras).
LOAD = """
import json, sys
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
texts = tf.constant(json.loads(sys.argv[2]))
out = loaded.signatures["convert"](dates=texts)["iso"].numpy()
print(json.dumps([s.decode() for s in out]))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from keras_attn.export import export_date_converter

    folder = tmp_path_factory.mktemp("export")
    args = date_seq2seq.parse_args(["--tiny", "--output-dir", str(folder)])
    model, _ = date_seq2seq.train(args)
    path = str(folder / "saved_model")
    export_date_converter(model, path)
    return model, path


def test_saved_model_converts_strings_like_the_model(exported):
    model, path = exported
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", LOAD, path, json.dumps(TEXTS)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    served = json.loads(result.stdout.strip().splitlines()[-1])
    # In memory: over-long inputs are truncated and unknown characters
    # become [UNK], exactly as the exported graph documents.
    expected, _ = date_seq2seq.convert(model, [t[: dates.SOURCE_LENGTH] for t in TEXTS])
    assert served == expected


def test_saved_model_cli_lists_the_signature(exported):
    _, path = exported
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = subprocess.run(
        [cli, "show", "--dir", path, "--all"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "signature_def['convert']" in result.stdout
    assert "signature_def['serving_default']" in result.stdout
    assert "DT_STRING" in result.stdout
