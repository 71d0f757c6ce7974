"""`keras-attn --help` and every command's `--help` print without loading
Keras, TensorFlow, JAX or the library, and show the defaults."""

import json
import subprocess
import sys

import pytest

from keras_attn_cli import _parser

COMMANDS = [[], ["train"], ["predict"], ["generate"], ["evaluate"], ["export"]]
COMMANDS += [["serve"]]
HEAVY = ("keras", "tensorflow", "jax", "numpy", "keras_attn")

PROBE = """
import contextlib, io, json, sys
import keras_attn_cli
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = keras_attn_cli.main(sys.argv[1:] + ["--help"])
loaded = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps({"code": code, "help": out.getvalue(), "modules": loaded}))
"""


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_help_imports_nothing_heavy(command):
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(result.stdout)
    assert report["code"] == 0
    assert "usage: keras-attn" in report["help"]
    assert [m for m in HEAVY if m in report["modules"]] == []


def test_help_shows_defaults():
    commands = _parser()._subparsers._group_actions[0].choices
    generate = commands["generate"].format_help()
    assert "(default: 40)" in generate  # --max-new-tokens, no help text
    assert "0 means off (default: 0)" in generate  # --top-k: 0 is shown
    serve = commands["serve"].format_help()
    assert "(default: 8501)" in serve and "(default: 127.0.0.1)" in serve
    assert "(default: None)" not in serve  # --model-name: nothing to show
