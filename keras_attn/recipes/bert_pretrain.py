"""Pretrain a small BERT (masked LM + next-sentence prediction) on real prose.

    make data                                 # fetch the corpora once
    python -m keras_attn.recipes.bert_pretrain          # the full run
    python -m keras_attn.recipes.bert_pretrain --tiny   # a smoke run, seconds

Trains a WordPiece vocabulary and a `BertPretrainer` on the sentences of the
World English Bible (the last tenth of every book held out), within a wall-clock budget:
`[CLS] A [SEP] B [SEP]` pairs, B the true next sentence half of the time,
15% of the tokens selected for prediction (80% `[MASK]`, 10% random, 10%
kept). Reports held-out masked-token accuracy and NSP accuracy, draws the
self-attention heads of the last layer, and saves the backbone and tokenizer
for `keras_attn/recipes/bert_finetune.py`.

Full run: see docs/bert.md for the measured numbers, hardware and time.
"""

import json
import os
import time

import keras
import numpy as np

from keras_attn import saving
from keras_attn.checks import FlagParser
from keras_attn.checks import dropout_rate
from keras_attn.checks import non_negative_float
from keras_attn.checks import non_negative_int
from keras_attn.checks import positive_float
from keras_attn.checks import positive_int
from keras_attn.data import corpora
from keras_attn.data import pipelines
from keras_attn.data import tokenizers
from keras_attn.models import BertBackbone
from keras_attn.models import BertPretrainer
from keras_attn.recipes import shared


def split_documents(documents, held_out_fraction=0.1):
    """The last 10% of the sentences of every document (book) are held out,
    so that held-out next-sentence pairs still draw their random second
    sentences from other documents."""
    train, held_out = [], []
    for doc in documents:
        cut = len(doc) - max(2, int(held_out_fraction * len(doc)))
        if cut >= 2:
            train.append(doc[:cut])
            held_out.append(doc[cut:])
    return train, held_out


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
    p = FlagParser(prog=prog, description=__doc__.split("\n")[0])
    shared.add_common_flags(p, "outputs/bert")
    p.add_argument("--corpus", default="web", choices=["web", "shakespeare"])
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
    p.add_argument("--warmup-steps", type=non_negative_int, default=300)
    args = p.parse_args(argv)
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
        pretrainer.compile(
            optimizer=shared.warmup_optimizer(args), jit_compile=args.jit_compile
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
