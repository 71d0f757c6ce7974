"""Train a small GPT on Shakespeare; report validation perplexity and samples.

    make data                              # fetch the corpora once
    python -m keras_attn.recipes.gpt_lm              # the full run
    python -m keras_attn.recipes.gpt_lm --tiny       # a smoke run, seconds

Trains a byte-level BPE vocabulary (or, with `--tokenizer byte`, reads
bytes: characters, for this ASCII text) and a decoder-only `GPTCausalLM` on
the works of Shakespeare (every tenth work held out for validation), within
a wall-clock budget or for `--steps` optimizer steps, then reports the
validation loss and perplexity (per token),
prints a continuation of a few prompts with each sampler (greedy, top-k,
top-p with temperature), and draws the self-attention heads of the last
layer. Writes TensorBoard logs, checkpoints, the model and the tokenizer.

nanoGPT's CPU setting (character level, block 64, batch 12, 4 layers, 4
heads, width 128, 2,000 iterations, no dropout):

    python -m keras_attn.recipes.gpt_lm --tokenizer byte --steps 2000 \
        --sequence-length 64 --max-sequence-length 64 --batch-size 12 \
        --num-layers 4 --num-heads 4 --hidden-dim 128 --dropout 0 \
        --warmup-steps 100 --decay-steps 2000

Full run: see docs/gpt.md for the measured numbers, hardware and time.
"""

import json
import math
import os
import time

import keras
import numpy as np

from keras_attn import samplers
from keras_attn import saving
from keras_attn.data import corpora
from keras_attn.data import pipelines
from keras_attn.data import tokenizers
from keras_attn.models import GPTBackbone
from keras_attn.models import GPTCausalLM
from keras_attn.recipes import shared
from keras_attn_cli.recipe_flags import recipe_parser

PROMPTS = ["ROMEO. ", "To be, or not to be", "The king hath"]
SAMPLERS = {
    "greedy": lambda: samplers.GreedySampler(),
    "top_k": lambda: samplers.TopKSampler(k=40, temperature=0.8),
    "top_p": lambda: samplers.TopPSampler(p=0.9, temperature=0.8),
}


def split_documents(documents):
    """Every tenth document (work) is held out for validation."""
    validation = documents[::10]
    train = [d for i, d in enumerate(documents) if i % 10]
    return train, validation


def build_model(args, tokenizer):
    backbone = GPTBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=args.num_layers,
        num_heads=args.num_heads,
        hidden_dim=args.hidden_dim,
        intermediate_dim=4 * args.hidden_dim,
        dropout=args.dropout,
        max_sequence_length=args.max_sequence_length,
    )
    model = GPTCausalLM(backbone, tokenizer=tokenizer)  # text in, text out
    model.compile(
        optimizer=shared.warmup_optimizer(args, args.decay_steps, alpha=0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=args.jit_compile,
    )
    return model


def sample(model, tokenizer, args):
    """Each prompt continued by each sampler, up to the first end of text
    (as `keras-attn generate` and the exported model stop)."""
    end_of_text = int(tokenizer.token_to_id(tokenizers.END_OF_TEXT))
    return {
        name: model.generate(  # text in, text out (the model's tokenizer)
            list(PROMPTS),
            args.max_new_tokens,
            sampler=make(),
            stop_token_ids=[end_of_text],
            seed=args.seed,
        )
        for name, make in SAMPLERS.items()
    }


def plot_heads(model, tokenizer, text, path):
    """The last layer's self-attention heads over one prompt."""
    ids = np.asarray(tokenizer.tokenize(text))[None]  # (1, T)
    scores = model.backbone.attention_scores(
        {"token_ids": ids, "padding_mask": np.ones_like(ids, bool)}
    )[-1]  # (1, N, T, T)
    shared.plot_heads(
        np.asarray(keras.ops.convert_to_numpy(scores))[0],
        [tokenizer.id_to_token(int(i)) for i in ids[0]],
        "GPT causal self-attention, last layer",
        path,
    )


def export(run_dir, path):
    """Export the model a run saved in `run_dir` (signature `generate`)."""
    from keras_attn.export import export_gpt_generator

    model = saving.load_model(os.path.join(run_dir, "gpt.keras"))
    tokenizer = tokenizers.load_tokenizer(os.path.join(run_dir, "tokenizer"))
    end_of_text = int(tokenizer.token_to_id(tokenizers.END_OF_TEXT))
    return export_gpt_generator(model, tokenizer, path, [end_of_text])


def parse_args(argv=None, prog=None):
    args = recipe_parser("gpt", prog).parse_args(argv)
    if args.tiny:
        args.minutes, args.epochs, args.vocabulary_size = 0, 1, 300
        args.sequence_length, args.max_sequence_length = 16, 48
        args.num_layers, args.num_heads, args.hidden_dim = 1, 2, 16
        args.warmup_steps, args.max_new_tokens = 2, 8
    return args


def main(argv=None, prog=None):
    args = parse_args(argv, prog)
    strategy = shared.distribute(args)  # --strategy, --mixed-precision
    os.makedirs(args.output_dir, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    documents = corpora.load_prose(args.corpus, shared.corpus_dir(args))
    train_docs, validation_docs = split_documents(documents)

    start = time.perf_counter()
    if args.tokenizer == "byte":
        tokenizer = tokenizers.byte_tokenizer()
    else:
        tokenizer = tokenizers.train_byte_pair(train_docs, args.vocabulary_size)
    vocabulary_size = tokenizer.vocabulary_size()
    print(
        f"{len(train_docs)} training and {len(validation_docs)} validation "
        f"documents; {args.tokenizer} vocabulary {vocabulary_size} "
        f"({time.perf_counter() - start:.0f} s)"
    )
    tokenizers.save_tokenizer(tokenizer, os.path.join(args.output_dir, "tokenizer"))

    def dataset(docs, shuffle):
        return pipelines.causal_lm_dataset(
            docs,
            tokenizer,
            args.sequence_length,
            args.batch_size,
            shuffle=shuffle,
            seed=args.seed,
        )

    train_data = dataset(train_docs, True)
    validation_data = dataset(validation_docs, False)
    rounds_data, rounds_validation = train_data, validation_data
    if args.steps:  # --steps in rounds of --eval-every, as nanoGPT counts
        rounds = max(1, args.steps // args.eval_every)
        args.epochs = rounds
        rounds_data = train_data.repeat().take(args.steps // rounds)
        rounds_validation = validation_data.take(args.eval_batches)
    with strategy.scope():  # Variables, optimizer and metrics.
        model = build_model(args, tokenizer)
    history, train_seconds = shared.fit(
        model, args, rounds_data, rounds_validation, "gpt"
    )
    validation_loss = model.evaluate(validation_data, verbose=0, return_dict=True)[
        "loss"
    ]
    results = {
        "parameters": model.count_params(),
        "train_seconds": train_seconds,
        "epochs": len(history["loss"]),
        "steps": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
        "tokenizer": args.tokenizer,
        "validation_loss": round(float(validation_loss), 4),
        "validation_perplexity": round(math.exp(validation_loss), 2),
        "history": history,
    }
    results["samples"] = sample(model, tokenizer, args)
    shared.plot_learning_curves(
        {"gpt": history}, os.path.join(args.output_dir, "learning_curves.png")
    )
    model.save(os.path.join(args.output_dir, "gpt.keras"))
    if keras.backend.backend() == "tensorflow":  # SavedModel: `generate` signature
        export(args.output_dir, os.path.join(args.output_dir, "saved_model"))
    plot_heads(
        model, tokenizer, PROMPTS[1], os.path.join(args.output_dir, "attention.png")
    )
    print(
        f"validation perplexity {results['validation_perplexity']} "
        f"(loss {results['validation_loss']}) after {results['epochs']} epoch(s), "
        f"{results['train_seconds']} s, {results['parameters']:,} parameters"
    )
    for name, texts in results["samples"].items():
        print(f"--- {name}")
        for text in texts:
            print(repr(text))
    with open(os.path.join(args.output_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=float)
    return results


if __name__ == "__main__":
    main()
