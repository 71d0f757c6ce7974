"""One SavedModel loaded for serving: its signatures, status and metadata."""

import os
import re
import threading

import numpy as np

from keras_attn.serving.errors import ModelError
from keras_attn.serving.errors import RequestError
from keras_attn.serving.json_codec import TensorInfo
from keras_attn.serving.json_codec import is_batch_major

_SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
_VALID_NAME = re.compile(r"^[^/:\s]+$")


def _is_saved_model(path):
    return any(os.path.isfile(os.path.join(path, f)) for f in _SAVED_MODEL_FILES)


def resolve_model_path(path, model_name=None):
    """Find the SavedModel to serve, its model name and version.

    `path` is either a SavedModel directory or a TF Serving model base path
    whose numeric subfolders are versions (`NAME/1/saved_model.pb`); the
    highest version is served, as TF Serving does. The name defaults to the
    base path's folder name. A SavedModel directory whose own name is a
    number counts as that version of its parent folder; any other SavedModel
    directory is version 1.

    Args:
        path: a SavedModel directory or a model base path.
        model_name: the name to serve under (default: the folder name).

    Returns:
        `(saved_model_dir, model_name, version)`.

    Raises:
        FileNotFoundError: when `path` does not exist.
        ValueError: when it holds no SavedModel, or `model_name` is not a
            valid URL segment.

    Example:

    >>> import os, tempfile
    >>> from keras_attn.serving.served_model import resolve_model_path
    >>> base = os.path.join(tempfile.mkdtemp(), "dates")
    >>> for version in ("1", "2", "10"):
    ...     os.makedirs(os.path.join(base, version))
    ...     open(os.path.join(base, version, "saved_model.pb"), "wb").close()
    >>> directory, name, version = resolve_model_path(base)
    >>> os.path.basename(directory), name, version
    ('10', 'dates', 10)
    """
    path = os.path.abspath(os.fspath(path))
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"no model at {path!r}: expected a SavedModel directory or a model "
            "base path with numeric version folders (NAME/1/saved_model.pb)"
        )
    folder = os.path.basename(path)
    if _is_saved_model(path):
        if folder.isdigit():
            directory, name, version = (
                path,
                os.path.basename(os.path.dirname(path)),
                int(folder),
            )
        else:
            directory, name, version = path, folder, 1
    else:
        versions = [
            int(entry)
            for entry in os.listdir(path)
            if entry.isdigit() and _is_saved_model(os.path.join(path, entry))
        ]
        if not versions:
            raise ValueError(
                f"{path!r} is neither a SavedModel directory (it has no "
                "saved_model.pb) nor a model base path with numeric version "
                f"folders holding one; it contains {sorted(os.listdir(path))[:10]}"
            )
        version = max(versions)
        directory = os.path.join(path, str(version))
        if not os.path.isdir(directory):  # e.g. "007" names version 7
            directory = next(
                os.path.join(path, e)
                for e in os.listdir(path)
                if e.isdigit() and int(e) == version
            )
        name = folder
    name = model_name if model_name is not None else name
    if not isinstance(name, str) or not _VALID_NAME.match(name):
        raise ValueError(
            "model_name must be a non-empty string without '/', ':' or spaces; "
            f"received {name!r}"
        )
    return directory, name, version


def _tensor_info(spec):
    rank = spec.shape.rank
    shape = None if rank is None else tuple(spec.shape.as_list())
    return TensorInfo(spec.dtype.name, shape)


def _flatten_outputs(structure):
    """A signature's outputs as a dict (SavedModel signatures return dicts)."""
    return dict(structure) if isinstance(structure, dict) else {"output_0": structure}


def first_meaningful_line(error):
    """The line of a TensorFlow error that says what failed, not where."""
    boilerplate = ("Graph execution error", "Detected at node", "<stack traces")
    for line in str(error).splitlines():
        line = line.strip()
        if line and not line.startswith(boilerplate) and not line.startswith("[["):
            return line[:500]
    return type(error).__name__


def load_saved_model(path):
    """`tf.saved_model.load(path)`, with TF Text's ops registered (keras-hub
    tokenizers export them) and a ValueError naming the folder when the
    SavedModel is damaged (a corrupt `saved_model.pb`, truncated
    variables), instead of a protobuf or TensorFlow traceback."""
    import tensorflow as tf

    try:  # Registers the TF Text ops that keras-hub tokenizers export.
        import tensorflow_text  # noqa: F401
    except ImportError:
        pass
    try:
        return tf.saved_model.load(path)
    except Exception as error:  # DecodeError, DataLossError, OpError, ...
        raise ValueError(
            f"{path} is not a readable SavedModel, it may be damaged or "
            f"truncated ({type(error).__name__}: {first_meaningful_line(error)}); "
            "export it again."
        ) from None


class ServedModel:
    """A SavedModel loaded with `tf.saved_model.load`, ready to serve.

    It serves what the SavedModel holds, not the Python model: each
    signature is called through the loaded concrete function, and the
    metadata is read from the SignatureDefs in `saved_model.pb`, in TF
    Serving's JSON form.

    Args:
        path: a SavedModel directory or a model base path with numeric
            version folders (see `resolve_model_path`).
        model_name: the name to serve under (default: the folder name).

    Attributes:
        name: the model name.
        version: the version served.
        signatures: dict of signature name -> `(inputs, outputs)`, each a
            dict of tensor name -> `TensorInfo`.

    Example:

    >>> import os, tempfile
    >>> import numpy as np
    >>> import tensorflow as tf
    >>> from keras_attn.serving import ServedModel
    >>> spec = tf.TensorSpec([None], tf.string, name="text")
    >>> class Shout(tf.Module):
    ...     @tf.function(input_signature=[spec])
    ...     def upper(self, text):
    ...         return {"upper": tf.strings.upper(text)}
    >>> module = Shout()
    >>> path = os.path.join(tempfile.mkdtemp(), "shout", "1")
    >>> tf.saved_model.save(module, path, signatures={"serving_default": module.upper})
    >>> model = ServedModel(os.path.dirname(path))
    >>> model.name, model.version
    ('shout', 1)
    >>> model.run("serving_default", {"text": np.array([b"hi"], dtype=object)})
    {'upper': array([b'HI'], dtype=object)}
    """

    def __init__(self, path, model_name=None):
        self.path, self.name, self.version = resolve_model_path(path, model_name)
        self._loaded = load_saved_model(self.path)
        self._functions = dict(self._loaded.signatures)
        if not self._functions:
            raise ValueError(
                f"the SavedModel at {self.path!r} has no serving signatures; "
                "export it with at least one (e.g. serving_default)"
            )
        self.signatures = {}
        for name, function in self._functions.items():
            _, kwargs = function.structured_input_signature
            inputs = {k: _tensor_info(spec) for k, spec in kwargs.items()}
            outputs = {
                k: _tensor_info(spec)
                for k, spec in _flatten_outputs(function.structured_outputs).items()
            }
            self.signatures[name] = (inputs, outputs)
        self._signature_defs = self._read_signature_defs()
        self._lock = threading.Lock()
        self.calls = 0
        self.rows = 0

    def _read_signature_defs(self):
        from google.protobuf import json_format
        from google.protobuf import text_format
        from tensorflow.core.protobuf import saved_model_pb2

        saved_model = saved_model_pb2.SavedModel()
        binary = os.path.join(self.path, "saved_model.pb")
        if os.path.isfile(binary):
            with open(binary, "rb") as f:
                saved_model.ParseFromString(f.read())
        else:
            with open(os.path.join(self.path, "saved_model.pbtxt")) as f:
                text_format.Parse(f.read(), saved_model)
        graphs = [g for g in saved_model.meta_graphs if "serve" in g.meta_info_def.tags]
        graph = (graphs or list(saved_model.meta_graphs))[0]

        def to_dict(message):
            # TF Serving prints fields at their default values too; the
            # option has a new name since protobuf 5.26.
            try:
                return json_format.MessageToDict(
                    message,
                    preserving_proto_field_name=True,
                    always_print_fields_with_no_presence=True,
                )
            except TypeError:
                return json_format.MessageToDict(
                    message,
                    preserving_proto_field_name=True,
                    including_default_value_fields=True,
                )

        return {
            name: to_dict(signature)
            for name, signature in sorted(graph.signature_def.items())
        }

    def is_batchable(self, signature_name):
        """Whether a signature's outputs can be split back into requests.

        True when every output is batch-major (first dimension unknown), so
        the rows of a concatenated call can be handed back request by
        request. Which inputs are concatenated is decided per request (see
        `json_codec.PredictRequest`); the others must be equal for requests
        to share a call.

        Args:
            signature_name: a key of `signatures`.

        Returns:
            bool.
        """
        _, outputs = self.signatures[signature_name]
        return bool(outputs) and all(is_batch_major(o) for o in outputs.values())

    def run(self, signature_name, inputs):
        """Call one signature of the SavedModel.

        Thread-safe; the server calls it from worker threads.

        Args:
            signature_name: a key of `signatures`.
            inputs: dict of input name -> NumPy array (already checked).

        Returns:
            dict of output name -> NumPy array.

        Raises:
            RequestError: when the SavedModel's own input checks fail
                (`InvalidArgumentError`, a 400 as in TensorFlow Serving).
            ModelError: when the SavedModel raises otherwise.
        """
        import tensorflow as tf

        specs = self.signatures[signature_name][0]
        tensors = {
            name: tf.constant(value, dtype=specs[name].dtype)
            for name, value in inputs.items()
        }
        with self._lock:
            self.calls += 1
            self.rows += max(
                (np.shape(v)[0] for v in inputs.values() if np.ndim(v)), default=1
            )
        try:
            outputs = self._functions[signature_name](**tensors)
        except tf.errors.InvalidArgumentError as error:
            # The graph's own input checks (tf.debugging asserts): the
            # client's fault, a 400, as TensorFlow Serving answers them.
            raise RequestError(
                f"model {self.name!r} signature {signature_name!r} rejected the "
                f"input: {first_meaningful_line(error)}"
            ) from None
        except Exception as error:
            raise ModelError(
                f"model {self.name!r} signature {signature_name!r} failed: "
                f"{type(error).__name__}: {first_meaningful_line(error)}"
            ) from error
        return {k: v.numpy() for k, v in _flatten_outputs(outputs).items()}

    def status(self):
        """The model status in TF Serving's `GetModelStatusResponse` JSON."""
        return {
            "model_version_status": [
                {
                    "version": str(self.version),
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
            ]
        }

    def metadata(self):
        """The model metadata in TF Serving's `GetModelMetadataResponse` JSON.

        `metadata.signature_def.signature_def` maps each signature name to
        its SignatureDef: `inputs` and `outputs` (each with `name`, `dtype`
        such as `DT_STRING`, and `tensor_shape` with `dim` sizes as strings,
        -1 for unknown) and `method_name`.
        """
        return {
            "model_spec": {
                "name": self.name,
                "signature_name": "",
                "version": str(self.version),
            },
            "metadata": {
                "signature_def": {
                    "signature_def": self._signature_defs,
                }
            },
        }
