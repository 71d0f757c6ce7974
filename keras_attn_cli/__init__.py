"""The `keras-attn` command: train, evaluate, export, serve, predict, generate.

    keras-attn train date --tiny
    keras-attn train gpt --config gpt.yaml --minutes 5
    keras-attn predict outputs/date_seq2seq/saved_model "Sep 30, 1981"
    keras-attn predict outputs/vit/saved_model --file shoe.png --file bag.jpg
    keras-attn evaluate outputs/date_seq2seq/saved_model held_out.tsv
    keras-attn generate outputs/gpt_lm/saved_model "ROMEO." --top-p 0.9
    keras-attn serve outputs/date_seq2seq/saved_model --port 8501

`train` runs one of the training recipes (`keras_attn.recipes`) with its own flags;
`export` writes a trained recipe's model as a string-in/string-out
SavedModel; `predict`, `generate`, `evaluate` and `serve` work on such
SavedModels only, through TensorFlow, without the Python model.

This package imports nothing but the standard library until a command
runs, so `keras-attn --help`, every `keras-attn COMMAND --help` and every
`keras-attn train TASK --help` answer without loading Keras or TensorFlow
(`tests/test_cli_help.py` checks it).
"""

import argparse
import json
import os
import sys

from keras_attn_cli.flags import FlagParser
from keras_attn_cli.flags import RawHelpFormatter
from keras_attn_cli.flags import non_negative_float
from keras_attn_cli.flags import non_negative_int
from keras_attn_cli.flags import positive_int
from keras_attn_cli.flags import probability
from keras_attn_cli.recipe_flags import RECIPES
from keras_attn_cli.recipe_flags import recipe_parser

# Task name -> recipe module under keras_attn.recipes, and its summary.
TASKS = {name: recipe[:2] for name, recipe in RECIPES.items()}


def main(argv=None):
    """Entry point of the `keras-attn` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        args, rest = parser.parse_known_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        if args.command != "train":
            # TEXT arguments may come after options (`predict M --signature S x`).
            tail = argv[argv.index(args.command) + 1 :]
            args, rest = args.parser.parse_intermixed_args(tail), []
    except SystemExit as exit:  # --help, or a usage error (one line printed)
        return exit.code
    try:
        return args.run(args, rest) or 0
    except Exception as error:
        if not _is_user_error(error):
            raise  # A bug of ours: the traceback is for us.
        message = " ".join(str(error).split())  # One line.
        if not isinstance(error, (ValueError, TypeError, OSError)):
            from keras_attn.serving.served_model import first_meaningful_line

            message = first_meaningful_line(error)  # Not the graph's stack.
        print(f"keras-attn {args.command}: error: {message}", file=sys.stderr)
        return 2


def _is_user_error(error):
    """Errors of the input or the environment: one line, exit status 2.

    ValueError/TypeError (our checks), OSError (a missing file, a port in
    use), and a SavedModel's own input checks (`InvalidArgumentError`).
    """
    if isinstance(error, (ValueError, TypeError, OSError)):
        return True
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(error, tf.errors.InvalidArgumentError)


def build_parser():
    parser = FlagParser(
        prog="keras-attn",
        description="Train, export and serve keras_attn attention models.",
        epilog="`keras-attn COMMAND --help` tells more about each command.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    tasks = "\n".join(f"  {name:16} {text}" for name, (_, text) in TASKS.items())
    train = commands.add_parser(
        "train",
        help="train one of the recipe tasks",
        description="Train a recipe task with `model.fit`. Flags after the task\n"
        "go to the task (see `keras-attn train TASK --help`); a --config\n"
        "file gives the same flags as a YAML or JSON mapping, and flags on\n"
        "the command line win.",
        epilog=f"tasks:\n{tasks}",
        formatter_class=RawHelpFormatter,
        add_help=False,
    )
    train.add_argument("task", nargs="?", choices=sorted(TASKS), metavar="TASK")
    train.add_argument("--config", help="YAML or JSON file of task flags")
    train.add_argument("-h", "--help", action="store_true")
    train.set_defaults(run=_train, parser=train)

    predict = commands.add_parser(
        "predict",
        help="run a SavedModel signature on strings",
        description="Call a signature of a string-in SavedModel on TEXT "
        "arguments, on the bytes of --file FILEs (e.g. PNG or JPEG images "
        "for an image classifier), or on the lines of standard input when "
        "neither is given; print one JSON object per input.",
    )
    _add_saved_model_args(predict)
    predict.add_argument("texts", nargs="*", metavar="TEXT")
    predict.add_argument(
        "--file",
        dest="files",
        action="append",
        default=[],
        metavar="FILE",
        help="a file whose bytes are one input (repeatable; not with TEXT)",
    )
    predict.add_argument(
        "--arg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a scalar input of the signature (repeatable)",
    )
    predict.set_defaults(run=_predict, parser=predict, command="predict")

    generate = commands.add_parser(
        "generate",
        help="continue prompts with an exported or saved GPT",
        description="Continue each PROMPT with the `generate` signature of a "
        "GPT SavedModel written by `keras-attn export gpt`, or with a "
        "GPTCausalLM saved with its tokenizer as a .keras file (`keras-attn "
        "train gpt` writes RUN_DIR/gpt.keras); --stream prints the new text "
        "as it is generated.",
    )
    generate.add_argument("saved_model", metavar="MODEL", help="SavedModel or .keras")
    generate.add_argument("prompts", nargs="+", metavar="PROMPT")
    generate.add_argument("--max-new-tokens", type=positive_int, default=40)
    generate.add_argument(
        "--temperature", type=non_negative_float, default=1.0, help="0 means greedy"
    )
    generate.add_argument(
        "--top-k", type=non_negative_int, default=0, help="0 means off"
    )
    generate.add_argument("--top-p", type=probability, default=1.0, help="1 means off")
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument(
        "--stream",
        action="store_true",
        help="print each piece of text as it comes",
    )
    generate.set_defaults(run=_generate, parser=generate, command="generate")

    evaluate = commands.add_parser(
        "evaluate",
        help="score a SavedModel on a file of inputs and references",
        description="Run a string signature over DATA, a UTF-8 file of "
        "`input<TAB>reference` lines, and report exact-match accuracy (and "
        "corpus BLEU with --bleu, the default for `translate`).",
    )
    _add_saved_model_args(evaluate)
    evaluate.add_argument("data", metavar="DATA")
    evaluate.add_argument("--batch-size", type=positive_int, default=64)
    evaluate.add_argument("--bleu", action=argparse.BooleanOptionalAction, default=None)
    evaluate.set_defaults(run=_evaluate, parser=evaluate, command="evaluate")

    export = commands.add_parser(
        "export",
        help="export a trained recipe as a SavedModel",
        description="Write the model that `keras-attn train TASK` saved in "
        "RUN_DIR as a string-in/string-out SavedModel.",
    )
    export.add_argument("task", choices=sorted(TASKS), metavar="TASK")
    export.add_argument("run_dir", metavar="RUN_DIR")
    export.add_argument("path", metavar="PATH", help="where to write it")
    export.set_defaults(run=_export, parser=export, command="export")

    serve = commands.add_parser(
        "serve",
        help="serve a SavedModel over TensorFlow Serving's REST API",
        description="Serve PATH (a SavedModel, or a model base path with "
        "numbered versions) at /v1/models/NAME, as TensorFlow Serving does.",
    )
    serve.add_argument("path", metavar="PATH")
    serve.add_argument("--model-name", default=None)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--max-batch-size", type=positive_int, default=32)
    serve.add_argument(
        "--batch-timeout-ms",
        type=non_negative_float,
        default=2.0,
        help="0 turns batching off",
    )
    serve.add_argument("--max-string-length", type=positive_int, default=4096)
    serve.add_argument("--max-body-bytes", type=positive_int, default=1 << 20)
    serve.set_defaults(run=_serve, parser=serve, command="serve")
    return parser


def _add_saved_model_args(parser):
    parser.add_argument("saved_model", metavar="SAVED_MODEL")
    parser.add_argument(
        "--signature",
        default=None,
        help="signature name (default: the only one besides serving_default)",
    )


# === train ===


def _train(args, rest):
    if args.task is None:
        args.parser.print_help()
        return 0 if args.help else 2
    prog = f"keras-attn train {args.task}"
    if args.help:  # Without importing the recipe (Keras, TensorFlow).
        recipe_parser(args.task, prog).print_help()
        return 0
    flags = config_flags(args.config) if args.config else []
    module = _recipe(args.task)
    try:
        module.main(flags + rest, prog=prog)
    except SystemExit as exit:  # argparse's --help and usage errors
        return exit.code
    return 0


def _recipe(task):
    import importlib

    return importlib.import_module(f"keras_attn.recipes.{TASKS[task][0]}")


# Switches with a `--no-` twin (training.add_flags): `jit: false` in a config
# is `--no-jit`, not "leave it to auto".
NEGATABLE = ("jit",)


def config_flags(path):
    """A YAML/JSON mapping of task flags -> command-line flags."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".json"):
        try:
            config = json.loads(text)
        except ValueError as error:
            raise ValueError(f"{path} is not valid JSON ({error})") from None
    else:
        import yaml

        try:
            config = yaml.safe_load(text)
        except yaml.YAMLError as error:  # a python tag, bad syntax, ...
            message = " ".join(str(error).split())
            raise ValueError(
                f"{path} is not a plain YAML mapping of flags ({message})"
            ) from None
    if not isinstance(config, dict):
        raise ValueError(
            f"{path}: a config must be a mapping of flag names to values; "
            f"received {type(config).__name__}."
        )
    flags = []
    for name, value in config.items():
        flag = "--" + str(name).replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is False and name in NEGATABLE:
            flags.append("--no-" + str(name).replace("_", "-"))
        elif value is False or value is None:
            continue
        elif isinstance(value, list) and not any(
            isinstance(v, (dict, list)) for v in value
        ):
            # A flag of several values (`models: [vit, cnn]`); empty: none.
            flags += [flag] + [str(v) for v in value]
        elif isinstance(value, (dict, list)):
            raise ValueError(
                f"{path}: `{name}` must be a number, string, boolean or list "
                f"of them; received {value!r}."
            )
        else:
            flags += [flag, str(value)]
    return flags


# === SavedModel commands ===


def _load(path, signature):
    """A SavedModel's signature function, chosen by name or by elimination."""
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise FileNotFoundError(f"{path} is not a SavedModel (no saved_model.pb).")
    from keras_attn.serving.served_model import load_saved_model

    loaded = load_saved_model(path)
    names = sorted(loaded.signatures.keys())
    if signature is None:
        named = [n for n in names if n != "serving_default"] or names
        if len(named) != 1:
            raise ValueError(
                f"{path} has the signatures {names}; choose one with --signature."
            )
        signature = named[0]
    if signature not in loaded.signatures:
        raise ValueError(f"{path} has no signature {signature!r}; it has {names}.")
    return loaded, signature, loaded.signatures[signature]


def _inputs(function):
    """(name, tf.TensorSpec) of a signature's inputs, in a stable order."""
    _, specs = function.structured_input_signature
    return sorted(specs.items())


def _call(function, texts, scalars):
    """Call `function` with a batch of strings plus named scalar inputs."""
    import tensorflow as tf

    batch_inputs = [n for n, s in _inputs(function) if s.shape.rank == 1]
    if len(batch_inputs) != 1:
        raise ValueError(
            f"this command needs a signature with one batch input; the "
            f"signature takes {[n for n, _ in _inputs(function)]}."
        )
    feed = {batch_inputs[0]: tf.constant(texts, tf.string)}
    specs = dict(_inputs(function))
    for name, value in scalars.items():
        if name not in specs:
            raise ValueError(
                f"the signature has no input {name!r}; it takes {sorted(specs)}."
            )
        feed[name] = tf.constant(value, specs[name].dtype)
    missing = sorted(set(specs) - set(feed))
    if missing:
        raise ValueError(f"missing inputs {missing}: give them with --arg NAME=VALUE.")
    outputs = function(**feed)
    return {name: value.numpy() for name, value in outputs.items()}


def _rows(outputs):
    """Per-example dicts of JSON-able values from batched outputs."""
    rows = []
    for name, value in sorted(outputs.items()):
        for i, item in enumerate(value):
            if len(rows) <= i:
                rows.append({})
            rows[i][name] = _jsonable(item)
    return rows


def _jsonable(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _parse_scalars(pairs):
    scalars = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--arg takes NAME=VALUE; received {pair!r}.")
        scalars[name] = value if not _is_number(value) else float(value)
    return scalars


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _predict(args, rest):
    if args.files and args.texts:
        raise ValueError(
            f"give TEXT arguments or --file FILEs, not both; received "
            f"{len(args.texts)} TEXT and {len(args.files)} --file."
        )
    if args.files:
        inputs = []
        for path in args.files:
            with open(path, "rb") as f:  # a missing file: one-line OSError
                inputs.append(f.read())
    else:
        inputs = args.texts or [line.rstrip("\n") for line in sys.stdin]
    _, _, function = _load(args.saved_model, args.signature)
    outputs = _call(function, inputs, _parse_scalars(args.arg))
    for i, row in enumerate(_rows(outputs)):
        if args.files:
            row = {"file": args.files[i], **row}
        print(json.dumps(row, ensure_ascii=False))


def _generate(args, rest):
    if args.saved_model.endswith(".keras"):
        return _generate_keras(args)
    loaded, _, function = _load(args.saved_model, "generate")
    scalars = {
        "max_new_tokens": args.max_new_tokens,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "seed": args.seed,
    }
    if args.stream:
        from keras_attn.export import stream_saved_model

        # A prompt's text does not depend on the others in its batch (each
        # row draws from its own seed), so one stream per prompt prints
        # what the batched `generate` returns.
        for prompt in args.prompts:
            pieces = stream_saved_model(loaded, prompt, **scalars)
            print(prompt, end="", flush=True)
            for piece in pieces:
                print(piece, end="", flush=True)
            print()
        return
    accepted = dict(_inputs(function))
    outputs = _call(
        function, args.prompts, {k: v for k, v in scalars.items() if k in accepted}
    )
    for row in _rows(outputs):
        print(row["text"])  # The prompt and its continuation.


def _generate_keras(args):
    """`generate` with a `GPTCausalLM` saved with its tokenizer."""
    if not os.path.isfile(args.saved_model):
        raise FileNotFoundError(f"{args.saved_model} is not a file.")
    from keras_attn import saving
    from keras_attn.data.tokenizers import END_OF_TEXT
    from keras_attn.models import GPTCausalLM
    from keras_attn.samplers import TunableSampler

    model = saving.load_model(args.saved_model)
    if getattr(model, "tokenizer", None) is None or not isinstance(model, GPTCausalLM):
        raise ValueError(
            f"{args.saved_model} holds a {type(model).__name__} without a "
            "tokenizer; expected a GPTCausalLM saved with its tokenizer "
            "(`GPTCausalLM(backbone, tokenizer=...)`)."
        )
    sampler = TunableSampler(args.temperature, args.top_k, args.top_p)
    stop = None
    if END_OF_TEXT in model.tokenizer.get_vocabulary():
        stop = [int(model.tokenizer.token_to_id(END_OF_TEXT))]
    options = dict(sampler=sampler, stop_token_ids=stop, seed=args.seed)
    for prompt in args.prompts:
        if not args.stream:
            print(model.generate(prompt, args.max_new_tokens, **options))
            continue
        print(prompt, end="", flush=True)
        for piece in model.stream(prompt, args.max_new_tokens, **options):
            print(piece, end="", flush=True)
        print()


def _evaluate(args, rest):
    import keras

    pairs = _read_pairs(args.data)
    _, signature, function = _load(args.saved_model, args.signature)
    bleu = signature == "translate" if args.bleu is None else args.bleu
    predictions = []
    progress = keras.utils.Progbar(len(pairs), unit_name="example")
    for start in range(0, len(pairs), args.batch_size):
        batch = pairs[start : start + args.batch_size]
        outputs = _call(function, [source for source, _ in batch], {})
        strings = [n for n, v in sorted(outputs.items()) if v.dtype.kind in "OSU"]
        if not strings:
            raise ValueError(
                f"signature {signature!r} returns no strings to compare "
                f"(outputs {sorted(outputs)})."
            )
        predictions += [_jsonable(v) for v in outputs[strings[0]]]
        progress.add(len(batch))
    references = [reference for _, reference in pairs]
    exact = sum(p == r for p, r in zip(predictions, references)) / len(pairs)
    result = {"examples": len(pairs), "exact_match": round(exact, 4)}
    if bleu:
        import sacrebleu

        score = sacrebleu.corpus_bleu(predictions, [references]).score
        result["bleu"] = round(score, 2)
    print(json.dumps(result))


def _read_pairs(path):
    pairs = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) != 2:
                raise ValueError(
                    f"{path}:{number}: expected `input<TAB>reference`; "
                    f"received {len(fields)} field(s)."
                )
            pairs.append((fields[0], fields[1]))
    if not pairs:
        raise ValueError(f"{path} holds no `input<TAB>reference` lines.")
    return pairs


def _export(args, rest):
    module = _recipe(args.task)
    if not hasattr(module, "export"):
        exportable = sorted(t for t in TASKS if hasattr(_recipe(t), "export"))
        raise ValueError(
            f"task {args.task!r} trains nothing to export; choose one of {exportable}."
        )
    if not os.path.isdir(args.run_dir):
        raise FileNotFoundError(f"{args.run_dir} is not a folder of a training run.")
    path = module.export(args.run_dir, args.path)
    print(path)


def _serve(args, rest):
    from keras_attn import serving

    serving.serve(
        args.path,
        model_name=args.model_name,
        host=args.host,
        port=args.port,
        max_batch_size=args.max_batch_size,
        batch_timeout_ms=args.batch_timeout_ms,
        max_body_bytes=args.max_body_bytes,
        max_string_length=args.max_string_length,
    )
