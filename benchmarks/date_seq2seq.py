"""Epochs and seconds to 99.9% held-out exact match on the date task.

    python benchmarks/date_seq2seq.py [--no-baseline]

Runs the demo's own training function (keras_attn/recipes/date_seq2seq.py) with
Bahdanau attention until held-out exact match reaches 99.9%, then the same
model without attention for the same number of epochs (the bottleneck
baseline), and prints both with the hardware and versions.
"""

import argparse
import os
import platform
import sys

import keras

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from keras_attn.recipes import date_seq2seq  # noqa: E402


def hardware():
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                line.split(":", 1)[1].strip() for line in f if "model name" in line
            )
    except (OSError, StopIteration):
        pass
    import tensorflow as tf

    return (
        f"{cpu}, {os.cpu_count()} cores; python {platform.python_version()}, "
        f"keras {keras.__version__} ({keras.backend.backend()}), "
        f"tensorflow {tf.__version__}"
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    flags = p.parse_args(argv)
    print(hardware())
    print("load avg before: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    args = date_seq2seq.parse_args(["--verbose", "2", "--seed", str(flags.seed)])
    _, history = date_seq2seq.train(args)
    epochs, accuracy, seconds = history[-1]
    rows = [("Bahdanau attention", epochs, accuracy, seconds)]
    if not flags.no_baseline:
        base = date_seq2seq.parse_args(
            [
                "--verbose",
                "2",
                "--attention",
                "none",
                "--target",
                "0",
                "--epochs",
                str(epochs),
                "--seed",
                str(flags.seed),
            ]
        )
        _, base_history = date_seq2seq.train(base)
        rows.append(("no attention", *base_history[-1]))
    print("\n| model | epochs | held-out exact match | training seconds |")
    print("|---|---|---|---|")
    for name, e, a, s in rows:
        print(f"| {name} | {e} | {a:.2%} | {s:.1f} |")
    print("load avg after: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
