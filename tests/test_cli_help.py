"""`keras-attn --help` and every command's `--help` print without loading
Keras, TensorFlow, JAX or the library, and show the defaults."""

import json
import subprocess
import sys

import pytest

from keras_attn_cli import build_parser
from keras_attn_cli.recipe_flags import RECIPES
from keras_attn_cli.recipe_flags import recipe_parser

COMMANDS = [[], ["train"], ["predict"], ["generate"], ["evaluate"], ["export"]]
COMMANDS += [["serve"]] + [["train", task] for task in sorted(RECIPES)]
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
    commands = build_parser()._subparsers._group_actions[0].choices
    generate = commands["generate"].format_help()
    assert "(default: 40)" in generate  # --max-new-tokens, no help text
    assert "0 means off (default: 0)" in generate  # --top-k: 0 is shown
    serve = commands["serve"].format_help()
    assert "(default: 8501)" in serve and "(default: 127.0.0.1)" in serve
    assert "(default: None)" not in serve  # --model-name: nothing to show


@pytest.mark.parametrize("task", sorted(RECIPES))
def test_train_help_is_the_parser_the_recipe_reads(task):
    """`train TASK --help` is printed without the recipe: every setting the
    recipe's `parse_args` returns must be one of the flags it shows."""
    import importlib

    recipe = importlib.import_module(f"keras_attn.recipes.{RECIPES[task][0]}")
    settings = set(vars(recipe.parse_args([])))
    parser = recipe_parser(task, f"keras-attn train {task}")
    flags = {a.dest for a in parser._actions if a.option_strings} - {"help"}
    assert settings - flags <= {"workload"}  # set by the parser, not a flag
    text = parser.format_help()
    assert all(
        f"--{dest.replace('_', '-')}" in text for dest in flags - {"jit_compile"}
    )
    assert "(default: " in text
