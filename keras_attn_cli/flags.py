"""Flag types and the parser of every `keras-attn` command and recipe.

Standard library only: the command line imports this to print its help
without loading Keras or TensorFlow.
"""

import argparse
import math


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help, with every option's default."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "%(default)" in text or not _shows_default(action):
            return text
        return f"{text} (default: %(default)s)".strip()


class RawHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """`HelpFormatter`, with the description and epilog kept as written."""


def _shows_default(action):
    default = action.default
    return (
        bool(action.option_strings)
        and default is not None
        and default is not False
        and default != argparse.SUPPRESS
    )


class FlagParser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` whose usage errors are one line (exit
    status 2), as every `keras-attn` command promises; `--help` still prints
    the whole usage, with every option's default."""

    def __init__(self, *args, formatter_class=HelpFormatter, **kwargs):
        super().__init__(*args, formatter_class=formatter_class, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")

    def format_help(self):
        for action in self._actions:  # argparse lists options without help
            if action.help is None and _shows_default(action):  # bare
                action.help = "(default: %(default)s)"
        return super().format_help()


def _flag_type(name, convert, check):
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not check(value):
            raise argparse.ArgumentTypeError(f"expected {name}; received {text!r}")
        return value

    parse.__name__ = name
    return parse


positive_int = _flag_type("a positive integer", int, lambda x: x >= 1)
non_negative_int = _flag_type("an integer >= 0", int, lambda x: x >= 0)
positive_float = _flag_type(
    "a finite number > 0", float, lambda x: math.isfinite(x) and x > 0
)
non_negative_float = _flag_type(
    "a finite number >= 0", float, lambda x: math.isfinite(x) and x >= 0
)
probability = _flag_type("a number in (0, 1]", float, lambda x: 0 < x <= 1)
fraction = _flag_type("a number in [0, 1)", float, lambda x: 0 <= x < 1)
dropout_rate = fraction
