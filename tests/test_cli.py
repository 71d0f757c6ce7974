"""The `keras-attn` console script, driven as a user would: in subprocesses.

Each command's output is checked against the SavedModel called directly
with TensorFlow (or against the date rules in `keras_attn.data.dates`), not
against the CLI's own code.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

import keras_attn_cli as cli
from keras_attn.data import dates
from tests.test_case import byte_gpt

pytestmark = pytest.mark.tf_only  # SavedModels are TensorFlow's.

SCRIPT = os.path.join(os.path.dirname(sys.executable), "keras-attn")
DATES = ["Sep 30, 1981", "TUESDAY, SEPTEMBER 25, 1984", "10/31/90"]


def keras_attn(*args, stdin=None, timeout=300):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    return subprocess.run(
        [SCRIPT, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def call_saved_model(path, signature, **inputs):
    import tensorflow as tf

    function = tf.saved_model.load(path).signatures[signature]
    outputs = function(**{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in outputs.items()}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """`keras-attn train date` from a YAML config, tiny."""
    run_dir = tmp_path_factory.mktemp("cli") / "date"
    config = run_dir.parent / "date.yaml"
    config.write_text(f"tiny: true\nverbose: 0\noutput_dir: {run_dir}\n")
    result = keras_attn("train", "date", "--config", str(config), "--no-jit")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def test_help_lists_commands_and_tasks(capsys):
    result = keras_attn("--help")
    assert result.returncode == 0
    for command in ("train", "evaluate", "export", "serve", "predict", "generate"):
        assert command in result.stdout
    assert cli.main(["train", "--help"]) == 0
    printed = capsys.readouterr().out
    for task in ("date", "translate", "bert-pretrain", "bert-finetune", "gpt"):
        assert task in printed
    result = keras_attn("train", "gpt", "--help")
    assert result.returncode == 0
    assert "keras-attn train gpt" in result.stdout
    assert "--max-new-tokens" in result.stdout


def test_train_writes_the_model_and_predict_matches_the_saved_model(run_dir):
    saved_model = str(run_dir / "saved_model")
    assert (run_dir / "date_seq2seq.keras").exists()
    result = keras_attn("predict", saved_model, *DATES)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    expected = call_saved_model(saved_model, "convert", dates=DATES)["iso"]
    assert [row["iso"] for row in rows] == [s.decode() for s in expected]
    # Lines of standard input, when no TEXT is given.
    piped = keras_attn("predict", saved_model, stdin="\n".join(DATES) + "\n")
    assert piped.stdout == result.stdout


def test_evaluate_scores_exact_match(run_dir, tmp_path):
    saved_model = str(run_dir / "saved_model")
    pairs = dates.train_test_pairs(1, 40, seed=3)[1]
    data = tmp_path / "held_out.tsv"
    data.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    result = keras_attn("evaluate", saved_model, str(data), "--batch-size", "16")
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads(result.stdout.strip().splitlines()[-1])
    predicted = call_saved_model(saved_model, "convert", dates=[s for s, _ in pairs])
    expected = np.mean([p.decode() == t for p, (_, t) in zip(predicted["iso"], pairs)])
    assert scores["examples"] == 40
    assert scores["exact_match"] == pytest.approx(expected, abs=1e-4)
    assert "bleu" not in scores
    with_bleu = keras_attn("evaluate", saved_model, str(data), "--bleu")
    assert 0.0 <= json.loads(with_bleu.stdout.splitlines()[-1])["bleu"] <= 100.0


def test_export_rewrites_the_same_saved_model(run_dir, tmp_path):
    path = str(tmp_path / "date" / "1")
    result = keras_attn("export", "date", str(run_dir), path)
    assert result.returncode == 0, result.stderr[-3000:]
    again = call_saved_model(path, "convert", dates=DATES)["iso"]
    first = call_saved_model(str(run_dir / "saved_model"), "convert", dates=DATES)
    np.testing.assert_array_equal(again, first["iso"])


def test_errors_say_what_was_wrong(run_dir, tmp_path, capsys):
    # In-process: the exit status and the one-line message are what a shell sees.
    def fails(*args):
        assert cli.main(list(args)) == 2
        return capsys.readouterr().err

    assert "not a SavedModel" in fails("predict", str(tmp_path), "x")
    saved_model = str(run_dir / "saved_model")
    error = fails("predict", saved_model, "--signature", "nope", "x")
    assert "no signature 'nope'" in error and "convert" in error
    bad = tmp_path / "bad.tsv"
    bad.write_text("only one field\n")
    assert "bad.tsv:1" in fails("evaluate", saved_model, str(bad))
    config = tmp_path / "bad.yaml"
    config.write_text("- a list\n")
    assert "mapping" in fails("train", "date", "--config", str(config))
    assert "trains nothing to export" in fails(
        "export", "semantic-search", str(run_dir), str(tmp_path / "x")
    )


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_the_rest_api(run_dir):
    port = free_port()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    server = subprocess.Popen(
        [SCRIPT, "serve", str(run_dir / "saved_model"), "--model-name", "dates"]
        + ["--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    base = f"http://127.0.0.1:{port}/v1/models/dates"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(base, timeout=5) as response:
                    status = json.load(response)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        server.stderr.read().decode()[-3000:]
                    ) from None
                time.sleep(0.5)
        assert status["model_version_status"][0]["state"] == "AVAILABLE"
        body = json.dumps({"signature_name": "convert", "instances": DATES})
        request = urllib.request.Request(
            base + ":predict", body.encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            predictions = json.load(response)["predictions"]
        expected = call_saved_model(
            str(run_dir / "saved_model"), "convert", dates=DATES
        )
        assert predictions == [s.decode() for s in expected["iso"]]
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def gpt_path(tmp_path_factory):
    from keras_attn.export import export_gpt_generator

    lm = byte_gpt()
    path = str(tmp_path_factory.mktemp("cli_gpt") / "gpt")
    export_gpt_generator(lm, lm.tokenizer, path)
    return path


def test_generate_continues_prompts_like_the_saved_model(gpt_path):
    path = gpt_path
    prompts = ["To be", "or not"]
    result = keras_attn(
        "generate", path, *prompts, "--max-new-tokens", "5", "--top-k", "3"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    expected = call_saved_model(
        path,
        "generate",
        prompt=prompts,
        max_new_tokens=np.int32(5),
        temperature=np.float32(1.0),
        top_k=np.int32(3),
        top_p=np.float32(1.0),
        seed=np.int64(0),
    )
    texts = [t.decode("utf-8") for t in expected["text"]]
    assert result.stdout.splitlines() == texts


def test_generate_streams_from_a_saved_model_what_generate_prints(gpt_path, capsys):
    args = ["generate", gpt_path, "To be", "or not", "--max-new-tokens", "5"]
    printed = []
    for extra in ([], ["--stream"]):
        assert cli.main(args + ["--top-k", "3", "--seed", "4"] + extra) == 0
        printed.append(capsys.readouterr().out)
    assert printed[0] == printed[1]
    assert printed[0].startswith("To be") and len(printed[0].splitlines()) == 2


def test_mistakes_exit_2_with_one_line_and_no_traceback(
    run_dir, gpt_path, tmp_path, capsys
):
    """Every case raised a traceback before issue 11."""

    def one_line_error(*args):
        code = cli.main(list(args))
        err = capsys.readouterr().err
        assert code == 2, (args, err)
        assert len(err.strip().splitlines()) == 1, (args, err)
        assert "Traceback" not in err, (args, err)
        return err

    for flag, value in [
        ("--top-p", "0"),
        ("--top-p", "nan"),
        ("--max-new-tokens", "0"),
        ("--temperature", "-1"),
        ("--top-k", "-2"),
    ]:
        assert f"{flag}: expected" in one_line_error(
            "generate", gpt_path, "a", flag, value
        )
    assert "empty prompt" in one_line_error("generate", gpt_path, "")
    assert "empty prompt" in one_line_error("generate", gpt_path, "", "--stream")
    assert "--batch-size: expected a positive integer; received '0'" in (
        one_line_error("train", "date", "--batch-size", "0")
    )
    assert "--epochs: expected a positive integer" in (
        one_line_error("train", "date", "--epochs", "0")
    )
    config = tmp_path / "tag.yaml"
    config.write_text("tiny: !!python/object/apply:os.system ['echo hi']\n")
    assert "not a plain YAML mapping" in one_line_error(
        "train", "date", "--config", str(config)
    )

    saved_model = run_dir / "saved_model"
    corrupt = tmp_path / "corrupt"
    shutil.copytree(saved_model, corrupt)
    (corrupt / "saved_model.pb").write_bytes(b"\x08\x01garbage" * 10)
    assert "not a readable SavedModel" in one_line_error("predict", str(corrupt), "x")
    truncated = tmp_path / "truncated"
    shutil.copytree(saved_model, truncated)
    for data in (truncated / "variables").glob("variables.data-*"):
        data.write_bytes(data.read_bytes()[:100])
    assert "not a readable SavedModel" in one_line_error("predict", str(truncated), "x")
    assert "not a readable SavedModel" in one_line_error("serve", str(corrupt))

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        error = one_line_error("serve", str(saved_model), "--port", port)
    assert "address already in use" in error.lower()


def test_config_false_turns_a_negatable_switch_off(tmp_path):
    from keras_attn_cli import config_flags

    config = tmp_path / "flags.yaml"
    config.write_text("jit: false\ntiny: true\nverbose: 0\nseed: null\n")
    assert config_flags(str(config)) == ["--no-jit", "--tiny", "--verbose", "0"]


def test_config_lists_are_flags_of_several_values(tmp_path):
    from keras_attn.recipes import vit
    from keras_attn_cli import config_flags

    config = tmp_path / "flags.yaml"
    config.write_text("models: [vit, cnn]\nstem_filters: []\n")
    flags = config_flags(str(config))
    assert flags == ["--models", "vit", "cnn", "--stem-filters"]
    args = vit.parse_args(flags)
    assert args.models == ["vit", "cnn"] and args.stem_filters == []
    config.write_text("models: [[vit]]\n")
    with pytest.raises(ValueError, match="list of them; received"):
        config_flags(str(config))


def test_generate_streams_from_a_keras_file(tmp_path):
    from keras_attn import samplers
    from keras_attn.data import tokenizers

    lm = byte_gpt()
    tokenizer = lm.tokenizer
    path = str(tmp_path / "gpt.keras")
    lm.save(path)
    sampler = samplers.TunableSampler(temperature=1.0, top_k=3, top_p=1.0)
    stop = [int(tokenizer.token_to_id(tokenizers.END_OF_TEXT))]
    expected = [
        lm.generate(p, 6, sampler=sampler, stop_token_ids=stop, seed=5)
        for p in ("To be", "or")
    ]
    args = ("generate", path, "To be", "or", "--max-new-tokens", "6", "--top-k")
    for extra in ([], ["--stream"]):
        result = keras_attn(*args, "3", "--seed", "5", *extra)
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout == "".join(text + "\n" for text in expected)
