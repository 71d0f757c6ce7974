"""TensorFlow SavedModel export with string-in, string-out signatures.

Serving needs TensorFlow itself (SavedModel, `tf.strings`), so this module
is the one place besides the data pipelines that imports it; layers and
models stay backend-agnostic. Run it with the TensorFlow backend.
"""

import keras
import numpy as np

from keras_attn.data import dates


def _check_backend():
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "SavedModel export needs KERAS_BACKEND=tensorflow; the current "
            f"backend is {keras.backend.backend()!r}."
        )


def export_date_converter(model, path, max_length=dates.TARGET_LENGTH):
    """Export a trained date `RNNSeq2Seq` as a SavedModel.

    The SavedModel has two signatures, `convert` and `serving_default`, both
    taking `dates`: a `(N,)` string tensor, and returning `iso`: `(N,)`
    strings. Characters are mapped to ids inside the graph; inputs longer
    than `dates.SOURCE_LENGTH` characters are truncated, characters outside
    the vocabulary become `[UNK]`.

    Example (a shell, once exported):

        saved_model_cli run --dir PATH --tag_set serve \\
            --signature_def convert --input_exprs 'dates=["Sep 30, 1981"]'
    """
    _check_backend()
    import tensorflow as tf

    decoder = model._greedy_decoders.get(max_length)
    if decoder is None:
        model.generate(np.zeros((1, dates.SOURCE_LENGTH), "int32"), max_length)
        decoder = model._greedy_decoders[max_length]

    # Unicode code point -> id for ASCII; anything else is [UNK].
    char_ids = np.full(128, dates.UNK_ID, "int32")
    for i, token in enumerate(dates.VOCABULARY):
        if len(token) == 1 and ord(token) < 128:
            char_ids[ord(token)] = i
    char_ids = tf.constant(char_ids)
    # Id -> output character; special tokens print as nothing.
    id_chars = tf.constant(
        [t if len(t) == 1 else "" for t in dates.VOCABULARY], tf.string
    )

    def convert(dates_in):
        codes = tf.strings.unicode_decode(dates_in, "UTF-8")  # ragged (N, L)
        codes = tf.where(codes < 128, codes, 0)
        ids = tf.ragged.map_flat_values(
            lambda c: tf.where(c > 0, tf.gather(char_ids, c), dates.UNK_ID), codes
        )
        ids = ids.to_tensor(0, shape=[None, dates.SOURCE_LENGTH])  # (N, S)
        out_ids, _ = decoder(ids)  # (N, max_length)
        chars = tf.gather(id_chars, out_ids)
        return {"iso": tf.strings.reduce_join(chars, axis=-1)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = [tf.TensorSpec([None], tf.string, name="dates")]
    fn = archive.add_endpoint("convert", convert, input_signature=spec)
    archive.add_endpoint("serving_default", fn)
    archive.write_out(path, verbose=False)
    return path
