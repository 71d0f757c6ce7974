"""Pretrain a small BERT (masked LM + next-sentence prediction) on real prose.

    make data                                 # fetch the corpora once
    python -m keras_attn.recipes.bert_pretrain          # the full run
    python -m keras_attn.recipes.bert_pretrain --tiny   # a smoke run, seconds

Trains a WordPiece vocabulary and a `BertPretrainer` on the sentences of the
World English Bible (the last tenth of every book held out; `--corpus
shakespeare` for the plays, `--corpus newsgroups` for the 20 Newsgroups
training posts, a random tenth of them held out), within a wall-clock budget
(the learning rate warms up, then stays constant): `[CLS] A [SEP] B [SEP]`
pairs, B the true next sentence half of the time, 15% of the tokens
selected for prediction (80% `[MASK]`, 10% random, 10% kept). Reports
held-out masked-token accuracy and NSP accuracy, draws the self-attention
heads of the last layer, and saves the backbone and tokenizer for
`keras_attn/recipes/bert_finetune.py`.

Full run: see docs/bert.md for the measured numbers, hardware and time.
"""

import json
import os
import time

import keras
import numpy as np

from keras_attn import saving
from keras_attn.data import corpora
from keras_attn.data import pipelines
from keras_attn.data import tokenizers
from keras_attn.models import BertBackbone
from keras_attn.models import BertPretrainer
from keras_attn.recipes import shared
from keras_attn_cli.recipe_flags import recipe_parser


def split_documents(documents, held_out_fraction=0.1):
    """The last 10% of the sentences of every document (book) are held out,
    so that held-out next-sentence pairs still draw their random second
    sentences from other documents. A document too short to leave two
    sentences on each side is trained on whole.

    >>> split_documents([list("abcdefghijklmnopqrstuvwxyz"), list("xyz")])
    ([['a', ..., 'x'], ['x', 'y', 'z']], [['y', 'z']])
    """
    train, held_out = [], []
    for doc in documents:
        cut = len(doc) - max(2, int(held_out_fraction * len(doc)))
        if cut >= 2:
            train.append(doc[:cut])
            held_out.append(doc[cut:])
        else:
            train.append(doc)
    return train, held_out


def hold_out_documents(documents, held_out_fraction=0.1, seed=0):
    """A random `held_out_fraction` of the documents held out whole (at
    least two, so held-out pairs can draw B from another document): for
    corpora of many short documents, such as 20 Newsgroups posts.

    >>> train, held_out = hold_out_documents([["a", "b"]] * 30)
    >>> len(train), len(held_out)
    (27, 3)
    """
    order = np.random.default_rng(seed).permutation(len(documents))
    count = max(2, int(held_out_fraction * len(documents)))
    held_out = set(order[:count].tolist())
    return (
        [d for i, d in enumerate(documents) if i not in held_out],
        [d for i, d in enumerate(documents) if i in held_out],
    )


def plot_heads(backbone, tokenizer, first, second, path):
    """The last layer's self-attention heads over one sentence pair."""
    x, _ = next(
        iter(
            pipelines.classification_dataset(
                [first], [0], tokenizer, 32, 1, text_pairs=[second], shuffle=False
            )
        )
    )
    x = {k: np.asarray(v) for k, v in x.items()}
    length = int(x["padding_mask"].sum())
    scores = backbone.attention_scores(x)[-1]  # (1, N, T, T)
    shared.plot_heads(
        np.asarray(keras.ops.convert_to_numpy(scores))[0, :, :length, :length],
        [tokenizer.id_to_token(int(i)) for i in x["token_ids"][0, :length]],
        "BERT self-attention, last layer",
        path,
    )


def export(run_dir, path):
    """Export the backbone a run saved in `run_dir` as a sentence embedder
    (signature `embed`: the pooled `[CLS]` vector of each text)."""
    from keras_attn.export import export_bert_embedder

    backbone = saving.load_model(os.path.join(run_dir, "backbone.keras"))
    tokenizer = tokenizers.load_tokenizer(os.path.join(run_dir, "tokenizer"))
    return export_bert_embedder(backbone, tokenizer, path, pooling="pooled")


def parse_args(argv=None, prog=None):
    args = recipe_parser("bert-pretrain", prog).parse_args(argv)
    if args.tiny:
        args.minutes, args.epochs, args.vocabulary_size = 0, 1, 300
        args.sequence_length, args.max_predictions = 32, 5
        args.num_layers, args.num_heads, args.hidden_dim = 1, 2, 16
        args.warmup_steps = 2
    return args


def main(argv=None, prog=None):
    args = parse_args(argv, prog)
    strategy = shared.distribute(args)  # --strategy, --mixed-precision
    os.makedirs(args.output_dir, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    documents = corpora.load_sentences_by_document(args.corpus, shared.corpus_dir(args))
    if args.corpus == "newsgroups":  # many short posts: hold out whole ones
        train_docs, held_out_docs = hold_out_documents(documents, seed=args.seed)
    else:  # a few long works: hold out the end of each
        train_docs, held_out_docs = split_documents(documents)

    start = time.perf_counter()
    tokenizer = tokenizers.train_word_piece(
        [s for doc in train_docs for s in doc], args.vocabulary_size
    )
    vocabulary_size = tokenizer.vocabulary_size()
    print(
        f"{sum(map(len, train_docs))} training sentences in {len(train_docs)} "
        f"documents, {sum(map(len, held_out_docs))} held out; WordPiece "
        f"vocabulary {vocabulary_size} ({time.perf_counter() - start:.0f} s)"
    )
    tokenizers.save_tokenizer(tokenizer, os.path.join(args.output_dir, "tokenizer"))

    def dataset(docs, shuffle):
        return pipelines.bert_pretraining_dataset(
            docs,
            tokenizer,
            sequence_length=args.sequence_length,
            batch_size=args.batch_size,
            max_predictions=args.max_predictions,
            seed=args.seed,
            shuffle=shuffle,
        )

    train_data, held_out_data = dataset(train_docs, True), dataset(held_out_docs, False)
    with strategy.scope():  # Variables, optimizer and metrics.
        backbone = BertBackbone(
            vocabulary_size=vocabulary_size,
            num_layers=args.num_layers,
            num_heads=args.num_heads,
            hidden_dim=args.hidden_dim,
            intermediate_dim=4 * args.hidden_dim,
            dropout=args.dropout,
            max_sequence_length=args.sequence_length,
        )
        pretrainer = BertPretrainer(backbone)
        # Warm-up, then a constant rate to the end of the budget: 45 minutes
        # of this CPU leave the masked LM near its word-frequency plateau,
        # where a rate annealed to 0 over the run measured worse
        # (docs/bert.md, fourth in-domain run).
        pretrainer.compile(
            optimizer=shared.warmup_optimizer(args, alpha=1.0),
            jit_compile=args.jit_compile,
        )
    history, train_seconds = shared.fit(
        pretrainer, args, train_data, held_out_data, "bert"
    )
    held_out = pretrainer.evaluate(held_out_data, verbose=0, return_dict=True)
    results = {
        "parameters": backbone.count_params(),
        "train_seconds": train_seconds,
        "epochs": len(history["loss"]),
        "held_out": {k: round(float(v), 4) for k, v in held_out.items()},
        "history": history,
    }
    backbone.save(os.path.join(args.output_dir, "backbone.keras"))
    if keras.backend.backend() == "tensorflow":  # SavedModel: `embed` signature
        export(args.output_dir, os.path.join(args.output_dir, "saved_model"))
    plot_heads(
        backbone,
        tokenizer,
        held_out_docs[0][0],
        held_out_docs[0][1],
        os.path.join(args.output_dir, "attention.png"),
    )
    print(
        f"held-out {results['held_out']} after {results['epochs']} epoch(s), "
        f"{results['train_seconds']} s, {results['parameters']:,} parameters"
    )
    with open(os.path.join(args.output_dir, "pretrain_results.json"), "w") as f:
        json.dump(results, f, indent=1, default=float)
    return results


if __name__ == "__main__":
    main()
