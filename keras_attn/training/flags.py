"""The command-line flags of distributed training, shared by every entry point."""

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
    (`fastest_config` for `auto`, with `args.workload` if the parser set
    one, and whether `args.dropout`, if there is one, is above 0) and
    prints them in one line, so call it before building any model; turns
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
        dropout=(getattr(args, "dropout", 0) or 0) > 0,
    )
    args.mixed_precision = config.precision
    if getattr(args, "jit_compile", None) is None:
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
