"""The command-line flags of distributed training, shared by every entry point."""

import keras

from keras_attn.training.hardware import describe
from keras_attn.training.hardware import fastest_config
from keras_attn.training.precision import set_precision
from keras_attn.training.strategies import get_strategy
from keras_attn.training.strategies import global_batch_size
from keras_attn.training.strategies import num_replicas
from keras_attn_cli.recipe_flags import add_training_flags
from keras_attn_cli.recipe_flags import save_freq  # noqa: F401


def add_flags(parser):
    """Adds `--strategy`, `--mixed-precision`, `--jit`/`--no-jit` and
    `--save-freq` to `parser`.

    `--mixed-precision` and the XLA setting default to `auto`: `from_flags`
    picks the fastest correct configuration for the machine
    (`training.fastest_config`) and prints it; `--mixed-precision float32`
    trains in float32.

    Args:
        parser: an `argparse.ArgumentParser`.

    Example:

    >>> import argparse
    >>> from keras_attn import training
    >>> parser = argparse.ArgumentParser()
    >>> training.add_flags(parser)
    >>> args = parser.parse_args(["--strategy", "mirrored", "--save-freq", "50"])
    >>> args.strategy, args.mixed_precision, args.jit_compile, args.save_freq
    ('mirrored', 'auto', None, 50)
    """
    add_training_flags(parser)


def from_flags(args):
    """Applies the flags of `add_flags` once; returns the strategy.

    Picks the strategy, picks and sets the dtype policy and `jit_compile`
    (`fastest_config` for `auto`, with `args.workload` and `args.dropout`
    if the parser set them) and prints them in one line, so call it before
    building any model (a model whose dropout is not `args.dropout`, such as
    a loaded backbone, is compiled with `jit_compile_for`); turns
    `args.batch_size`, if there is one, from a per-replica into the global
    batch (keeping `args.per_replica_batch_size`), and turns
    `args.jit_compile` off with more than one replica: XLA cannot compile a
    step whose variables live on several devices. Calling it again returns
    the same strategy.

    Args:
        args: the `argparse.Namespace` parsed with `add_flags`.

    Returns:
        The strategy, also stored as `args.strategy`.

    Example:

    >>> import argparse
    >>> from keras_attn import training
    >>> parser = argparse.ArgumentParser()
    >>> training.add_flags(parser)
    >>> _ = parser.add_argument("--batch-size", type=int, default=32)
    >>> args = parser.parse_args(["--strategy", "one_device"])
    >>> strategy = training.from_flags(args)
    keras_attn: training in ...
    >>> training.from_flags(args) is strategy, args.batch_size
    (True, 32)
    >>> _ = training.set_precision("float32")  # what the rest of the run expects
    """
    if not isinstance(args.strategy, str):
        return args.strategy
    strategy = get_strategy(args.strategy)
    config = fastest_config(
        args.mixed_precision,
        workload=getattr(args, "workload", "transformer"),
        dropout=getattr(args, "dropout", 0) or 0,
    )
    args.mixed_precision = config.precision
    args.jit_compile_picked = getattr(args, "jit_compile", None) is None
    if args.jit_compile_picked:
        args.jit_compile = config.jit_compile
    set_precision(config.precision)
    if getattr(args, "batch_size", None):
        args.per_replica_batch_size = args.batch_size
        args.batch_size = global_batch_size(args.batch_size, strategy)
    if num_replicas(strategy) > 1:
        args.jit_compile = False
    print(describe(config, args.jit_compile), flush=True)
    args.strategy = strategy
    return strategy


def jit_compile_for(model, args):
    """The `jit_compile` to compile `model` with, after `from_flags(args)`.

    `from_flags` picks the XLA setting from `args.dropout`; a model may
    train with other dropout (a loaded backbone keeps the rate it was saved
    with, and Keras runs dropout in a frozen backbone too). Unless
    `--jit`/`--no-jit` chose, or more than one replica turned XLA off, this
    picks again for the largest dropout rate found in `model` and says so
    when that changes the setting.

    Args:
        model: the built model about to be compiled.
        args: the `argparse.Namespace` that `from_flags` applied.

    Returns:
        `True` or `False`.

    Example:

    >>> import argparse, keras
    >>> from keras_attn import training
    >>> parser = argparse.ArgumentParser()
    >>> training.add_flags(parser)
    >>> args = parser.parse_args(["--strategy", "one_device", "--no-jit"])
    >>> _ = training.from_flags(args)
    keras_attn: training in ...
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5)])
    >>> training.jit_compile_for(model, args)  # --no-jit chose
    False
    >>> _ = training.set_precision("float32")
    """
    if not getattr(args, "jit_compile_picked", False):
        return args.jit_compile
    if num_replicas(args.strategy) > 1:
        return False
    rate = largest_dropout(model)
    config = fastest_config(
        args.mixed_precision,
        workload=getattr(args, "workload", "transformer"),
        dropout=rate,
    )
    if config.jit_compile != args.jit_compile:
        print(
            f"keras_attn: compiling {model.name} "
            f"{'with' if config.jit_compile else 'without'} XLA (its largest "
            f"dropout rate is {rate:g}{'; ' if config.xla_reason else ''}"
            f"{config.xla_reason})",
            flush=True,
        )
    return config.jit_compile


def largest_dropout(model):
    """The largest dropout rate of `model`'s layers, nested ones included
    (`keras.layers.Dropout.rate`, or a layer's own `dropout` rate); 0.0 if
    none."""
    rates = [0.0]
    # Keras 3 has no public walk over nested layers; this is the one its
    # own `Layer` uses to collect weights.
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, keras.layers.Dropout):
            value = layer.rate
        else:
            value = getattr(layer, "dropout", None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rates.append(float(value))
    return max(rates)
