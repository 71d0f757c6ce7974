"""The flags of every training recipe, without the recipes.

Standard library only, like the rest of `keras_attn_cli`: `keras-attn train
TASK --help` builds the task's parser here and prints it without importing
the recipe (and with it Keras and TensorFlow). Each recipe's `parse_args`
builds the same parser with `recipe_parser(TASK)`, then applies what
depends on the values (`--tiny` and the like).
"""

from keras_attn_cli.flags import FlagParser
from keras_attn_cli.flags import dropout_rate
from keras_attn_cli.flags import fraction
from keras_attn_cli.flags import non_negative_float
from keras_attn_cli.flags import non_negative_int
from keras_attn_cli.flags import positive_float
from keras_attn_cli.flags import positive_int

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
NEWSGROUPS_MODELS = (
    "tfidf",
    "minilm-frozen",
    "minilm-finetuned",
    "bert-pretrained",
    "bert-scratch",
)
VIT_MODELS = ("vit", "cnn", "forest", "svc")
PRETRAIN_CORPORA = ("web", "shakespeare", "newsgroups")


def save_freq(text):
    """`"epoch"` or a positive int, from a flag's text."""
    if text == "epoch":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(
            f"--save-freq must be 'epoch' or a positive int; received {text!r}."
        )
    return value


save_freq.__name__ = "save-freq"  # argparse names the type in its errors.


def add_training_flags(parser):
    """`--strategy`, `--mixed-precision`, `--jit`/`--no-jit`, `--save-freq`
    (documented as `keras_attn.training.add_flags`)."""
    parser.add_argument(
        "--strategy",
        default="auto",
        choices=STRATEGIES,
        help="how to distribute training; multi_worker reads TF_CONFIG",
    )
    parser.add_argument(
        "--mixed-precision",
        default="auto",
        choices=("auto",) + PRECISIONS,
        help="dtype policy; auto picks the fastest for this machine and prints "
        "it; mixed_float16 scales the loss",
    )
    parser.add_argument(
        "--jit",
        dest="jit_compile",
        action="store_const",
        const=True,
        default=None,
        help="compile the train step with XLA (default: as auto picks)",
    )
    parser.add_argument(
        "--no-jit",
        dest="jit_compile",
        action="store_const",
        const=False,
        help="run the train step as a graph, without XLA",
    )
    parser.add_argument(
        "--save-freq",
        default="epoch",
        type=save_freq,
        help="back up for restarts every epoch, or every N batches",
    )


def add_common_flags(parser, output_dir):
    """Flags every text and image recipe takes."""
    parser.add_argument(
        "--data-dir",
        default=None,
        help="corpus cache of `make data` (default $KERAS_ATTN_DATA or "
        "~/.cache/keras_attn)",
    )
    parser.add_argument("--output-dir", default=output_dir)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1, help="fit progress bar")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="a smoke run of seconds on a tiny synthetic corpus",
    )
    add_training_flags(parser)


def add_finetune_flags(p):
    """The flags `bert_finetune.bag_of_words` and `fine_tune` read (the
    semantic-search and newsgroups recipes fine-tune with them too)."""
    p.add_argument(
        "--minutes", type=non_negative_float, default=5, help="budget per model"
    )
    p.add_argument("--epochs", type=positive_int, default=10, help="at most this many")
    p.add_argument("--baseline-epochs", type=positive_int, default=30)
    p.add_argument("--sequence-length", type=positive_int, default=128)
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--dropout", type=dropout_rate, default=0.1)
    p.add_argument("--learning-rate", type=positive_float, default=1e-4)
    p.add_argument("--head-learning-rate", type=positive_float, default=1e-3)


def _date(p):
    p.add_argument("--num-train", type=positive_int, default=45000)
    p.add_argument("--num-test", type=positive_int, default=5000)
    p.add_argument("--epochs", type=positive_int, default=5, help="at most this many")
    p.add_argument(
        "--target",
        type=float,
        default=0.999,
        help="stop once held-out exact match reaches this (0: never)",
    )
    p.add_argument("--batch-size", type=positive_int, default=128, help="per replica")
    p.add_argument("--embedding-dim", type=positive_int, default=32)
    p.add_argument("--hidden-dim", type=positive_int, default=128)
    p.add_argument("--cell", default="gru", choices=["gru", "lstm"])
    p.add_argument(
        "--attention",
        default="bahdanau",
        choices=["bahdanau", "dot", "general", "none"],
    )
    p.add_argument("--learning-rate", type=positive_float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", type=int, default=1, help="fit progress bar")
    p.add_argument("--output-dir", default="outputs/date_seq2seq")
    p.add_argument("--tiny", action="store_true", help="a few seconds' smoke run")
    add_training_flags(p)
    p.set_defaults(workload="rnn")  # what `auto` picks for (fastest_config)


def _translate(p):
    add_common_flags(p, "outputs/translate")
    p.add_argument(
        "--minutes", type=non_negative_float, default=20, help="budget per model"
    )
    p.add_argument("--epochs", type=positive_int, default=30, help="at most this many")
    p.add_argument("--vocabulary-size", type=positive_int, default=8000)
    p.add_argument("--sequence-length", type=positive_int, default=64)
    p.add_argument("--num-layers", type=positive_int, default=3)
    p.add_argument("--num-heads", type=positive_int, default=4)
    p.add_argument("--hidden-dim", type=positive_int, default=256)
    p.add_argument("--dropout", type=dropout_rate, default=0.1)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--learning-rate", type=positive_float, default=1e-3)
    p.add_argument(
        "--warmup-steps",
        type=non_negative_int,
        default=500,
        help="then the learning rate stays constant",
    )
    p.add_argument("--num-test", type=positive_int, default=1000)
    p.add_argument("--beam-size", type=positive_int, default=4)
    p.add_argument("--eval-batch-size", type=positive_int, default=100)


def _bert_pretrain(p):
    add_common_flags(p, "outputs/bert")
    p.add_argument(
        "--corpus",
        default="web",
        choices=PRETRAIN_CORPORA,
        help="newsgroups: the 20 Newsgroups training documents",
    )
    p.add_argument(
        "--minutes", type=non_negative_float, default=15, help="training budget"
    )
    p.add_argument("--epochs", type=positive_int, default=20, help="at most this many")
    p.add_argument("--vocabulary-size", type=positive_int, default=8000)
    p.add_argument("--sequence-length", type=positive_int, default=128)
    p.add_argument("--max-predictions", type=positive_int, default=20)
    p.add_argument("--num-layers", type=positive_int, default=4)
    p.add_argument("--num-heads", type=positive_int, default=4)
    p.add_argument("--hidden-dim", type=positive_int, default=256)
    p.add_argument("--dropout", type=dropout_rate, default=0.1)
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--learning-rate", type=positive_float, default=5e-4)
    p.add_argument(
        "--warmup-steps",
        type=non_negative_int,
        default=300,
        help="then the learning rate stays constant",
    )


def _bert_finetune(p):
    add_common_flags(p, "outputs/bert")
    p.add_argument(
        "--pretrained-dir",
        default=None,
        help="output folder of bert_pretrain (default: --output-dir)",
    )
    add_finetune_flags(p)


def _gpt(p):
    add_common_flags(p, "outputs/gpt_lm")
    p.add_argument("--corpus", default="shakespeare", choices=["shakespeare", "web"])
    p.add_argument(
        "--minutes", type=non_negative_float, default=15, help="training budget"
    )
    p.add_argument("--epochs", type=positive_int, default=20, help="at most this many")
    p.add_argument("--tokenizer", default="bpe", choices=["bpe", "byte"])
    p.add_argument(
        "--vocabulary-size", type=positive_int, default=5000, help="of the BPE"
    )
    p.add_argument(
        "--steps",
        type=non_negative_int,
        default=0,
        help="train this many optimizer steps (0: --epochs and --minutes)",
    )
    p.add_argument(
        "--eval-every", type=positive_int, default=250, help="steps, with --steps"
    )
    p.add_argument(
        "--eval-batches",
        type=positive_int,
        default=50,
        help="validation batches of each round, with --steps (all at the end)",
    )
    p.add_argument("--sequence-length", type=positive_int, default=128)
    p.add_argument("--max-sequence-length", type=positive_int, default=256)
    p.add_argument("--num-layers", type=positive_int, default=4)
    p.add_argument("--num-heads", type=positive_int, default=8)
    p.add_argument("--hidden-dim", type=positive_int, default=256)
    p.add_argument("--dropout", type=dropout_rate, default=0.1)
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--learning-rate", type=positive_float, default=1e-3)
    p.add_argument("--warmup-steps", type=non_negative_int, default=200)
    p.add_argument("--decay-steps", type=positive_int, default=5000)
    p.add_argument("--max-new-tokens", type=positive_int, default=60)


def _semantic_search(p):
    add_common_flags(p, "outputs/semantic_search")
    p.add_argument(
        "--model-dir",
        default=None,
        help="a Hugging Face BERT folder (default: the installed all-MiniLM-L6-v2)",
    )
    p.add_argument(
        "--from-scratch",
        default="outputs/bert/finetune_results.json",
        help="results of keras_attn/recipes/bert_finetune.py to compare with",
    )
    p.add_argument("--neighbours", type=positive_int, default=10)
    p.add_argument("--top", type=positive_int, default=3, help="hits printed per query")
    add_finetune_flags(p)


def _newsgroups(p):
    add_common_flags(p, "outputs/newsgroups")
    p.add_argument(
        "--models",
        nargs="+",
        choices=NEWSGROUPS_MODELS,
        default=list(NEWSGROUPS_MODELS),
    )
    p.add_argument(
        "--pretrained-dir",
        default="outputs/bert",
        help="output folder of bert_pretrain (backbone.keras, tokenizer/)",
    )
    p.add_argument(
        "--model-dir",
        default=None,
        help="a Hugging Face BERT folder (default: the installed all-MiniLM-L6-v2)",
    )
    add_finetune_flags(p)
    p.add_argument(
        "--warmup-fraction",
        type=fraction,
        default=0.1,
        help="share of the planned steps spent warming up",
    )
    p.add_argument(
        "--head-tokens",
        type=non_negative_int,
        default=None,
        help="fine-tuning: a post longer than the sequence keeps its first N "
        "pieces and fills the rest from its end (default: its beginning only)",
    )
    p.set_defaults(minutes=25, epochs=3, learning_rate=5e-5)


def _vit(p):
    add_common_flags(p, "outputs/vit")
    p.add_argument("--models", nargs="+", choices=VIT_MODELS, default=list(VIT_MODELS))
    p.add_argument(
        "--minutes",
        type=non_negative_float,
        default=20,
        help="training budget of each network",
    )
    p.add_argument("--epochs", type=positive_int, default=18, help="at most this many")
    p.add_argument("--validation-size", type=positive_int, default=5000)
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--learning-rate", type=positive_float, default=3e-3)
    p.add_argument("--weight-decay", type=non_negative_float, default=0.05)
    p.add_argument("--warmup-fraction", type=fraction, default=0.05)
    p.add_argument("--patch-size", type=positive_int, default=4)
    p.add_argument("--num-layers", type=positive_int, default=6)
    p.add_argument("--num-heads", type=positive_int, default=4)
    p.add_argument("--hidden-dim", type=positive_int, default=64)
    p.add_argument("--intermediate-dim", type=positive_int, default=128)
    p.add_argument("--dropout", type=dropout_rate, default=0.0)
    p.add_argument(
        "--shift",
        type=non_negative_int,
        default=0,
        help="augmentation: random shifts of up to this many pixels",
    )
    p.add_argument("--pooling", choices=("token", "mean"), default="mean")
    p.add_argument(
        "--stem-filters",
        type=positive_int,
        nargs="*",
        default=[32, 64],
        help="the ViT's convolutional stem: filters of its stride-2 3x3 "
        "convolutions (give none for the plain ViT's patch projection)",
    )


# Task -> (recipe module under keras_attn.recipes, summary, what the
# recipe does, the function adding its flags).
RECIPES = {
    "date": (
        "date_seq2seq",
        "RNN seq2seq + Bahdanau attention on dates",
        "Teach an RNN encoder–decoder with Bahdanau attention to read dates.",
        _date,
    ),
    "translate": (
        "translate_transformer",
        "Transformer vs RNN, Spanish->English",
        "Spanish -> English translation of Bible verses: Transformer vs RNN "
        "+ attention.",
        _translate,
    ),
    "bert-pretrain": (
        "bert_pretrain",
        "BERT masked LM + next sentence",
        "Pretrain a small BERT (masked LM + next-sentence prediction) on real text.",
        _bert_pretrain,
    ),
    "bert-finetune": (
        "bert_finetune",
        "BERT topic classifier on fortunes",
        "Fine-tune the pretrained BERT to classify fortunes by topic.",
        _bert_finetune,
    ),
    "gpt": (
        "gpt_lm",
        "GPT causal LM on Shakespeare or the WEB",
        "Train a small GPT on Shakespeare; report validation perplexity and samples.",
        _gpt,
    ),
    "semantic-search": (
        "semantic_search",
        "real all-MiniLM-L6-v2: search, fine-tune",
        "Semantic search and topic classification with a real pretrained BERT.",
        _semantic_search,
    ),
    "newsgroups": (
        "newsgroups",
        "20 Newsgroups: TF-IDF, MiniLM, our BERT, scratch",
        "Does pretraining pay? Five classifiers of 20 Newsgroups, side by side.",
        _newsgroups,
    ),
    "vit": (
        "vit",
        "Vision Transformer vs CNN vs forest on Fashion-MNIST",
        "Train a Vision Transformer on Fashion-MNIST, beside a small CNN and "
        "classical baselines.",
        _vit,
    ),
}


def recipe_parser(task, prog=None):
    """The `FlagParser` of recipe `task` (a key of `RECIPES`), every flag
    and default as the recipe reads them."""
    if task not in RECIPES:
        raise ValueError(f"task must be one of {sorted(RECIPES)}; received {task!r}.")
    _, _, description, add = RECIPES[task]
    parser = FlagParser(prog=prog, description=description)
    add(parser)
    return parser
