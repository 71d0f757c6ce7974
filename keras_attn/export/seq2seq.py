from keras_attn.export import saved_model_tools
from keras_attn.models import RNNSeq2Seq
from keras_attn.models import TransformerSeq2Seq


def export_translator(
    model,
    tokenizer,
    path,
    target_tokenizer=None,
    max_length=None,
    beam_size=1,
    length_penalty=1.0,
):
    """Export a translation model as a SavedModel: strings in, strings out.

    The SavedModel has the signatures `translate` and `serving_default`:
    `source` `(N,)` strings -> `translation` `(N,)` strings. Inside the
    graph the source is tokenized, decoded by the model's own compiled-once
    loop (`generate`'s: greedy, or beam search with `beam_size > 1`), cut
    at the end token and detokenized. The
    decoding settings are fixed at export time.

    A `TransformerSeq2Seq` source is cut to its first `max_sequence_length`
    tokens and padded to that length, as `generate` does; an `RNNSeq2Seq`
    source is padded to the longest in the batch. Detokenized WordPiece is
    the pieces joined by spaces (`"hello , world"`), like keras-hub's
    `detokenize`.

    Args:
        model: a trained `TransformerSeq2Seq` or `RNNSeq2Seq`.
        tokenizer: the keras-hub tokenizer of the source (and of the target,
            unless `target_tokenizer` is given).
        path: the SavedModel folder to write (for TensorFlow Serving,
            `.../NAME/1`).
        target_tokenizer: the target's tokenizer, if it has its own.
        max_length: target tokens to decode; default `max_sequence_length`
            for a `TransformerSeq2Seq` (required for an `RNNSeq2Seq`).
        beam_size: 1 for greedy decoding.
        length_penalty: beam search's length normalization exponent.

    Returns:
        `path`.

    Example:

    >>> import keras
    >>> if keras.backend.backend() != "tensorflow":
    ...     import pytest; pytest.skip("SavedModel export needs TensorFlow")
    >>> import os, tempfile
    >>> import tensorflow as tf
    >>> from keras_attn.data import tokenizers
    >>> from keras_attn.export import export_translator
    >>> from keras_attn.models import TransformerSeq2Seq
    >>> tokenizer = tokenizers.train_word_piece(["el gato", "the cat"] * 4, 40)
    >>> model = TransformerSeq2Seq(
    ...     tokenizer.vocabulary_size(), num_layers=1, num_heads=2,
    ...     hidden_dim=8, intermediate_dim=16, max_sequence_length=6)
    >>> path = os.path.join(tempfile.mkdtemp(), "translator", "1")
    >>> path = export_translator(model, tokenizer, path, max_length=4)
    >>> translate = tf.saved_model.load(path).signatures["translate"]
    >>> translate(source=tf.constant(["el gato", "gato"]))["translation"].shape
    TensorShape([2])
    """
    tf = saved_model_tools.require_tensorflow()
    saved_model_tools.check_model(model, [TransformerSeq2Seq, RNNSeq2Seq], "model")
    saved_model_tools.check_tokenizer(tokenizer)
    target_tokenizer = tokenizer if target_tokenizer is None else target_tokenizer
    saved_model_tools.check_tokenizer(target_tokenizer, "target_tokenizer")
    path = saved_model_tools.check_path(path)
    saved_model_tools.check_integer(beam_size, "beam_size", 1)
    if isinstance(model, TransformerSeq2Seq):
        longest = model.max_sequence_length
        if max_length is None:
            max_length = longest
        saved_model_tools.check_integer(max_length, "max_length", 1, longest)
        decoder = model.make_generate_function(max_length, beam_size, length_penalty)
        source_shape = [None, longest]
    else:
        if max_length is None:
            raise ValueError(
                "An RNNSeq2Seq has no max_sequence_length: pass `max_length`, "
                "the number of target tokens to decode; received None."
            )
        saved_model_tools.check_integer(max_length, "max_length", 1)
        decoder = model.make_generate_function(max_length, beam_size, length_penalty)
        longest, source_shape = None, [None, None]

    def translate(source):
        ids = saved_model_tools.tokenize(tokenizer, source)  # (N, None)
        if longest is not None:
            ids = ids[:, :longest]
        ids = ids.to_tensor(0, shape=source_shape)  # (N, S)
        out, _ = decoder.call(ids)  # (N, max_length), 0 after the end token
        before_end = tf.cumsum(tf.cast(out == model.end_id, tf.int32), axis=1) == 0
        text = saved_model_tools.detokenize(
            target_tokenizer, out, before_end & (out != 0)
        )
        return {"translation": text}

    return saved_model_tools.write_saved_model(
        path,
        tokenizers=[tokenizer, target_tokenizer],
        endpoints={"translate": (translate, [saved_model_tools.string_spec("source")])},
        default="translate",
    )
