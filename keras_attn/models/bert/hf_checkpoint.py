"""Hugging Face-format BERT checkpoints <-> `BertBackbone` and its tokenizer.

A Hugging Face BERT folder holds `config.json` (the architecture),
`model.safetensors` (the weights, by name), `vocab.txt` (one WordPiece token
per line, id = line number) and usually `tokenizer_config.json` (lowercasing,
accents). `load_hf_bert` reads such a folder with the `safetensors` package's
NumPy API (no torch) and returns a `BertBackbone` with the checkpoint's
weights and an `HFWordPieceTokenizer` that gives the checkpoint's own token
ids; `save_hf_bert` writes one back.

How the names map (per layer `i`; Hugging Face `Linear` weights are
`(out, in)`, Keras kernels `(in, out)`, so they are transposed; the query,
key and value projections are fused into our one `qkv_dense`):

- `embeddings.word_embeddings` / `position_embeddings` /
  `token_type_embeddings` -> the token, position and segment tables of
  `backbone.embeddings`; `embeddings.LayerNorm` -> `embeddings_layer_norm`;
- `encoder.layer.i.attention.self.{query,key,value}` -> the fused
  `qkv_dense` of `transformer_layer_i.self_attention`;
  `attention.output.dense` -> its `output_dense`;
  `attention.output.LayerNorm` -> `self_attention_layer_norm`;
- `encoder.layer.i.intermediate.dense` and `output.dense` -> the two
  `Dense` layers of `feed_forward`; `output.LayerNorm` ->
  `feed_forward_layer_norm`;
- `pooler.dense` -> `pooled_dense` (optional: a checkpoint without a
  pooler keeps the random one, with a warning).

Names may carry the `bert.` prefix of task checkpoints (`BertForMaskedLM`,
...) and LayerNorms may be `gamma`/`beta` (old TensorFlow conversions); task
heads (`cls.*`, `classifier.*`) are ignored.
"""

import json
import os
import warnings

import keras
import numpy as np

from keras_attn.layers.feed_forward import gelu_approximate
from keras_attn.models.bert.bert_backbone import BertBackbone

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
VOCABULARY_FILE = "vocab.txt"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
TOKENIZER_FILE = "tokenizer.json"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")

# Hugging Face `hidden_act` -> Keras activation. "gelu" is the exact erf
# GELU; "gelu_new" and "gelu_pytorch_tanh" are the tanh approximation.
ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_new": gelu_approximate,
    "gelu_pytorch_tanh": gelu_approximate,
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
}
# Keras activation (serialized) -> the `hidden_act` written by `save_hf_bert`.
HIDDEN_ACTS = {
    "gelu": "gelu",
    "keras_attn>gelu_approximate": "gelu_new",
    "relu": "relu",
    "silu": "silu",
}
REQUIRED_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
)
# Sizes that may be left out (then Hugging Face's defaults); when present
# they must be positive integers too.
OPTIONAL_SIZES = ("max_position_embeddings", "type_vocab_size")
OPTIONAL_TENSORS = ("pooler.dense.weight", "pooler.dense.bias")


def load_hf_bert(path, dtype=None):
    """Loads a Hugging Face-format BERT checkpoint folder.

    Reads `config.json`, `model.safetensors` (or the shards listed in
    `model.safetensors.index.json`), `vocab.txt` and, when present,
    `tokenizer_config.json` (else the normalizer of `tokenizer.json`). Only
    safetensors weights are read: a folder with just `pytorch_model.bin`
    gets an error saying how to convert it.

    The backbone uses the checkpoint's activation (`hidden_act: "gelu"` is
    the exact erf GELU), LayerNorm epsilon, position table and segment
    count; its dropout rate is `hidden_dropout_prob`. Its padding mask
    behaves like Hugging Face's attention mask at the real tokens (padded
    positions' outputs are not meaningful in either).

    The tokenizer lowercases and strips accents as the checkpoint says. It
    gives word-piece ids only; `keras_attn.models.bert.bert_inputs` (or the
    `keras_attn.data.pipelines` datasets) add `[CLS]`/`[SEP]`, segment ids
    and padding.

    Args:
        path: the checkpoint folder.
        dtype: dtype policy of the backbone (e.g. `"mixed_bfloat16"`); the
            weights are read as float32.

    Returns:
        `(backbone, tokenizer)`: a `BertBackbone` and an
        `HFWordPieceTokenizer`.

    The folder is untrusted input: every file read (the shards an index
    names included) must resolve inside it, every config field must have
    the type and range BERT needs, and every tensor's shape in the
    safetensors headers is checked against the config before the backbone
    is built.

    Raises:
        FileNotFoundError: a required file is missing.
        ValueError: `config.json` is not a JSON object, names another
            architecture, lacks a field or has a field of the wrong type or
            range; the index is malformed or names a file outside the
            folder; a weights file is damaged; a tensor is missing or has
            the wrong shape; `vocab.txt` does not match the embedding table.

    Example:

    >>> import numpy as np
    >>> from keras_attn.models.bert import BertBackbone, HFWordPieceTokenizer
    >>> from keras_attn.models.bert import load_hf_bert, save_hf_bert
    >>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world"]
    >>> backbone = BertBackbone(vocabulary_size=6, num_layers=1, num_heads=2,
    ...     hidden_dim=8, intermediate_dim=16, max_sequence_length=8,
    ...     activation="gelu")
    >>> folder = getfixture("tmp_path")
    >>> save_hf_bert(backbone, HFWordPieceTokenizer(vocabulary), folder)
    >>> loaded, tokenizer = load_hf_bert(folder)
    >>> [int(i) for i in tokenizer.tokenize("Hello WORLD")]
    [4, 5]
    >>> x = {"token_ids": np.array([[2, 4, 5, 3]]),
    ...      "segment_ids": np.zeros((1, 4), "int32"),
    ...      "padding_mask": np.ones((1, 4), "int32")}
    >>> bool(np.allclose(loaded(x)["sequence_output"],
    ...                  backbone(x)["sequence_output"]))
    True
    """
    path = os.fspath(path)
    config = _read_config(path)
    tensors = _read_tensors(path)
    # The safetensors headers are checked against config.json before any
    # variable exists: a config that lies about its sizes must not make us
    # allocate a table the file does not hold.
    tensors.check_shapes(_checkpoint_shapes(config), config)
    backbone = BertBackbone(**_backbone_arguments(config), dtype=dtype)
    _load_weights(backbone, tensors)
    vocabulary = _read_vocabulary(path)
    rows = backbone.vocabulary_size
    if len(vocabulary) != rows:
        raise ValueError(
            f"{VOCABULARY_FILE} has {len(vocabulary)} tokens but the embedding "
            f"table `embeddings.word_embeddings.weight` has {rows} rows "
            f"(config.json vocab_size={rows}); token ids would not match "
            "embedding rows. Use the vocab.txt saved with these weights."
        )
    return backbone, _make_tokenizer(path, vocabulary)


def save_hf_bert(backbone, tokenizer, path):
    """Writes a `BertBackbone` and its tokenizer as a Hugging Face folder.

    Writes `config.json`, `model.safetensors`, `vocab.txt` and
    `tokenizer_config.json`, which `load_hf_bert` (and Hugging Face's
    `BertModel` / `BertTokenizer`) read back.

    Args:
        backbone: a `BertBackbone` with a `"gelu"`, `gelu_approximate`,
            `"relu"` or `"silu"` activation.
        tokenizer: a `keras_hub.tokenizers.WordPieceTokenizer` (e.g. an
            `HFWordPieceTokenizer`) whose vocabulary has one token per
            embedding row and contains `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`.
        path: the folder (created if needed).

    Example: see `load_hf_bert`.
    """
    if not isinstance(backbone, BertBackbone):
        raise TypeError(
            f"save_hf_bert takes a BertBackbone; received {type(backbone).__name__}."
        )
    import keras_hub
    from safetensors.numpy import save_file

    if not isinstance(tokenizer, keras_hub.tokenizers.WordPieceTokenizer):
        raise TypeError(
            "save_hf_bert takes a keras_hub.tokenizers.WordPieceTokenizer; "
            f"received {type(tokenizer).__name__}."
        )
    vocabulary = list(tokenizer.get_vocabulary())
    if len(vocabulary) != backbone.vocabulary_size:
        raise ValueError(
            f"The tokenizer has {len(vocabulary)} tokens but the backbone has "
            f"vocabulary_size={backbone.vocabulary_size}; they must match."
        )
    _check_special_tokens(vocabulary)
    activation = keras.activations.serialize(backbone.activation)
    activation = (
        activation.get("config") if isinstance(activation, dict) else activation
    )
    if activation not in HIDDEN_ACTS:
        raise ValueError(
            "save_hf_bert writes the activations "
            f"{sorted(HIDDEN_ACTS)}; the backbone's is {activation!r}."
        )
    os.makedirs(path, exist_ok=True)
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": backbone.vocabulary_size,
        "hidden_size": backbone.hidden_dim,
        "num_hidden_layers": backbone.num_layers,
        "num_attention_heads": backbone.num_heads,
        "intermediate_size": backbone.intermediate_dim,
        "hidden_act": HIDDEN_ACTS[activation],
        "hidden_dropout_prob": backbone.dropout,
        "attention_probs_dropout_prob": backbone.dropout,
        "max_position_embeddings": backbone.max_sequence_length,
        "type_vocab_size": backbone.num_segments,
        "layer_norm_eps": backbone.layer_norm_epsilon,
        "position_embedding_type": "absolute",
        "pad_token_id": vocabulary.index("[PAD]"),
    }
    _write_json(os.path.join(path, CONFIG_FILE), config)
    tensors = {}
    for variable, names, layout in _weight_map(backbone):
        value = keras.ops.convert_to_numpy(variable).astype("float32")
        parts = np.split(value, len(names), axis=1 if layout == "linear" else 0)
        for name, part in zip(names, parts):
            tensors[name] = np.ascontiguousarray(part.T if layout == "linear" else part)
    save_file(tensors, os.path.join(path, WEIGHTS_FILE), metadata={"format": "pt"})
    with open(os.path.join(path, VOCABULARY_FILE), "w", encoding="utf-8") as f:
        f.writelines(token + "\n" for token in vocabulary)
    lowercase = getattr(tokenizer, "hf_lowercase", tokenizer.lowercase)
    strip_accents = getattr(tokenizer, "hf_strip_accents", tokenizer.strip_accents)
    _write_json(
        os.path.join(path, TOKENIZER_CONFIG_FILE),
        {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": lowercase,
            "strip_accents": strip_accents,
            "tokenize_chinese_chars": tokenizer.split_on_cjk,
            "unk_token": tokenizer.oov_token,
            "cls_token": "[CLS]",
            "sep_token": "[SEP]",
            "pad_token": "[PAD]",
            "mask_token": "[MASK]",
            "model_max_length": backbone.max_sequence_length,
        },
    )


# --------------------------------------------------------------------- config


def _read_json(path):
    """A JSON object from `path`, or a ValueError naming the file."""
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (ValueError, RecursionError) as error:  # bad JSON or UTF-8
        raise ValueError(
            f"{os.path.basename(path)} is not valid JSON ({error}); the "
            "checkpoint folder is damaged."
        ) from None
    if not isinstance(value, dict):
        raise ValueError(
            f"{os.path.basename(path)} must hold a JSON object; received "
            f"{type(value).__name__}."
        )
    return value


def _member(folder, name, field=None):
    """The path of `name` inside `folder`, refusing any file outside it.

    Checkpoint folders come from anywhere: a shard name such as
    `../x.safetensors` or `/etc/passwd`, or a symlink out of the folder,
    must not be followed. `field` names where `name` came from.
    """
    root = os.path.realpath(folder)
    if not isinstance(name, str) or not name:
        raise ValueError(
            f"{field or 'A file name'} must be a non-empty file name inside "
            f"the checkpoint folder; received {name!r}."
        )
    resolved = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([root, resolved]) != root or resolved == root:
        raise ValueError(
            f"{field or name!r} points outside the checkpoint folder "
            f"{folder!r}: received {name!r}, which resolves to {resolved!r}. "
            "Every file of a checkpoint must be inside its folder."
        )
    return resolved


def _write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def _read_config(path):
    file = _member(path, CONFIG_FILE)
    if not os.path.isfile(file):
        raise FileNotFoundError(
            f"No {CONFIG_FILE} in {path!r}; expected a Hugging Face BERT folder "
            f"({CONFIG_FILE}, {WEIGHTS_FILE}, {VOCABULARY_FILE})."
        )
    config = _read_json(file)
    model_type = config.get("model_type")
    architectures = config.get("architectures") or []
    if model_type is not None and model_type != "bert":
        raise ValueError(
            f"{CONFIG_FILE}: `model_type` is {model_type!r}; load_hf_bert reads "
            'BERT checkpoints (`"model_type": "bert"`).'
        )
    others = [a for a in architectures if not str(a).startswith("Bert")]
    if others:
        raise ValueError(
            f"{CONFIG_FILE}: `architectures` is {architectures}; load_hf_bert "
            "reads BERT checkpoints (BertModel, BertForMaskedLM, ...), not "
            f"{others}."
        )
    if model_type is None and not architectures:
        raise ValueError(
            f"{CONFIG_FILE} has neither `model_type` nor `architectures`; "
            'expected `"model_type": "bert"`.'
        )
    missing = [field for field in REQUIRED_FIELDS if field not in config]
    if missing:
        raise ValueError(
            f"{CONFIG_FILE} lacks the field(s) {missing}; a BERT config has "
            f"{list(REQUIRED_FIELDS)}."
        )
    hidden_act = config.get("hidden_act", "gelu")
    if hidden_act not in ACTIVATIONS:
        raise ValueError(
            f"{CONFIG_FILE}: `hidden_act` is {hidden_act!r}; expected one of "
            f"{sorted(ACTIVATIONS)}."
        )
    position_type = config.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise ValueError(
            f"{CONFIG_FILE}: `position_embedding_type` is {position_type!r}; "
            "BertBackbone has learned absolute positions only."
        )
    for field in REQUIRED_FIELDS + OPTIONAL_SIZES:
        if field in config:
            _check_config_int(config, field)
    if config["hidden_size"] % config["num_attention_heads"]:
        raise ValueError(
            f"{CONFIG_FILE}: `hidden_size` ({config['hidden_size']}) must be a "
            "multiple of `num_attention_heads` "
            f"({config['num_attention_heads']})."
        )
    epsilon = config.get("layer_norm_eps", 1e-12)
    if not _is_number(epsilon) or not 0 < epsilon < 1:
        raise ValueError(
            f"{CONFIG_FILE}: `layer_norm_eps` must be a number in (0, 1); "
            f"received {epsilon!r}."
        )
    dropout = config.get("hidden_dropout_prob", 0.1)
    if not _is_number(dropout) or not 0 <= dropout < 1:
        raise ValueError(
            f"{CONFIG_FILE}: `hidden_dropout_prob` must be a number in [0, 1); "
            f"received {dropout!r}."
        )
    return config


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_config_int(config, field):
    value = config[field]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"{CONFIG_FILE}: `{field}` must be a positive integer; received {value!r}."
        )


def _backbone_arguments(config):
    return dict(
        vocabulary_size=config["vocab_size"],
        num_layers=config["num_hidden_layers"],
        num_heads=config["num_attention_heads"],
        hidden_dim=config["hidden_size"],
        intermediate_dim=config["intermediate_size"],
        dropout=config.get("hidden_dropout_prob", 0.1),
        max_sequence_length=config.get("max_position_embeddings", 512),
        num_segments=config.get("type_vocab_size", 2),
        layer_norm_epsilon=config.get("layer_norm_eps", 1e-12),
        activation=ACTIVATIONS[config.get("hidden_act", "gelu")],
    )


# -------------------------------------------------------------------- weights


def _weight_map(backbone):
    """`(variable, Hugging Face names, layout)` for every backbone weight.

    `layout` is `"linear"` for kernels (our kernel is the column-wise
    concatenation of the transposed `(out, in)` weights) and `"same"`
    otherwise (concatenated along the first axis).
    """
    entries = [
        (
            backbone.token_embedding.embeddings,
            ["embeddings.word_embeddings.weight"],
            "same",
        ),
        (
            backbone.embeddings.position_embedding.position_embeddings,
            ["embeddings.position_embeddings.weight"],
            "same",
        ),
    ]
    if backbone.num_segments:
        entries.append(
            (
                backbone.embeddings.segment_embedding.embeddings,
                ["embeddings.token_type_embeddings.weight"],
                "same",
            )
        )
    entries += _layer_norm(backbone.embeddings_layer_norm, "embeddings.LayerNorm")
    for i, layer in enumerate(backbone.transformer_layers):
        prefix = f"encoder.layer.{i}."
        attention = layer.self_attention
        qkv = [prefix + f"attention.self.{n}" for n in ("query", "key", "value")]
        entries += [
            (attention.qkv_dense.kernel, [n + ".weight" for n in qkv], "linear"),
            (attention.qkv_dense.bias, [n + ".bias" for n in qkv], "same"),
        ]
        entries += _dense(attention.output_dense, prefix + "attention.output.dense")
        entries += _layer_norm(
            layer.self_attention_layer_norm, prefix + "attention.output.LayerNorm"
        )
        feed_forward = layer.feed_forward
        entries += _dense(
            feed_forward.intermediate_dense, prefix + "intermediate.dense"
        )
        entries += _dense(feed_forward.output_dense, prefix + "output.dense")
        entries += _layer_norm(
            layer.feed_forward_layer_norm, prefix + "output.LayerNorm"
        )
    entries += _dense(backbone.pooled_dense, "pooler.dense")
    return entries


def _checkpoint_shapes(config):
    """`{name: shape}` of the tensors a BERT checkpoint with `config` holds,
    in Hugging Face's layout (`Linear` weights `(out, in)`); the pooler's
    (`OPTIONAL_TENSORS`) may be absent."""
    d, f = config["hidden_size"], config["intermediate_size"]
    shapes = {
        "embeddings.word_embeddings.weight": (config["vocab_size"], d),
        "embeddings.position_embeddings.weight": (
            config.get("max_position_embeddings", 512),
            d,
        ),
        "embeddings.token_type_embeddings.weight": (
            config.get("type_vocab_size", 2),
            d,
        ),
    }
    norms = ["embeddings.LayerNorm"]
    for i in range(config["num_hidden_layers"]):
        prefix = f"encoder.layer.{i}."
        linear = [prefix + f"attention.self.{n}" for n in ("query", "key", "value")]
        linear = [(name, d, d) for name in linear] + [
            (prefix + "attention.output.dense", d, d),
            (prefix + "intermediate.dense", f, d),
            (prefix + "output.dense", d, f),
        ]
        for name, out, into in linear:
            shapes[name + ".weight"] = (out, into)
            shapes[name + ".bias"] = (out,)
        norms += [prefix + "attention.output.LayerNorm", prefix + "output.LayerNorm"]
    for name in norms:
        shapes[name + ".weight"] = shapes[name + ".bias"] = (d,)
    shapes["pooler.dense.weight"], shapes["pooler.dense.bias"] = (d, d), (d,)
    return shapes


def _dense(layer, name):
    return [
        (layer.kernel, [name + ".weight"], "linear"),
        (layer.bias, [name + ".bias"], "same"),
    ]


def _layer_norm(layer, name):
    return [
        (layer.gamma, [name + ".weight"], "same"),
        (layer.beta, [name + ".bias"], "same"),
    ]


def _canonical_name(name):
    """A checkpoint name as `_weight_map` spells it."""
    if name.startswith("bert."):
        name = name[len("bert.") :]
    if "LayerNorm." in name:
        name = name.replace("LayerNorm.gamma", "LayerNorm.weight")
        name = name.replace("LayerNorm.beta", "LayerNorm.bias")
    return name


class _TensorFiles:
    """Lazy access to the tensors of one or more safetensors files."""

    def __init__(self, files):
        from safetensors import safe_open

        self._handles = []
        for file in files:
            try:
                self._handles.append(safe_open(file, framework="numpy"))
            except Exception as error:  # SafetensorError, OSError, ...
                raise ValueError(
                    f"{os.path.basename(file)} is not a readable safetensors "
                    f"file ({type(error).__name__}: {error}); the checkpoint "
                    "is damaged or truncated."
                ) from None
        self.names = {}
        for handle in self._handles:
            for name in handle.keys():
                self.names[_canonical_name(name)] = (handle, name)

    def check_shapes(self, expected_shapes, config):
        """A ValueError for the first tensor missing or shaped unlike
        `expected_shapes` (read from the headers, nothing loaded)."""
        sizes = ", ".join(f"{field}={config[field]}" for field in REQUIRED_FIELDS)
        for name, expected in expected_shapes.items():
            if name in OPTIONAL_TENSORS and name not in self.names:
                continue
            if name not in self.names:
                raise ValueError(
                    f"The checkpoint has no tensor `{name}` (expected shape "
                    f"{expected} from config.json: {sizes}); it holds "
                    f"{len(self.names)} tensors, e.g. {sorted(self.names)[:3]}."
                )
            received = self.shape(name)
            if received != expected:
                raise ValueError(
                    f"The checkpoint's tensor `{name}` has shape {received}; "
                    f"expected {expected} from config.json ({sizes})."
                )

    def shape(self, name):
        handle, raw = self.names[name]
        return tuple(handle.get_slice(raw).get_shape())

    def get(self, name):
        handle, raw = self.names[name]
        try:
            return np.asarray(handle.get_tensor(raw), dtype="float32")
        except Exception as error:  # a header that overstates the data
            raise ValueError(
                f"The checkpoint's tensor `{name}` cannot be read "
                f"({type(error).__name__}: {error}); the weights file is damaged."
            ) from None


def _read_tensors(path):
    single = _member(path, WEIGHTS_FILE)
    index = _member(path, WEIGHTS_INDEX_FILE)
    if os.path.isfile(single):
        return _TensorFiles([single])
    if os.path.isfile(index):
        return _TensorFiles(_shard_files(path, index))
    present = sorted(os.listdir(path))
    if any(name.endswith((".bin", ".pt", ".pth", ".h5")) for name in present):
        raise FileNotFoundError(
            f"{path!r} has no {WEIGHTS_FILE}, only {present}. keras_attn reads "
            "safetensors without torch; convert the torch checkpoint once "
            "where torch is installed, e.g. `from safetensors.torch import "
            "save_file; save_file(torch.load('pytorch_model.bin'), "
            "'model.safetensors')`."
        )
    raise FileNotFoundError(
        f"No {WEIGHTS_FILE} (or {WEIGHTS_INDEX_FILE}) in {path!r}; found {present}."
    )


def _shard_files(path, index):
    """The shard files `model.safetensors.index.json` names, each checked to
    lie inside the folder."""
    weight_map = _read_json(index).get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise ValueError(
            f"{WEIGHTS_INDEX_FILE} must have a non-empty `weight_map` object of "
            f"tensor name -> shard file; received {weight_map!r:.80}."
        )
    files = []
    for name, shard in sorted(weight_map.items(), key=lambda item: str(item[1])):
        file = _member(path, shard, f"{WEIGHTS_INDEX_FILE} entry {name!r}")
        if not os.path.isfile(file):
            raise FileNotFoundError(
                f"{WEIGHTS_INDEX_FILE} entry {name!r} names the shard "
                f"{shard!r}, which is not in {path!r}."
            )
        if file not in files:
            files.append(file)
    return files


def _load_weights(backbone, tensors):
    """Assigns the (already shape-checked) tensors to the backbone."""
    for variable, names, layout in _weight_map(backbone):
        if names[0].startswith("pooler.") and names[0] not in tensors.names:
            warnings.warn(
                "The checkpoint has no pooler (`pooler.dense.*`); the "
                "backbone's `pooled_output` layer keeps its random "
                "initialization.",
                stacklevel=3,
            )
            continue
        parts = []
        for name in names:
            value = tensors.get(name)
            parts.append(value.T if layout == "linear" else value)
        variable.assign(np.concatenate(parts, axis=1 if layout == "linear" else 0))


# ------------------------------------------------------------------ tokenizer


def _read_vocabulary(path):
    file = _member(path, VOCABULARY_FILE)
    if not os.path.isfile(file):
        raise FileNotFoundError(f"No {VOCABULARY_FILE} in {path!r}.")
    with open(file, encoding="utf-8") as f:
        # One token per line, id = line number (as Hugging Face's load_vocab).
        return [line.rstrip("\n") for line in f]


def _check_special_tokens(vocabulary):
    missing = [t for t in SPECIAL_TOKENS if t not in set(vocabulary)]
    if missing:
        raise ValueError(
            f"The vocabulary lacks the special token(s) {missing}; BERT inputs "
            f"need {list(SPECIAL_TOKENS)}."
        )


def _tokenizer_options(path):
    """Lowercasing, accents and CJK splitting from the tokenizer files."""
    config_file = _member(path, TOKENIZER_CONFIG_FILE)
    if os.path.isfile(config_file):
        config = _read_json(config_file)
        return dict(
            lowercase=config.get("do_lower_case", True),
            strip_accents=config.get("strip_accents"),
            split_on_cjk=config.get("tokenize_chinese_chars", True),
        )
    tokenizer_file = _member(path, TOKENIZER_FILE)
    if os.path.isfile(tokenizer_file):
        normalizer = _read_json(tokenizer_file).get("normalizer") or {}
        if normalizer.get("type") == "BertNormalizer":
            return dict(
                lowercase=normalizer.get("lowercase", True),
                strip_accents=normalizer.get("strip_accents"),
                split_on_cjk=normalizer.get("handle_chinese_chars", True),
            )
    return dict(lowercase=True, strip_accents=None, split_on_cjk=True)


def _make_tokenizer(path, vocabulary):
    from keras_attn.models.bert.hf_word_piece_tokenizer import HFWordPieceTokenizer

    _check_special_tokens(vocabulary)
    return HFWordPieceTokenizer(vocabulary, **_tokenizer_options(path))
