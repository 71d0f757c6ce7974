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
        workload=workload, backend=backend, flags=flags, devices=devices, dropout=0.1
    )
    assert (config.precision, config.jit_compile) == expected
    if backend == "tensorflow" and not devices and expected[0] == "float32":
        assert "dropout" in hardware.describe(config)  # why no XLA
    chosen = hardware.fastest_config(
        "float32", backend=backend, flags=flags, devices=devices, dropout=True
    )  # a rate or True
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


TF_CPU = keras.backend.backend() == "tensorflow" and not hardware.gpus()


def _float32(argv=()):
    """Flags under which XLA is on on any CPU unless dropout turns it off."""
    return _parsed(["--mixed-precision", "float32", "--strategy", "one_device", *argv])


def test_from_flags_trains_with_dropout_without_xla_on_a_tensorflow_cpu(capsys):
    args = _float32()
    args.dropout = 0.1  # what the recipes' --dropout flag sets
    training.from_flags(args)
    line = capsys.readouterr().out
    assert args.jit_compile is (not TF_CPU)
    assert ("because the model trains with dropout" in line) is TF_CPU
    args = _float32()
    args.dropout = 0.0
    training.from_flags(args)
    assert args.jit_compile is True


def test_an_explicit_jit_is_kept_and_not_explained_away(capsys):
    args = _float32(["--jit"])
    args.dropout = 0.1
    training.from_flags(args)
    line = capsys.readouterr().out
    assert args.jit_compile is True
    assert "with XLA" in line and "without XLA" not in line


def _bert_classifier(backbone_dropout, head_dropout):
    from keras_attn.models import BertBackbone
    from keras_attn.models import BertClassifier

    backbone = BertBackbone(
        vocabulary_size=50,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=8,
        dropout=backbone_dropout,
    )
    return BertClassifier(backbone, 3, dropout=head_dropout)


def test_largest_dropout_finds_nested_rates():
    from keras_attn.training.flags import largest_dropout

    assert largest_dropout(_bert_classifier(0.2, 0.1)) == pytest.approx(0.2)
    assert largest_dropout(_bert_classifier(0.0, 0.3)) == pytest.approx(0.3)
    assert largest_dropout(_bert_classifier(0.0, 0.0)) == 0.0
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert largest_dropout(plain) == 0.0


def test_jit_compile_for_picks_again_for_the_model_s_own_dropout(capsys):
    # A fine-tuning recipe with --dropout 0: the head has none, the loaded
    # backbone keeps 0.1 (issue 12 review: it was compiled with XLA).
    args = _float32()
    args.dropout = 0.0
    training.from_flags(args)
    assert args.jit_compile is True
    capsys.readouterr()
    model = _bert_classifier(0.1, 0.0)
    assert training.jit_compile_for(model, args) is (not TF_CPU)
    line = capsys.readouterr().out
    assert ("without XLA (its largest dropout rate is 0.1" in line) is TF_CPU
    assert training.jit_compile_for(_bert_classifier(0.0, 0.0), args) is True
    # and the other way: --dropout 0.1 for a model without any.
    args = _float32()
    args.dropout = 0.1
    training.from_flags(args)
    assert training.jit_compile_for(_bert_classifier(0.0, 0.0), args) is True
    # --jit / --no-jit choose.
    for flag, expected in (("--jit", True), ("--no-jit", False)):
        args = _float32([flag])
        training.from_flags(args)
        assert training.jit_compile_for(_bert_classifier(0.1, 0.1), args) is expected


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


def test_set_precision_auto_picks_and_says_nothing_of_xla(capsys):
    policy = training.set_precision("auto")
    assert policy.name == hardware.fastest_config().precision
    line = capsys.readouterr().out
    assert f"training in {policy.name} (" in line and "XLA" not in line
    training.set_precision("float32")


MACHINES = [
    ({"avx512f", "avx512_bf16"}, []),
    ({"amx_bf16", "amx_tile"}, []),
    ({"avx2", "fma"}, []),
    (set(), [("NVIDIA H100", 9.0)]),
    (set(), [("Tesla V100", 7.0)]),
    (set(), [("old GPU", 6.1)]),
]


@pytest.mark.parametrize("flags, devices", MACHINES)
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_the_precision_line_names_no_xla_setting_on_any_machine(
    backend, flags, devices
):
    # set_precision sets no XLA, so its line (xla=False) must not claim one,
    # whatever the machine: the XLA half of a pick's reasons is xla_reason.
    for workload in hardware.WORKLOADS:
        for dropout in (0.0, 0.1):
            config = hardware.fastest_config(
                workload=workload,
                dropout=dropout,
                backend=backend,
                flags=flags,
                devices=devices,
            )
            line = hardware.describe(config, xla=False)
            assert "XLA" not in line, line


def test_capability_of_cuda_and_other_gpus():
    class Device:
        def __init__(self, capability):
            self.compute_capability = capability

    assert hardware._capability(Device("9.0")) == 9.0
    assert hardware._capability(Device("gfx90a")) is None  # ROCm
    assert hardware._capability(object()) is None
