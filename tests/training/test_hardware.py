import argparse

import keras
import pytest

from keras_attn import training
from keras_attn.training import hardware


@pytest.mark.parametrize(
    "backend, flags, devices, expected",
    [
        ("tensorflow", {"avx512f", "avx512_bf16"}, [], ("mixed_bfloat16", False)),
        ("tensorflow", {"amx_bf16", "amx_tile"}, [], ("mixed_bfloat16", False)),
        ("tensorflow", {"avx2", "fma"}, [], ("float32", True)),
        ("jax", {"avx512_bf16"}, [], ("float32", True)),  # XLA's bf16 GEMMs lose
        ("jax", set(), [("NVIDIA H100", 9.0)], ("mixed_bfloat16", True)),
        ("tensorflow", set(), [("NVIDIA A100", 8.0)], ("mixed_bfloat16", True)),
        ("tensorflow", set(), [("Tesla V100", 7.0)], ("mixed_float16", True)),
        ("jax", set(), [("old GPU", 6.1)], ("float32", True)),
    ],
)
def test_fastest_config_follows_the_measured_rules(backend, flags, devices, expected):
    config = hardware.fastest_config(backend=backend, flags=flags, devices=devices)
    assert (config.precision, config.jit_compile) == expected
    assert config.reason


@pytest.mark.parametrize(
    "backend, flags, devices, expected",
    [
        ("tensorflow", {"amx_bf16"}, [], ("float32", True)),
        ("jax", {"avx512_bf16"}, [], ("float32", True)),
        ("jax", set(), [("NVIDIA H100", 9.0)], ("mixed_bfloat16", True)),
    ],
)
def test_narrow_models_train_in_float32_with_xla_on_a_cpu(
    backend, flags, devices, expected
):
    config = hardware.fastest_config(
        workload="narrow", backend=backend, flags=flags, devices=devices
    )
    assert (config.precision, config.jit_compile) == expected


@pytest.mark.parametrize(
    "workload, backend, flags, devices, expected",
    [
        ("transformer", "tensorflow", {"avx2"}, [], ("float32", False)),
        ("narrow", "tensorflow", {"avx2"}, [], ("float32", False)),
        ("transformer", "tensorflow", {"amx_bf16"}, [], ("mixed_bfloat16", False)),
        ("transformer", "jax", {"avx2"}, [], ("float32", True)),  # ThreeFry
        ("transformer", "tensorflow", set(), [("A100", 8.0)], ("mixed_bfloat16", True)),
    ],
)
def test_dropout_trains_without_xla_under_tensorflow_on_a_cpu(
    workload, backend, flags, devices, expected
):
    config = hardware.fastest_config(
        workload=workload, backend=backend, flags=flags, devices=devices, dropout=True
    )
    assert (config.precision, config.jit_compile) == expected
    if backend == "tensorflow" and not devices and expected[0] == "float32":
        assert "dropout" in hardware.describe(config)  # why no XLA
    chosen = hardware.fastest_config(
        "float32", backend=backend, flags=flags, devices=devices, dropout=True
    )
    assert chosen.jit_compile == expected[1]


def test_a_chosen_precision_is_kept_and_gets_its_xla_setting():
    cpu = dict(backend="tensorflow", flags={"avx512_bf16"}, devices=[])
    assert hardware.fastest_config("float32", **cpu)[:2] == ("float32", True)
    assert hardware.fastest_config("mixed_bfloat16", **cpu)[:2] == (
        "mixed_bfloat16",
        False,
    )
    gpu = dict(backend="jax", flags=set(), devices=[("H100", 9.0)])
    assert hardware.fastest_config("mixed_float16", **gpu)[:2] == (
        "mixed_float16",
        True,
    )


def test_cpu_flags_reads_the_flags_line(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("model name\t: Some CPU\nflags\t\t: fpu avx512_bf16 amx_bf16\n")
    assert hardware.cpu_flags(str(cpuinfo)) == {"fpu", "avx512_bf16", "amx_bf16"}
    assert hardware.cpu_flags(str(tmp_path / "missing")) == set()


def _parsed(argv):
    parser = argparse.ArgumentParser()
    training.add_flags(parser)
    return parser.parse_args(argv)


def test_from_flags_applies_the_pick_and_says_so(capsys):
    args = _parsed(["--strategy", "one_device"])  # one replica: XLA as picked
    assert (args.mixed_precision, args.jit_compile) == ("auto", None)
    training.from_flags(args)
    picked = hardware.fastest_config()
    assert args.mixed_precision == picked.precision
    assert args.jit_compile == picked.jit_compile
    assert keras.config.dtype_policy().name == picked.precision
    line = capsys.readouterr().out
    assert f"keras_attn: training in {picked.precision}" in line
    assert ("with XLA" if picked.jit_compile else "without XLA") in line


def test_from_flags_trains_with_dropout_as_picked_for_dropout(capsys):
    args = _parsed(["--strategy", "one_device"])
    args.dropout = 0.1  # what the recipes' --dropout flag sets
    training.from_flags(args)
    assert args.jit_compile == hardware.fastest_config(dropout=True).jit_compile
    if keras.backend.backend() == "tensorflow" and not hardware.gpus():
        assert args.jit_compile is False
        assert "without XLA" in capsys.readouterr().out
    args = _parsed(["--strategy", "one_device"])
    args.dropout = 0.0
    training.from_flags(args)
    assert args.jit_compile == hardware.fastest_config().jit_compile


def test_float32_is_one_flag_away(capsys):
    args = _parsed(["--mixed-precision", "float32", "--strategy", "one_device"])
    training.from_flags(args)
    assert keras.config.dtype_policy().name == "float32"
    assert args.jit_compile is True
    assert "training in float32 with XLA" in capsys.readouterr().out
    args = _parsed(
        ["--mixed-precision", "float32", "--no-jit", "--strategy", "one_device"]
    )
    training.from_flags(args)
    assert args.jit_compile is False


def test_set_precision_auto_picks():
    policy = training.set_precision("auto")
    assert policy.name == hardware.fastest_config().precision


def test_capability_of_cuda_and_other_gpus():
    class Device:
        def __init__(self, capability):
            self.compute_capability = capability

    assert hardware._capability(Device("9.0")) == 9.0
    assert hardware._capability(Device("gfx90a")) is None  # ROCm
    assert hardware._capability(object()) is None
