"""Spanish -> English translation of Bible verses: Transformer vs RNN + attention.

    make data                                        # fetch the corpora once
    python -m keras_attn.recipes.translate_transformer         # the full run
    python -m keras_attn.recipes.translate_transformer --tiny  # a smoke run, seconds

Trains a `TransformerSeq2Seq` and the foundation's `RNNSeq2Seq` (GRU +
Bahdanau attention) on the aligned verses of the Reina-Valera 1909 (Spanish)
and King James (English) Bibles, each for the same wall-clock budget, then
translates 1,000 held-out verses and reports corpus BLEU (sacrebleu) side by
side, greedy and beam search. Writes a cross-attention heatmap, TensorBoard
logs, per-epoch checkpoints and both models as `.keras`.

Full run: see docs/translation.md for the measured BLEU, hardware and time.
"""

import json
import os
import time

import keras
import numpy as np
import sacrebleu

from keras_attn import saving
from keras_attn.data import corpora
from keras_attn.data import pipelines
from keras_attn.data import tokenizers
from keras_attn.models import RNNSeq2Seq
from keras_attn.models import TransformerSeq2Seq
from keras_attn.models import text
from keras_attn.recipes import shared
from keras_attn_cli.recipe_flags import recipe_parser

START_ID, END_ID = 2, 3  # WordPiece [CLS] and [SEP] start and end targets.


def build_transformer(args, vocabulary_size):
    return TransformerSeq2Seq(
        vocabulary_size,
        num_layers=args.num_layers,
        num_heads=args.num_heads,
        hidden_dim=args.hidden_dim,
        intermediate_dim=4 * args.hidden_dim,
        dropout=args.dropout,
        max_sequence_length=args.sequence_length,
        normalize_first=True,
        start_id=START_ID,
        end_id=END_ID,
        name="transformer",
    )


def build_rnn(args, vocabulary_size):
    return RNNSeq2Seq(
        vocabulary_size,
        embedding_dim=args.hidden_dim,
        hidden_dim=args.hidden_dim,
        attention="bahdanau",
        dropout=args.dropout,
        start_id=START_ID,
        end_id=END_ID,
        name="rnn",
    )


def rnn_inputs(x, y):
    """The translation pipeline's features under RNNSeq2Seq's input names."""
    return {"source": x["encoder_token_ids"], "target_in": x["decoder_token_ids"]}, y


def train(model, args, train_data, validation_data, name):
    with shared.distribute(args).scope():  # Optimizer and metrics in scope.
        # Warm-up, then a constant rate to the end of the budget: with a
        # rate annealed over the 15 minutes the RNN did much worse (the
        # Transformer better at equal steps; docs/translation.md, 2026-12-07).
        model.compile(
            optimizer=shared.warmup_optimizer(args, alpha=1.0),
            loss=keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, ignore_class=0
            ),
            jit_compile=args.jit_compile,
        )
    history, seconds = shared.fit(model, args, train_data, validation_data, name)
    return {"train_seconds": seconds, "history": history}


def translate(model, tokenizer, texts, args, beam_size=1):
    """Spanish strings -> English strings (and the cross-attention weights)."""
    outputs, weights = [], []
    for start in range(0, len(texts), args.eval_batch_size):
        chunk = texts[start : start + args.eval_batch_size]
        source = np.asarray(tokenizer(chunk)).astype("int32")  # (B, S), 0-padded
        ids, chunk_weights = model.generate(
            source, args.sequence_length, beam_size=beam_size
        )
        for row in ids:
            row = list(row)
            row = row[: row.index(END_ID)] if END_ID in row else row
            outputs.append(tokenizer.detokenize(row))
        weights.append(chunk_weights)
    return [text.tidy_word_pieces(shared.as_text(t)) for t in outputs], weights


def bleu(hypotheses, references):
    return round(sacrebleu.corpus_bleu(hypotheses, [references]).score, 2)


def plot_cross_attention(model, tokenizer, text, args, path):
    source = np.asarray(tokenizer([text])).astype("int32")
    ids, weights = model.generate(source, args.sequence_length)
    ids = list(ids[0])
    length = ids.index(END_ID) + 1 if END_ID in ids else len(ids)
    source_ids = [int(i) for i in source[0] if i != 0]
    shared.plot_attention(
        weights[0],
        rows=[tokenizer.id_to_token(int(i)) for i in ids[:length]],
        columns=[tokenizer.id_to_token(i) for i in source_ids],
        title="Transformer cross-attention (last layer, mean of heads)",
        path=path,
        xlabel="Spanish word pieces",
        ylabel="English word pieces",
    )


def export(run_dir, path, beam_size=1):
    """Export the Transformer a run saved in `run_dir` (signature `translate`)."""
    from keras_attn.export import export_translator

    model = saving.load_model(os.path.join(run_dir, "transformer.keras"))
    tokenizer = tokenizers.load_tokenizer(os.path.join(run_dir, "tokenizer"))
    return export_translator(model, tokenizer, path, beam_size=beam_size)


def parse_args(argv=None, prog=None):
    args = recipe_parser("translate", prog).parse_args(argv)
    if args.tiny:
        args.minutes, args.epochs, args.vocabulary_size = 0, 1, 300
        args.sequence_length, args.num_layers, args.hidden_dim = 24, 1, 16
        args.num_heads, args.num_test, args.warmup_steps = 2, 20, 5
        args.beam_size = 2
    return args


def main(argv=None, prog=None):
    args = parse_args(argv, prog)
    strategy = shared.distribute(args)  # --strategy, --mixed-precision
    os.makedirs(args.output_dir, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    pairs = corpora.load_verse_pairs(shared.corpus_dir(args))
    splits = corpora.split_verse_pairs(
        pairs, num_test=args.num_test, num_validation=args.num_test, seed=args.seed
    )
    print(
        f"{len(splits['train'])} training pairs, {len(splits['validation'])} "
        f"validation, {len(splits['test'])} test"
    )

    # One WordPiece vocabulary for both languages (the tokenizer lowercases
    # nothing: BLEU is computed on cased text).
    start = time.perf_counter()
    tokenizer = tokenizers.train_word_piece(
        [text for pair in splits["train"] for text in pair],
        args.vocabulary_size,
        lowercase=False,
        sequence_length=args.sequence_length,
    )
    vocabulary_size = tokenizer.vocabulary_size()
    seconds = time.perf_counter() - start
    print(f"WordPiece vocabulary: {vocabulary_size} tokens ({seconds:.0f} s)")
    tokenizers.save_tokenizer(tokenizer, os.path.join(args.output_dir, "tokenizer"))

    def dataset(split, shuffle):
        return pipelines.translation_dataset(
            splits[split],
            tokenizer,
            tokenizer,
            source_length=args.sequence_length,
            target_length=args.sequence_length,
            batch_size=args.batch_size,
            start_token_id=START_ID,
            end_token_id=END_ID,
            shuffle=shuffle,
            seed=args.seed,
        )

    train_data, validation_data = dataset("train", True), dataset("validation", False)
    spanish = [es for es, _ in splits["test"]]
    english = [en for _, en in splits["test"]]
    results = {"num_train": len(splits["train"]), "num_test": len(english)}

    with strategy.scope():
        transformer = build_transformer(args, vocabulary_size)
    results["transformer"] = train(
        transformer, args, train_data, validation_data, "transformer"
    )
    greedy, _ = translate(transformer, tokenizer, spanish, args)
    beam, _ = translate(transformer, tokenizer, spanish, args, args.beam_size)
    results["transformer"].update(
        bleu_greedy=bleu(greedy, english),
        bleu_beam=bleu(beam, english),
        parameters=transformer.count_params(),
    )

    with strategy.scope():
        rnn = build_rnn(args, vocabulary_size)
    results["rnn"] = train(
        rnn,
        args,
        train_data.map(rnn_inputs),
        validation_data.map(rnn_inputs),
        "rnn",
    )
    rnn_greedy, _ = translate(rnn, tokenizer, spanish, args)
    rnn_beam, _ = translate(rnn, tokenizer, spanish, args, args.beam_size)
    results["rnn"].update(
        bleu_greedy=bleu(rnn_greedy, english),
        bleu_beam=bleu(rnn_beam, english),
        parameters=rnn.count_params(),
    )

    for model in (transformer, rnn):
        model.save(os.path.join(args.output_dir, f"{model.name}.keras"))
    if keras.backend.backend() == "tensorflow":  # SavedModel: strings in and out
        saved_model = os.path.join(args.output_dir, "saved_model")
        export(args.output_dir, saved_model, beam_size=args.beam_size)
    shared.plot_learning_curves(
        {name: results[name]["history"] for name in ("transformer", "rnn")},
        os.path.join(args.output_dir, "learning_curves.png"),
    )
    plot_cross_attention(
        transformer,
        tokenizer,
        spanish[0],
        args,
        os.path.join(args.output_dir, "cross_attention.png"),
    )
    results["samples"] = [
        {"es": s, "reference": e, "transformer": t, "rnn": r}
        for s, e, t, r in list(zip(spanish, english, beam, rnn_beam))[:5]
    ]
    for name in ("transformer", "rnn"):
        summary = {k: v for k, v in results[name].items() if k != "history"}
        print(f"{name}: {summary}")
    for sample in results["samples"][:3]:
        print(json.dumps(sample, ensure_ascii=False, indent=1))
    with open(os.path.join(args.output_dir, "results.json"), "w") as f:
        json.dump(results, f, ensure_ascii=False, indent=1, default=float)
    return results


if __name__ == "__main__":
    main()
