import keras_hub
import tensorflow as tf
import tensorflow_text as tf_text

from keras_attn.saving import register

# Hugging Face's BertNormalizer, step by step (tokenizers/normalizers/bert.rs):
# 1. clean_text drops NUL, U+FFFD and every "other" character (categories
#    Cc, Cf, Co, Cn) except \t, \n, \r, then maps whitespace to a space;
# 2. Chinese characters get spaces around them (keras-hub's `split_on_cjk`);
# 3. accents are stripped: NFD, then the nonspacing marks (Mn) removed;
# 4. each character is lowercased on its own (Rust's `char::to_lowercase`).
_DROPPED = r"[^\P{C}\t\n\r]|\x{fffd}"
_WHITESPACE = r"[\t\n\r\p{Z}]"


@register
class HFWordPieceTokenizer(keras_hub.tokenizers.WordPieceTokenizer):
    """keras-hub's `WordPieceTokenizer` normalizing text as Hugging Face BERT.

    Hugging Face BERT tokenizers (`BertTokenizer`, `tokenizer.json` with a
    `BertNormalizer`) lowercase each character, strip accents (NFD, then
    remove nonspacing marks), drop control and format characters (zero-width
    spaces, BOMs, ...) and treat every Unicode space as a space. keras-hub's
    `lowercase=True` instead applies Unicode case folding with NFKC, which
    rewrites "ß" as "ss", the ligature "ﬁ" as "fi" and full-width letters as
    ASCII, and splits words on format characters: different ids from the
    checkpoint's own tokenizer. This subclass normalizes the text the
    Hugging Face way first and then runs keras-hub's word splitting and
    WordPiece unchanged, eagerly and inside `tf.data`.

    `keras_attn.models.bert.load_hf_bert` builds one from a checkpoint's
    `vocab.txt` and `tokenizer_config.json`. Known differences from
    Hugging Face that remain: special-token strings inside the text (e.g.
    a literal "[SEP]") are split like other text, and words longer than 100
    characters are not turned into `[UNK]`.

    It saves like any keras-hub tokenizer (`keras_attn.data.tokenizers.
    save_tokenizer`) and `load_tokenizer` loads it back (it imports this
    module, which `keras_attn.models.bert` otherwise loads lazily to keep
    `import keras_attn` free of TensorFlow).

    Args:
        vocabulary: list of str (the `vocab.txt` lines, id = line number)
            or the path of a file with one token per line.
        sequence_length: int or None, pad/truncate outputs to this length.
        lowercase: lowercase the text (`do_lower_case`).
        strip_accents: remove accents; `None` follows `lowercase`, as in
            Hugging Face.
        split_on_cjk: put CJK characters in words of their own
            (`tokenize_chinese_chars`).
        oov_token: the token of words the vocabulary cannot spell.
        **kwargs: `keras_hub.tokenizers.WordPieceTokenizer` arguments.

    Example:

    >>> from keras_attn.models.bert import HFWordPieceTokenizer
    >>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "strasse", "ß",
    ...               "cafe", "!", "zero", "##width"]
    >>> tokenizer = HFWordPieceTokenizer(vocabulary)
    >>> ids = tokenizer.tokenize("Café ß! zero\\u200bwidth")
    >>> [tokenizer.id_to_token(int(i)) for i in ids]
    ['cafe', 'ß', '!', 'zero', '##width']
    """

    def __init__(
        self,
        vocabulary=None,
        sequence_length=None,
        lowercase=True,
        strip_accents=None,
        split_on_cjk=True,
        oov_token="[UNK]",
        **kwargs,
    ):
        # Fixed for BERT; accepted because keras-hub's configs carry them.
        fixed = {"split": True, "suffix_indicator": "##"}
        for name, value in fixed.items():
            received = kwargs.pop(name, value)
            if received != value:
                raise ValueError(
                    f"HFWordPieceTokenizer always uses {name}={value!r} (as "
                    f"Hugging Face BERT); received {name}={received!r}."
                )
        super().__init__(
            vocabulary=vocabulary,
            sequence_length=sequence_length,
            lowercase=False,  # Done by `normalize`, Hugging Face's way.
            strip_accents=False,
            split=True,
            split_on_cjk=split_on_cjk,
            suffix_indicator="##",
            oov_token=oov_token,
            **kwargs,
        )
        self.hf_lowercase = bool(lowercase)
        self.hf_strip_accents = (
            self.hf_lowercase if strip_accents is None else bool(strip_accents)
        )

    def normalize(self, inputs):
        """The text as Hugging Face's `BertNormalizer` leaves it.

        Args:
            inputs: str, list of str or string tensor.

        Returns:
            A string `tf.Tensor` of the same shape.
        """
        text = tf.convert_to_tensor(inputs, dtype=tf.string)
        text = tf.strings.regex_replace(text, _DROPPED, "")
        text = tf.strings.regex_replace(text, _WHITESPACE, " ")
        if self.hf_strip_accents:
            text = tf_text.normalize_utf8(text, "NFD")
            text = tf.strings.regex_replace(text, r"\p{Mn}", "")
        if self.hf_lowercase:
            # ICU lowercases a final capital sigma to "ς" from its context;
            # Hugging Face maps each character alone, "Σ" -> "σ".
            text = tf.strings.regex_replace(text, "Σ", "σ")
            text = tf.strings.lower(text, encoding="utf-8")
        return text

    def tokenize(self, inputs):
        if isinstance(inputs, tf.RaggedTensor):
            normalized = tf.ragged.map_flat_values(self.normalize, inputs)
        else:
            normalized = self.normalize(inputs)
        return super().tokenize(normalized)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "lowercase": self.hf_lowercase,
                "strip_accents": self.hf_strip_accents,
            }
        )
        return config
