"""What every exporter shares: argument checks, tokenizing and detokenizing
inside the graph, and writing the SavedModel.

TensorFlow and keras-hub are imported inside the functions, so that
`import keras_attn` stays light and this package imports on any backend.
"""

import os
import re

import keras


def require_tensorflow():
    """The `tensorflow` module, or a RuntimeError on another Keras backend."""
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "SavedModel export needs KERAS_BACKEND=tensorflow; the current "
            f"backend is {keras.backend.backend()!r}."
        )
    import tensorflow as tf

    return tf


def check_model(model, classes, name):
    """A TypeError unless `model` is an instance of one of `classes`."""
    classes = tuple(classes)
    if not isinstance(model, classes):
        expected = " or ".join(cls.__name__ for cls in classes)
        raise TypeError(
            f"`{name}` must be a {expected}; received {type(model).__name__}."
        )


def check_tokenizer(tokenizer, name="tokenizer"):
    """A TypeError unless `tokenizer` is a keras-hub tokenizer layer."""
    import keras_hub

    if not isinstance(tokenizer, keras_hub.tokenizers.Tokenizer):
        raise TypeError(
            f"`{name}` must be a keras_hub.tokenizers.Tokenizer (see "
            f"keras_attn.data.tokenizers); received {type(tokenizer).__name__}."
        )


def check_path(path):
    """`path` as a str, or a TypeError."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a str or path-like folder; received {path!r}.")
    return os.fspath(path)


def check_integer(value, name, low, high=None):
    """A ValueError unless `low <= value <= high` (`high` None: no bound)."""
    bad = not isinstance(value, int) or isinstance(value, bool)
    if bad or value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"`{name}` must be an integer {bounds}; received {value!r}.")
    return value


def string_spec(name):
    """The `(N,)` string input of a serving signature."""
    tf = require_tensorflow()
    return tf.TensorSpec([None], tf.string, name=name)


def tokenize(tokenizer, strings):
    """`(N,)` strings -> `(N, None)` ragged int32 ids, inside the graph.

    A tokenizer built with `sequence_length` pads with 0; the padding is
    stripped, so every exporter sees only real tokens.
    """
    tf = require_tensorflow()
    ids = tokenizer(strings)
    if not isinstance(ids, tf.RaggedTensor):
        ids = tf.RaggedTensor.from_tensor(ids, padding=0)
    return tf.cast(ids, tf.int32)


def detokenize(tokenizer, ids, keep):
    """The `(N, L)` ids where `keep` is True -> `(N,)` strings.

    WordPiece is joined here with core TensorFlow ops (the pieces joined by
    spaces, each `##` suffix glued to the piece before it, as keras-hub's
    `detokenize` does), so that the graph needs no TensorFlow Text op that
    older TensorFlow Serving builds lack. Other tokenizers use their own
    `detokenize`, with invalid UTF-8 replaced by U+FFFD (as Python's
    `bytes.decode(errors="replace")` does).
    """
    import keras_hub

    tf = require_tensorflow()
    ids = tf.ragged.boolean_mask(ids, keep)  # (N, None)
    if isinstance(tokenizer, keras_hub.tokenizers.WordPieceTokenizer):
        vocabulary = tf.constant(tokenizer.get_vocabulary(), tf.string)
        pieces = tf.gather(vocabulary, ids)  # (N, None) strings
        text = tf.strings.reduce_join(pieces, axis=-1, separator=" ")
        suffix = re.escape(tokenizer.suffix_indicator)
        return tf.strings.regex_replace(text, f" {suffix}(\\S)", r"\1")
    text = tf.reshape(tokenizer.detokenize(ids), [-1])
    # Byte-level pieces can end mid-character (a continuation cut short):
    # replace invalid UTF-8 with U+FFFD, so that every output is text.
    return tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")


def write_saved_model(path, tokenizers, endpoints, default):
    """Write a SavedModel with one signature per endpoint.

    Args:
        path: the SavedModel folder.
        tokenizers: keras-hub tokenizers the endpoints call (their lookup
            tables are saved with the graph).
        endpoints: dict of signature name -> `(fn, input_signature)`.
        default: the endpoint also served as `serving_default`.

    Returns:
        `path`.
    """
    tf = require_tensorflow()
    # A plain module saved by `tf.saved_model.save` traces each endpoint once,
    # where `keras.export.ExportArchive` traces it twice (and tracing a
    # tokenizer and a decoding loop takes seconds).
    module = tf.Module()
    module.tokenizers = list(tokenizers)  # Their vocabulary tables.
    signatures, variables = {}, {}
    for name, (fn, signature) in endpoints.items():
        function = tf.function(fn, input_signature=signature, autograph=False)
        signatures[name] = function.get_concrete_function()
        variables.update((id(v), v) for v in signatures[name].variables)
    signatures["serving_default"] = signatures[default]
    # The TensorFlow variables the graphs read, tracked as such: loaders of
    # the graph alone (TensorFlow Serving, `saved_model_cli run`) restore
    # them by name.
    module.variables_used = list(variables.values())
    tf.saved_model.save(module, path, signatures=signatures)
    return path
