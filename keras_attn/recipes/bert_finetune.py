"""Fine-tune the pretrained BERT to classify fortunes by topic.

    python -m keras_attn.recipes.bert_pretrain          # first: the backbone
    python -m keras_attn.recipes.bert_finetune          # the full run
    python -m keras_attn.recipes.bert_finetune --tiny   # a smoke run, seconds

Classifies the entries of the Debian `fortunes` collection by their topic
file, three ways, and reports held-out accuracy and training time for each:

1. a bag-of-words baseline (TF-IDF features, logistic regression);
2. the pretrained backbone frozen, only a classification head trained;
3. full fine-tuning of backbone and head.

Full run: see docs/bert.md for the measured numbers, hardware and time.
"""

import json
import os
import time

import keras
import numpy as np

from keras_attn import saving
from keras_attn import training
from keras_attn.data import corpora
from keras_attn.data import pipelines
from keras_attn.data import tokenizers
from keras_attn.models import BertClassifier
from keras_attn.recipes import shared
from keras_attn_cli.recipe_flags import recipe_parser


def bag_of_words(splits, num_classes, args):
    """TF-IDF over the 20,000 most frequent words, then logistic regression."""
    texts, labels = splits["train"]
    vectorize = keras.layers.TextVectorization(max_tokens=20_000, output_mode="tf_idf")
    vectorize.adapt(texts)
    features = {
        split: (np.asarray(vectorize(texts)), np.asarray(labels))
        for split, (texts, labels) in splits.items()
    }
    return logistic_regression(features, num_classes, args)


def logistic_regression(features, num_classes, args):
    """A softmax layer trained on fixed `{split: (x, labels)}` features with
    early stopping on validation; its test accuracy and training time."""
    model = keras.Sequential([keras.layers.Dense(num_classes)])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(
        *features["train"],
        validation_data=features["validation"],
        epochs=args.baseline_epochs,
        batch_size=args.batch_size,
        callbacks=[
            keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
        ],
        verbose=args.verbose,
    )
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(*features["test"], verbose=0)
    return {
        "test_accuracy": round(float(accuracy), 4),
        "train_seconds": round(seconds, 1),
    }


def fine_tune(backbone_path, datasets, num_classes, args, frozen, on_trained=None):
    with shared.distribute(args).scope():  # Variables, optimizer, metrics.
        backbone = saving.load_model(backbone_path)
        backbone.trainable = not frozen
        classifier = BertClassifier(backbone, num_classes, dropout=args.dropout)
        classifier.compile(
            optimizer=finetune_optimizer(args, frozen),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            # The loaded backbone keeps its own dropout rate.
            jit_compile=training.jit_compile_for(classifier, args),
        )
    history, seconds = shared.fit(
        classifier,
        args,
        datasets["train"],
        datasets["validation"],
        "frozen" if frozen else "fine_tuned",
        [keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)],
    )
    _, accuracy = classifier.evaluate(datasets["test"], verbose=0)
    if on_trained is not None:
        on_trained(classifier)
    return {
        "test_accuracy": round(float(accuracy), 4),
        "train_seconds": seconds,
        "epochs": len(history["loss"]),
        "trainable_parameters": sum(
            int(np.prod(w.shape)) for w in classifier.trainable_weights
        ),
        "history": {k: [round(float(v), 4) for v in vs] for k, vs in history.items()},
    }


def finetune_optimizer(args, frozen):
    """AdamW: the head's constant rate for a frozen backbone; for full
    fine-tuning a warm-up and cosine decay over `args.decay_steps` when the
    caller planned them (`args.warmup_steps`), else a constant rate."""
    if frozen:
        return keras.optimizers.AdamW(args.head_learning_rate)
    if getattr(args, "decay_steps", None):
        return shared.warmup_optimizer(args, args.decay_steps)
    return keras.optimizers.AdamW(args.learning_rate)


def finetune_tiny(args):
    """`--tiny`: one short epoch of everything, short sequences."""
    if args.tiny:
        args.minutes, args.epochs, args.baseline_epochs = 0, 1, 1
        args.sequence_length = 32


def classification_datasets(splits, tokenizer, args, head_tokens=None):
    """The train/validation/test `tf.data` datasets of the fortune splits
    (`head_tokens`: see `pipelines.classification_dataset`)."""
    return {
        split: pipelines.classification_dataset(
            list(split_texts),
            list(split_labels),
            tokenizer,
            args.sequence_length,
            args.batch_size,
            shuffle=split == "train",
            seed=args.seed,
            head_tokens=head_tokens,
        )
        for split, (split_texts, split_labels) in splits.items()
    }


def export(run_dir, path):
    """Export the classifier a run saved in `run_dir` (`classify`, `embed`)."""
    from keras_attn.export import export_bert_classifier

    classifier = saving.load_model(os.path.join(run_dir, "classifier.keras"))
    tokenizer = tokenizers.load_tokenizer(os.path.join(run_dir, "tokenizer"))
    with open(os.path.join(run_dir, "labels.json")) as f:
        saved = json.load(f)
    return export_bert_classifier(
        classifier, tokenizer, saved["labels"], path, saved["sequence_length"]
    )


def parse_args(argv=None, prog=None):
    args = recipe_parser("bert-finetune", prog).parse_args(argv)
    args.pretrained_dir = args.pretrained_dir or args.output_dir
    finetune_tiny(args)
    return args


def main(argv=None, prog=None):
    args = parse_args(argv, prog)
    shared.distribute(args)  # --strategy, --mixed-precision
    os.makedirs(args.output_dir, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    texts, labels, label_names = corpora.load_fortunes(shared.corpus_dir(args))
    splits = corpora.split_fortunes(texts, labels, seed=args.seed)
    print(
        f"{len(texts)} fortunes in {len(label_names)} topics; "
        + ", ".join(f"{k} {len(v[0])}" for k, v in splits.items())
    )
    tokenizer = tokenizers.load_tokenizer(
        os.path.join(args.pretrained_dir, "tokenizer")
    )
    datasets = classification_datasets(splits, tokenizer, args)
    backbone_path = os.path.join(args.pretrained_dir, "backbone.keras")
    num_classes = len(label_names)

    def save(classifier):  # The fine-tuned model, with what `export` needs.
        classifier.save(os.path.join(args.output_dir, "classifier.keras"))
        tokenizers.save_tokenizer(tokenizer, os.path.join(args.output_dir, "tokenizer"))
        with open(os.path.join(args.output_dir, "labels.json"), "w") as f:
            json.dump(
                {"labels": label_names, "sequence_length": args.sequence_length}, f
            )
        if keras.backend.backend() == "tensorflow":
            export(args.output_dir, os.path.join(args.output_dir, "saved_model"))

    results = {
        "num_classes": num_classes,
        "majority_class": round(
            float(np.bincount(splits["test"][1]).max() / len(splits["test"][1])), 4
        ),
        "bag_of_words": bag_of_words(splits, num_classes, args),
        "frozen_backbone": fine_tune(backbone_path, datasets, num_classes, args, True),
        "fine_tuned": fine_tune(
            backbone_path, datasets, num_classes, args, False, save
        ),
    }
    for name, value in results.items():
        print(f"{name}: {value}")
    with open(os.path.join(args.output_dir, "finetune_results.json"), "w") as f:
        json.dump(results, f, indent=1, default=float)
    return results


if __name__ == "__main__":
    main()
