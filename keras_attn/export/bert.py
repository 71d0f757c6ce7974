from keras_attn import checks
from keras_attn.export import saved_model_tools
from keras_attn.models import BertBackbone
from keras_attn.models import BertClassifier
from keras_attn.models.bert import mean_pool

POOLINGS = ("cls", "mean", "pooled")


def pack_segments(segments, sequence_length, cls_id, sep_id, pad_id):
    """BERT's packing inside the graph, with core TensorFlow ops only.

    One segment gives `[CLS] a [SEP]`, two give `[CLS] a [SEP] b [SEP]` with
    segment id 1 on `b [SEP]`, as `keras_attn.data.pipelines` packs them.
    Segments too long for `sequence_length` lose tokens from their ends,
    round robin: with room `m`, `a` keeps `min(len_a, max(ceil(m / 2),
    m - len_b))` tokens and `b` the rest of the room (so `a` keeps the extra
    token when the room is odd). Rows are padded with `pad_id` to the
    longest packed row of the batch, not to `sequence_length`.

    Args:
        segments: one or two `(N, None)` ragged int32 id tensors.
        sequence_length: the longest packed row, special tokens included.
        cls_id, sep_id, pad_id: the tokenizer's special token ids.

    Returns:
        The BERT input dict: `token_ids`, `segment_ids`, `padding_mask`, each
        `(N, T)` int32 with `T <= sequence_length`.

    Example:

    >>> import keras
    >>> if keras.backend.backend() != "tensorflow":
    ...     import pytest; pytest.skip("the packing runs in TensorFlow graphs")
    >>> import tensorflow as tf
    >>> from keras_attn.export.bert import pack_segments
    >>> a = tf.ragged.constant([[7, 8, 9, 10], [7]])
    >>> b = tf.ragged.constant([[11, 12], [11]])
    >>> packed = pack_segments([a, b], 7, cls_id=2, sep_id=3, pad_id=0)
    >>> packed["token_ids"].numpy().tolist()
    [[2, 7, 8, 3, 11, 12, 3], [2, 7, 3, 11, 3, 0, 0]]
    >>> packed["segment_ids"].numpy().tolist()
    [[0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 0, 0]]
    """
    tf = saved_model_tools.require_tensorflow()
    room = sequence_length - 1 - len(segments)
    lengths = [tf.cast(s.row_lengths(), tf.int32) for s in segments]  # (N,) each
    if len(segments) == 1:
        keep = [tf.minimum(lengths[0], room)]
    else:
        first = tf.minimum(lengths[0], tf.maximum((room + 1) // 2, room - lengths[1]))
        keep = [first, tf.minimum(lengths[1], room - first)]

    num_rows = segments[0].nrows(out_type=tf.int32)
    cls = tf.RaggedTensor.from_tensor(tf.fill([num_rows, 1], cls_id))  # (N, 1)
    sep = tf.RaggedTensor.from_tensor(tf.fill([num_rows, 1], sep_id))  # (N, 1)
    pieces, segment_ids = [cls], [tf.zeros_like(cls)]
    for index, (segment, length) in enumerate(zip(segments, keep)):
        positions = tf.ragged.range(tf.cast(segment.row_lengths(), tf.int32))
        kept = tf.ragged.boolean_mask(segment, positions < length[:, None])
        pieces += [kept, sep]
        segment_ids += [tf.zeros_like(kept) + index, tf.zeros_like(sep) + index]
    token_ids = tf.concat(pieces, axis=1)  # (N, None)
    segment_ids = tf.concat(segment_ids, axis=1)  # (N, None)
    return {
        "token_ids": token_ids.to_tensor(pad_id),
        "segment_ids": segment_ids.to_tensor(0),
        "padding_mask": tf.ones_like(token_ids).to_tensor(0),
    }


def _bert_inputs(backbone, tokenizer, sequence_length, num_segments):
    """Check the arguments BERT exports share; return the packing function
    `*strings -> BERT input dict` and the `(N,)` string input specs."""
    saved_model_tools.check_tokenizer(tokenizer)
    longest = backbone.max_sequence_length
    if sequence_length is None:
        sequence_length = longest
    saved_model_tools.check_integer(
        sequence_length, "sequence_length", 2 + num_segments, longest
    )
    special = checks.special_token_ids(tokenizer, ["[CLS]", "[SEP]", "[PAD]"])

    def pack(*texts):
        segments = [saved_model_tools.tokenize(tokenizer, text) for text in texts]
        return pack_segments(
            segments,
            sequence_length,
            special["[CLS]"],
            special["[SEP]"],
            special["[PAD]"],
        )

    names = ["text", "text_pair"][:num_segments]
    return pack, [saved_model_tools.string_spec(name) for name in names]


def _pool(backbone, inputs, pooling, normalize):
    """The backbone's `(N, D)` float32 sentence embeddings."""
    tf = saved_model_tools.require_tensorflow()
    outputs = backbone(inputs, training=False)
    if pooling == "pooled":
        embeddings = outputs["pooled_output"]
    elif pooling == "cls":
        embeddings = outputs["sequence_output"][:, 0, :]
    else:
        embeddings = mean_pool(
            outputs["sequence_output"], inputs["padding_mask"], normalize=False
        )
    embeddings = tf.cast(embeddings, tf.float32)
    if normalize:
        norm = tf.norm(embeddings, axis=-1, keepdims=True)
        embeddings = embeddings / tf.maximum(norm, 1e-12)
    return embeddings


def export_bert_embedder(
    backbone, tokenizer, path, pooling="cls", normalize=False, sequence_length=None
):
    """Export a `BertBackbone` as a sentence embedder: strings -> vectors.

    The SavedModel has the signatures `embed` and `serving_default`: `text`
    `(N,)` strings -> `embeddings` `(N, hidden_dim)` float32. Inside the
    graph each text is tokenized and packed `[CLS] text [SEP]` with the
    tokenizer's own `[CLS]`, `[SEP]` and `[PAD]` ids (texts too long lose
    their last tokens), padded to the longest row of the batch, and run
    through the backbone. For a sentence-transformers checkpoint such as
    all-MiniLM-L6-v2 (weights in a `BertBackbone`, its lower-casing
    WordPiece vocabulary in the tokenizer) use `pooling="mean",
    normalize=True`.

    Args:
        backbone: a `BertBackbone`.
        tokenizer: its keras-hub tokenizer, whose vocabulary has `[CLS]`,
            `[SEP]` and `[PAD]`.
        path: the SavedModel folder to write (for TensorFlow Serving,
            `.../NAME/1`).
        pooling: `"cls"`, the last layer's output at `[CLS]`; `"mean"`, the
            mean of the last layer's outputs over the real tokens (`[CLS]`
            and `[SEP]` included, padding excluded); `"pooled"`, the
            backbone's `pooled_output` (tanh dense on `[CLS]`).
        normalize: divide each embedding by its L2 norm (at least 1e-12).
        sequence_length: the longest packed text, special tokens included;
            default the backbone's `max_sequence_length`.

    Returns:
        `path`.

    Example:

    >>> import keras
    >>> if keras.backend.backend() != "tensorflow":
    ...     import pytest; pytest.skip("SavedModel export needs TensorFlow")
    >>> import os, tempfile
    >>> import numpy as np
    >>> import tensorflow as tf
    >>> from keras_attn.data import tokenizers
    >>> from keras_attn.export import export_bert_embedder
    >>> from keras_attn.models import BertBackbone
    >>> tokenizer = tokenizers.train_word_piece(["the cat sat", "a dog"] * 4, 40)
    >>> backbone = BertBackbone(tokenizer.vocabulary_size(), num_layers=1,
    ...     num_heads=2, hidden_dim=8, intermediate_dim=16,
    ...     max_sequence_length=16)
    >>> path = os.path.join(tempfile.mkdtemp(), "embedder", "1")
    >>> path = export_bert_embedder(backbone, tokenizer, path, pooling="mean",
    ...     normalize=True)
    >>> embed = tf.saved_model.load(path).signatures["embed"]
    >>> vectors = embed(text=tf.constant(["the cat", "a dog sat"]))["embeddings"]
    >>> vectors.shape, np.round(np.linalg.norm(vectors, axis=-1), 4).tolist()
    (TensorShape([2, 8]), [1.0, 1.0])
    """
    saved_model_tools.check_model(backbone, [BertBackbone], "backbone")
    path = saved_model_tools.check_path(path)
    if pooling not in POOLINGS:
        raise ValueError(f"`pooling` must be one of {POOLINGS}; received {pooling!r}.")
    if not isinstance(normalize, bool):
        raise TypeError(f"`normalize` must be a bool; received {normalize!r}.")
    pack, specs = _bert_inputs(backbone, tokenizer, sequence_length, 1)

    def embed(text):
        return {"embeddings": _pool(backbone, pack(text), pooling, normalize)}

    return saved_model_tools.write_saved_model(
        path,
        tokenizers=[tokenizer],
        endpoints={"embed": (embed, specs)},
        default="embed",
    )


def export_bert_classifier(
    classifier, tokenizer, labels, path, sequence_length=None, sentence_pairs=False
):
    """Export a `BertClassifier`: strings in, label strings and probabilities out.

    The SavedModel has three signatures. `classify` (also
    `serving_default`) takes `text` `(N,)` strings, plus `text_pair` `(N,)`
    strings when exported with `sentence_pairs=True`, and returns `labels`
    `(N,)`, the most probable label's name, and `probabilities`
    `(N, num_classes)` float32 (softmax of the logits, in the order of
    `labels`). `embed` takes the same inputs and returns `embeddings`
    `(N, hidden_dim)`: the backbone's `pooled_output`, the features the
    classification head reads. Texts are packed as the classification
    pipeline packs them (`[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`, round
    robin truncation, see `pack_segments`).

    Args:
        classifier: a trained `BertClassifier`.
        tokenizer: its keras-hub tokenizer, whose vocabulary has `[CLS]`,
            `[SEP]` and `[PAD]`.
        labels: the `num_classes` class names, by class id.
        path: the SavedModel folder to write (for TensorFlow Serving,
            `.../NAME/1`).
        sequence_length: the longest packed input, special tokens included;
            default the backbone's `max_sequence_length`.
        sentence_pairs: whether the signatures take a second segment,
            `text_pair`.

    Returns:
        `path`.

    Example:

    >>> import keras
    >>> if keras.backend.backend() != "tensorflow":
    ...     import pytest; pytest.skip("SavedModel export needs TensorFlow")
    >>> import os, tempfile
    >>> import tensorflow as tf
    >>> from keras_attn.data import tokenizers
    >>> from keras_attn.export import export_bert_classifier
    >>> from keras_attn.models import BertBackbone, BertClassifier
    >>> tokenizer = tokenizers.train_word_piece(["good film", "bad plot"] * 4, 40)
    >>> backbone = BertBackbone(tokenizer.vocabulary_size(), num_layers=1,
    ...     num_heads=2, hidden_dim=8, intermediate_dim=16,
    ...     max_sequence_length=16)
    >>> classifier = BertClassifier(backbone, num_classes=2)
    >>> path = os.path.join(tempfile.mkdtemp(), "sentiment", "1")
    >>> path = export_bert_classifier(
    ...     classifier, tokenizer, ["negative", "positive"], path)
    >>> classify = tf.saved_model.load(path).signatures["classify"]
    >>> out = classify(text=tf.constant(["good plot", "bad film", "good"]))
    >>> out["labels"].shape, out["probabilities"].shape
    (TensorShape([3]), TensorShape([3, 2]))
    """
    tf = saved_model_tools.require_tensorflow()
    saved_model_tools.check_model(classifier, [BertClassifier], "classifier")
    path = saved_model_tools.check_path(path)
    if isinstance(labels, str) or not all(isinstance(x, str) for x in labels):
        raise TypeError(f"`labels` must be a list of str; received {labels!r:.80}.")
    labels = list(labels)
    if len(labels) != classifier.num_classes:
        raise ValueError(
            f"`labels` must name each of the classifier's {classifier.num_classes}"
            f" classes; received {len(labels)} labels: {labels!r:.80}."
        )
    if not isinstance(sentence_pairs, bool):
        raise TypeError(
            f"`sentence_pairs` must be a bool; received {sentence_pairs!r}."
        )
    backbone = classifier.backbone
    pack, specs = _bert_inputs(
        backbone, tokenizer, sequence_length, 2 if sentence_pairs else 1
    )
    names = tf.constant(labels, tf.string)

    def classify(*texts):
        logits = classifier(pack(*texts), training=False)  # (N, C)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        best = tf.argmax(probabilities, axis=-1)  # (N,)
        return {"labels": tf.gather(names, best), "probabilities": probabilities}

    def embed(*texts):
        return {"embeddings": _pool(backbone, pack(*texts), "pooled", False)}

    return saved_model_tools.write_saved_model(
        path,
        tokenizers=[tokenizer],
        endpoints={"classify": (classify, specs), "embed": (embed, specs)},
        default="classify",
    )
