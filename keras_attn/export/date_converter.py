import numpy as np

from keras_attn.data import dates
from keras_attn.export import saved_model_tools
from keras_attn.models import RNNSeq2Seq


def export_date_converter(model, path, max_length=dates.TARGET_LENGTH):
    """Export a trained date `RNNSeq2Seq` as a SavedModel.

    The SavedModel has two signatures, `convert` and `serving_default`, both
    taking `dates`: a `(N,)` string tensor, and returning `iso`: `(N,)`
    strings. Characters are mapped to ids inside the graph; inputs longer
    than `dates.SOURCE_LENGTH` characters are truncated, characters outside
    the vocabulary become `[UNK]`. The graph holds core TensorFlow ops
    only.

    Args:
        model: the trained `RNNSeq2Seq` (see `keras_attn/recipes/date_seq2seq.py`).
        path: the SavedModel folder to write.
        max_length: output characters decoded (`yyyy-mm-dd` and `[END]`).

    Returns:
        `path`.

    Example (a shell, once exported):

        saved_model_cli run --dir PATH --tag_set serve \\
            --signature_def convert --input_exprs 'dates=["Sep 30, 1981"]'
    """
    tf = saved_model_tools.require_tensorflow()
    saved_model_tools.check_model(model, [RNNSeq2Seq], "model")
    path = saved_model_tools.check_path(path)
    saved_model_tools.check_integer(max_length, "max_length", 1)

    decoder = model.make_generate_function(max_length)

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
        out_ids, _ = decoder.call(ids)  # (N, max_length), greedy
        chars = tf.gather(id_chars, out_ids)
        return {"iso": tf.strings.reduce_join(chars, axis=-1)}

    return saved_model_tools.write_saved_model(
        path,
        tokenizers=[],
        endpoints={"convert": (convert, [saved_model_tools.string_spec("dates")])},
        default="convert",
    )
