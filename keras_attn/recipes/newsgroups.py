"""Does pretraining pay? Five classifiers of 20 Newsgroups, side by side.

    make data                                          # the corpora, once
    python -m keras_attn.recipes.bert_pretrain         # our BERT, pretrained
    python -m keras_attn.recipes.bert_pretrain --corpus newsgroups \
        --output-dir outputs/bert_newsgroups           # ... on the 20NG posts
    python -m keras_attn.recipes.newsgroups            # all five, ~1 hour
    python -m keras_attn.recipes.newsgroups --models tfidf minilm-frozen
    python -m keras_attn.recipes.newsgroups --tiny     # a smoke run, seconds

On the by-date split of 20 Newsgroups (11,293 training documents, 7,528
test; 10% of the training set held out for early stopping), each through
the package's public API, with the time each took:

- `tfidf`: TF-IDF of words and word pairs, logistic regression
  (scikit-learn): the classical baseline;
- `minilm-frozen`: all-MiniLM-L6-v2 frozen, mean-pooled embeddings, a
  trained softmax head;
- `minilm-finetuned`: all-MiniLM-L6-v2 fine-tuned end to end
  (`BertClassifier`, AdamW, linear warm-up then cosine decay; with
  `--head-tokens N` a long post keeps its first N pieces and its end);
- `bert-pretrained`: our BERT of `bert_pretrain` (masked LM + next
  sentence on the World English Bible, or with `--corpus newsgroups` on
  the unlabelled training posts; `--pretrained-dir` says which), fine-tuned
  the same way;
- `bert-scratch`: the same architecture and tokenizer from random
  initialization, with the same fine-tuning budget.

Each model gets `--minutes` of training (a budget, stated in the results)
and `--epochs` at most. Results go to `OUTPUT_DIR/newsgroups_results.json`,
learning curves to `OUTPUT_DIR/learning_curves.png`.

Full run: see docs/bert.md for the measured numbers, hardware and time.
"""

import json
import math
import os
import time

import keras
import numpy as np

from keras_attn import saving
from keras_attn.data import corpora
from keras_attn.data import tokenizers
from keras_attn.models.bert import BertBackbone
from keras_attn.models.bert import encode_sentences
from keras_attn.models.bert import load_hf_bert
from keras_attn.recipes import bert_finetune
from keras_attn.recipes import semantic_search
from keras_attn.recipes import shared
from keras_attn_cli.recipe_flags import NEWSGROUPS_MODELS
from keras_attn_cli.recipe_flags import recipe_parser

MODELS = NEWSGROUPS_MODELS


def load_splits(args):
    """`{split: (texts, labels)}` with a stratified tenth of train held out
    for validation, and the label names."""
    cache = shared.corpus_dir(args)
    texts, labels, names = corpora.load_newsgroups("train", cache)
    splits = corpora.split_fortunes(
        texts, labels, validation_fraction=0.1, test_fraction=0.0, seed=args.seed
    )
    splits["test"] = corpora.load_newsgroups("test", cache)[:2]
    return splits, names


def tfidf(splits, args):
    """TF-IDF (sublinear term frequency, words and word pairs seen in at
    least two documents) and logistic regression, C chosen on validation."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    vectorize = TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2))
    train = vectorize.fit_transform(splits["train"][0])
    validation = vectorize.transform(splits["validation"][0])
    best = None
    for c in (1.0, 10.0, 100.0):
        # saga: seconds where lbfgs takes many minutes on 335k features
        model = LogisticRegression(C=c, solver="saga", tol=1e-3, max_iter=100)
        model.fit(train, splits["train"][1])
        score = model.score(validation, splits["validation"][1])
        if best is None or score > best[0]:
            best = (score, c, model)
    seconds = time.perf_counter() - start
    accuracy = best[2].score(vectorize.transform(splits["test"][0]), splits["test"][1])
    return {
        "test_accuracy": round(float(accuracy), 4),
        "validation_accuracy": round(float(best[0]), 4),
        "C": best[1],
        "features": train.shape[1],
        "train_seconds": round(seconds, 1),
    }


def minilm_frozen(backbone, tokenizer, splits, num_classes, args):
    """Mean-pooled all-MiniLM-L6-v2 embeddings and a trained softmax head."""
    start = time.perf_counter()
    features = {
        split: (
            encode_sentences(
                backbone,
                tokenizer,
                texts,
                batch_size=args.batch_size,
                sequence_length=args.sequence_length,
            ),
            np.asarray(labels),
        )
        for split, (texts, labels) in splits.items()
    }
    embed_seconds = time.perf_counter() - start
    result = bert_finetune.logistic_regression(features, num_classes, args)
    return {**result, "embed_seconds": round(embed_seconds, 1)}


def fine_tune(name, backbone, tokenizer, splits, num_classes, args):
    """`bert_finetune.fine_tune` of `backbone` (saved first, as it loads it),
    with warm-up and decay over the planned steps; returns its results and
    the Keras history for the learning curves."""
    path = os.path.join(args.output_dir, f"{name}_backbone.keras")
    backbone.save(path)
    datasets = bert_finetune.classification_datasets(
        splits, tokenizer, args, head_tokens=args.head_tokens
    )
    results = bert_finetune.fine_tune(path, datasets, num_classes, args, frozen=False)
    os.remove(path)
    return results


def parse_args(argv=None, prog=None):
    parser = recipe_parser("newsgroups", prog)
    args = parser.parse_args(argv)
    bert_finetune.finetune_tiny(args)
    room = args.sequence_length - 2  # [CLS] and [SEP]
    if args.head_tokens is not None and args.head_tokens > room:
        parser.error(
            f"--head-tokens must be at most --sequence-length - 2 ({room}); "
            f"received {args.head_tokens}"
        )
    if args.tiny:
        args.pretrained_dir = os.path.join(args.output_dir, "tiny_bert")
    return args


def tiny_pretrained(args, texts):
    """`--tiny`: a random 1-layer BERT and tokenizer where `bert_pretrain`
    would have left them."""
    tokenizer = tokenizers.train_word_piece(texts, 300)
    tokenizers.save_tokenizer(tokenizer, os.path.join(args.pretrained_dir, "tokenizer"))
    BertBackbone(
        tokenizer.vocabulary_size(),
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=args.sequence_length,
    ).save(os.path.join(args.pretrained_dir, "backbone.keras"))


def main(argv=None, prog=None):
    args = parse_args(argv, prog)
    shared.distribute(args)  # --strategy, --mixed-precision
    os.makedirs(args.output_dir, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    splits, names = load_splits(args)
    num_classes = len(names)
    test_labels = splits["test"][1]
    print(", ".join(f"{k} {len(v[0])}" for k, v in splits.items()), "documents")
    results = {
        "num_classes": num_classes,
        "majority_class": round(
            float(np.bincount(test_labels).max() / len(test_labels)), 4
        ),
    }
    # Each model's result says how it was run (runs of other --models add to
    # the same file with their own settings).
    settings = {
        "sequence_length": args.sequence_length,
        "budget_minutes": args.minutes,
        "max_epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "head_tokens": args.head_tokens,
        "precision": keras.config.dtype_policy().name,
    }
    path = os.path.join(args.output_dir, "newsgroups_results.json")
    if os.path.exists(path):  # runs of other --models add to the same file
        with open(path) as f:
            results = {**json.load(f), **results}
    histories = results.setdefault("histories", {})
    # The planned steps, for the learning-rate warm-up and decay.
    steps = args.epochs * math.ceil(len(splits["train"][0]) / args.batch_size)
    args.warmup_steps = max(1, int(args.warmup_fraction * steps))
    args.decay_steps = steps

    if "tfidf" in args.models:
        results["tfidf"] = tfidf(splits, args)
    if {"minilm-frozen", "minilm-finetuned"} & set(args.models):
        folder = semantic_search.checkpoint_dir(args, splits["train"][0])
        minilm, minilm_tokenizer = load_hf_bert(folder)
        if "minilm-frozen" in args.models:
            results["minilm-frozen"] = minilm_frozen(
                minilm, minilm_tokenizer, splits, num_classes, args
            )
        if "minilm-finetuned" in args.models:
            results["minilm-finetuned"] = fine_tune(
                "minilm", minilm, minilm_tokenizer, splits, num_classes, args
            )
    if {"bert-pretrained", "bert-scratch"} & set(args.models):
        if args.tiny:
            tiny_pretrained(args, splits["train"][0])
        tokenizer = tokenizers.load_tokenizer(
            os.path.join(args.pretrained_dir, "tokenizer")
        )
        pretrained = saving.load_model(
            os.path.join(args.pretrained_dir, "backbone.keras")
        )
        if "bert-pretrained" in args.models:
            results["bert-pretrained"] = fine_tune(
                "bert", pretrained, tokenizer, splits, num_classes, args
            )
        if "bert-scratch" in args.models:
            scratch = BertBackbone.from_config(pretrained.get_config())
            results["bert-scratch"] = fine_tune(
                "scratch", scratch, tokenizer, splits, num_classes, args
            )
    for name in MODELS:
        if name not in args.models or name == "tfidf":
            continue
        if name == "minilm-frozen":  # no fine-tuning: no budget or rate
            results[name].update(
                {k: settings[k] for k in ("sequence_length", "precision")}
            )
        else:
            results[name].update(settings)
        if "history" in results[name]:
            histories[name] = results[name].pop("history")
    if histories:
        shared.plot_learning_curves(
            histories,
            os.path.join(args.output_dir, "learning_curves.png"),
            ("loss", "val_accuracy"),
        )
    for name in MODELS:
        if name in results:
            print(f"{name}: {results[name]}")
    with open(path, "w") as f:
        json.dump(results, f, indent=1, default=float)
    return results


if __name__ == "__main__":
    main()
