"""TensorFlow Serving's JSON encoding of tensors, without TensorFlow.

A predict request carries its tensors either in row format
(`{"instances": [...]}`, one entry per batch row) or in columnar format
(`{"inputs": ...}`, one nested list per input). This module turns either
into NumPy arrays checked against a signature's input specs, and turns the
model's output arrays back into the matching response (`{"predictions":
...}` or `{"outputs": ...}`). Every problem with a request raises
`RequestError`, whose message says what was received and what was expected.

Strings travel as JSON strings (UTF-8) or, for binary data, as
`{"b64": "<base64>"}`; outputs whose name ends in `_bytes`, and strings that
are not valid UTF-8, come back as `{"b64": ...}` too, as in TF Serving.
"""

import base64
import binascii
import collections
import math

import numpy as np

from keras_attn.serving.errors import RequestError

# How deep nested lists may go when an input's rank is unknown.
MAX_UNKNOWN_RANK = 32

TensorInfo = collections.namedtuple("TensorInfo", ["dtype", "shape"])
TensorInfo.__doc__ = """Dtype and shape of one signature input or output.

`dtype` is a TensorFlow dtype name (`"string"`, `"int32"`, `"float32"`, ...);
`shape` is a tuple with `None` for unknown sizes, or `None` when even the
rank is unknown.
"""

PredictRequest = collections.namedtuple(
    "PredictRequest",
    ["signature_name", "inputs", "rows", "row_format", "batch_inputs"],
)
PredictRequest.__doc__ = """A parsed `:predict` request.

`inputs` maps input names to NumPy arrays; `row_format` is True for
`"instances"` requests. `batch_inputs` names the inputs whose first axis is
the batch: those whose spec is batch-major, and in row format also those of
unknown rank (stacked from the instances). `rows` is their shared size, or
None when the request cannot be batched with others (no batch input, sizes
that disagree, or a columnar non-scalar input of unknown rank, whose first
axis may or may not be the batch).
"""


def _describe(value, limit=60):
    """A short description of a JSON value for error messages."""
    if isinstance(value, bool):
        kind = "boolean"
    elif isinstance(value, (int, float)):
        kind = "number"
    elif isinstance(value, str):
        kind = "string"
    elif isinstance(value, list):
        kind = "list"
    elif isinstance(value, dict):
        kind = "object"
    elif value is None:
        return "null"
    else:
        kind = type(value).__name__
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"the {kind} {text}"


def _format_shape(shape):
    if shape is None:
        return "(unknown rank)"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def is_batch_major(info):
    """Whether a tensor's first axis is a free batch axis.

    Args:
        info: a `TensorInfo`.

    Returns:
        True when the shape has a known rank of at least 1 and an unknown
        first dimension, so requests can be concatenated along it.

    Example:

    >>> from keras_attn.serving.json_codec import TensorInfo, is_batch_major
    >>> is_batch_major(TensorInfo("string", (None,)))
    True
    >>> is_batch_major(TensorInfo("int32", ()))
    False
    """
    return bool(info.shape) and info.shape[0] is None


def _nested_shape(value, rank, what):
    """Nested lists -> (shape, flat leaves), checking they are rectangular.

    `rank` None descends as deep as the lists go (at most MAX_UNKNOWN_RANK).
    """
    shape = []
    level = [value]
    while rank is None or len(shape) < rank:
        if not level:  # A zero-sized axis: nothing below it to inspect.
            shape.extend([0] * ((rank or len(shape)) - len(shape)))
            break
        lists = [isinstance(v, list) for v in level]
        if not any(lists):
            if rank is None:
                break
            raise RequestError(
                f"{what}: expected a tensor of rank {rank} (lists nested {rank} "
                f"deep); received {len(shape)} level(s) of lists, then "
                f"{_describe(level[0])}"
            )
        if not all(lists):
            odd = level[lists.index(False)]
            raise RequestError(
                f"{what}: lists and scalars are mixed at depth {len(shape)} "
                f"(received {_describe(odd)} beside lists); tensors must be "
                "rectangular"
            )
        lengths = sorted({len(v) for v in level})
        if len(lengths) > 1:
            raise RequestError(
                f"{what}: ragged lists at depth {len(shape)} (lengths "
                f"{lengths}); tensors must be rectangular"
            )
        shape.append(lengths[0])
        level = [item for v in level for item in v]
        if rank is None and len(shape) > MAX_UNKNOWN_RANK:
            raise RequestError(
                f"{what}: lists nested more than {MAX_UNKNOWN_RANK} deep"
            )
    for leaf in level:
        if isinstance(leaf, list):
            raise RequestError(
                f"{what}: expected a tensor of rank {rank}; received lists "
                f"nested deeper than that ({_describe(leaf)} at depth {rank})"
            )
    return tuple(shape), level


def _decode_string(leaf, what, max_string_length):
    if isinstance(leaf, str):
        data = leaf.encode("utf-8", "surrogatepass")
    elif isinstance(leaf, dict) and set(leaf) == {"b64"}:
        if not isinstance(leaf["b64"], str):
            raise RequestError(
                f'{what}: "b64" must hold a base64 string; received '
                f"{_describe(leaf['b64'])}"
            )
        try:
            data = base64.b64decode(leaf["b64"], validate=True)
        except (binascii.Error, ValueError) as error:
            raise RequestError(f'{what}: "b64" is not valid base64 ({error})') from None
    else:
        raise RequestError(
            f'{what}: expected a string or {{"b64": ...}}; received {_describe(leaf)}'
        )
    if max_string_length is not None and len(data) > max_string_length:
        raise RequestError(
            f"{what}: a string of {len(data)} bytes is longer than "
            f"max_string_length={max_string_length}"
        )
    return data


def _decode_number(leaf, dtype, what):
    if dtype == np.bool_:
        if not isinstance(leaf, bool):
            raise RequestError(
                f"{what}: expected true or false; received {_describe(leaf)}"
            )
        return leaf
    if isinstance(leaf, bool) or not isinstance(leaf, (int, float)):
        raise RequestError(
            f"{what}: expected a number ({np.dtype(dtype).name}); received "
            f"{_describe(leaf)}"
        )
    if np.issubdtype(dtype, np.integer):
        if isinstance(leaf, float):
            if not (math.isfinite(leaf) and leaf.is_integer()):
                raise RequestError(
                    f"{what}: expected an integer ({np.dtype(dtype).name}); "
                    f"received {_describe(leaf)}"
                )
            leaf = int(leaf)
        limits = np.iinfo(dtype)
        if not limits.min <= leaf <= limits.max:
            raise RequestError(
                f"{what}: {leaf} is out of range for {np.dtype(dtype).name} "
                f"([{limits.min}, {limits.max}])"
            )
    elif isinstance(leaf, int):
        try:
            leaf = float(leaf)
        except OverflowError:
            raise RequestError(
                f"{what}: the integer {_describe(leaf)[len('the number ') :]} is "
                f"too large for {np.dtype(dtype).name}"
            ) from None
    return leaf


def decode_tensor(value, info, what, max_string_length=None):
    """Convert a JSON value into a NumPy array matching a signature input.

    Args:
        value: the decoded JSON value: a scalar or nested lists.
        info: the input's `TensorInfo`.
        what: how error messages name the value (e.g. `"input 'dates'"`).
        max_string_length: longest string accepted, in UTF-8 bytes.

    Returns:
        A NumPy array: `object` dtype holding `bytes` for strings, the
        input's dtype otherwise.

    Raises:
        RequestError: for a wrong type, a ragged or wrongly nested list, a
            shape that contradicts the spec, or an over-long string.

    Example:

    >>> from keras_attn.serving.json_codec import TensorInfo, decode_tensor
    >>> decode_tensor([[1, 2], [3, 4]], TensorInfo("int32", (None, 2)), "x")
    array([[1, 2],
           [3, 4]], dtype=int32)
    >>> decode_tensor(["hi", {"b64": "aGk="}], TensorInfo("string", (None,)), "s")
    array([b'hi', b'hi'], dtype=object)
    """
    rank = None if info.shape is None else len(info.shape)
    shape, leaves = _nested_shape(value, rank, what)
    if info.shape is not None:
        for want, got in zip(info.shape, shape):
            if want is not None and want != got:
                raise RequestError(
                    f"{what}: received a tensor of shape {_format_shape(shape)}; "
                    f"the signature expects {_format_shape(info.shape)}"
                )

    def where(i):
        if not shape:
            return what
        return f"{what} at index {tuple(int(j) for j in np.unravel_index(i, shape))}"

    if info.dtype == "string":
        data = [
            _decode_string(leaf, where(i), max_string_length)
            for i, leaf in enumerate(leaves)
        ]
        array = np.empty(len(data), dtype=object)
        array[:] = data
        return array.reshape(shape)
    try:
        dtype = np.dtype(info.dtype)
    except TypeError:
        dtype = None
    if dtype is None or not (dtype == np.bool_ or np.issubdtype(dtype, np.number)):
        raise RequestError(
            f"{what}: inputs of dtype {info.dtype} are not supported by the JSON "
            "API (strings, booleans, integers and floats are)"
        )
    if np.issubdtype(dtype, np.complexfloating):
        raise RequestError(f"{what}: complex inputs are not supported by the JSON API")
    values = [_decode_number(leaf, dtype, where(i)) for i, leaf in enumerate(leaves)]
    return np.asarray(values, dtype=dtype).reshape(shape)


def _keyed_by_name(items):
    """Whether the items are objects keyed by input name (not `{"b64": ...}`).

    A signature with one input takes its values bare or keyed by its name.
    """
    return all(isinstance(v, dict) and set(v) != {"b64"} for v in items)


def _parse_instances(instances, inputs, max_string_length):
    if not isinstance(instances, list):
        raise RequestError(
            f'"instances" must be a list (one entry per row); received '
            f"{_describe(instances)}"
        )
    if not instances:
        raise RequestError('"instances" is empty; expected at least one row')
    names = sorted(inputs)
    if len(names) == 1 and not _keyed_by_name(instances):
        columns = {names[0]: instances}
    else:
        for i, instance in enumerate(instances):
            if not isinstance(instance, dict):
                raise RequestError(
                    f"instance {i}: the signature has inputs {names}, so each "
                    "instance must be an object keyed by input name; received "
                    f"{_describe(instance)}"
                )
            if set(instance) != set(names):
                missing = sorted(set(names) - set(instance))
                extra = sorted(set(instance) - set(names))
                raise RequestError(
                    f"instance {i}: expected the keys {names}; missing "
                    f"{missing}, unexpected {extra}"
                )
        columns = {n: [instance[n] for instance in instances] for n in names}

    arrays = {}
    for name in names:
        info, column = inputs[name], columns[name]
        what = f"input {name!r}"
        if info.shape == ():
            # A scalar input (e.g. max_new_tokens) cannot have one value per
            # row; it is accepted when every instance gives the same value.
            if any(v != column[0] for v in column[1:]):
                raise RequestError(
                    f"{what} is a scalar, so every instance must give the same "
                    f"value; received {len(set(map(repr, column)))} different "
                    "values (send different scalars as separate requests, or use "
                    '"inputs")'
                )
            arrays[name] = decode_tensor(column[0], info, what, max_string_length)
        else:
            arrays[name] = decode_tensor(column, info, what, max_string_length)
    return arrays


def _parse_columns(columns, inputs, max_string_length):
    names = sorted(inputs)
    if len(names) == 1 and not _keyed_by_name([columns]):
        columns = {names[0]: columns}
    elif not isinstance(columns, dict):
        raise RequestError(
            f'the signature has inputs {names}, so "inputs" must be an object '
            f"keyed by input name; received {_describe(columns)}"
        )
    if set(columns) != set(names):
        missing = sorted(set(names) - set(columns))
        extra = sorted(set(columns) - set(names))
        raise RequestError(
            f'"inputs": expected the keys {names}; missing {missing}, '
            f"unexpected {extra}"
        )
    return {
        name: decode_tensor(
            columns[name], inputs[name], f"input {name!r}", max_string_length
        )
        for name in names
    }


def parse_predict_request(body, signatures, max_rows=None, max_string_length=None):
    """Parse and check the JSON body of a `:predict` request.

    Args:
        body: the decoded JSON body.
        signatures: dict of signature name -> dict of input name ->
            `TensorInfo`.
        max_rows: most batch rows accepted in one request.
        max_string_length: longest string accepted, in UTF-8 bytes.

    Returns:
        A `PredictRequest`.

    Raises:
        RequestError: for a body that is not an object, a missing or doubled
            `instances`/`inputs`, an unknown signature, any input problem
            `decode_tensor` finds, or more rows than `max_rows`.

    Example:

    >>> from keras_attn.serving.json_codec import TensorInfo, parse_predict_request
    >>> signatures = {"serving_default": {"x": TensorInfo("float32", (None, 2))}}
    >>> request = parse_predict_request({"instances": [[1, 2], [3, 4]]}, signatures)
    >>> request.rows, request.inputs["x"].shape, request.row_format
    (2, (2, 2), True)
    """
    if not isinstance(body, dict):
        raise RequestError(
            'expected a JSON object with "instances" or "inputs"; received '
            f"{_describe(body)}"
        )
    signature_name = body.get("signature_name", "serving_default")
    if not isinstance(signature_name, str):
        raise RequestError(
            f'"signature_name" must be a string; received {_describe(signature_name)}'
        )
    if signature_name not in signatures:
        raise RequestError(
            f"Serving signature name: {signature_name!r} not found in signature "
            f"def; this model has {sorted(signatures)}"
        )
    inputs = signatures[signature_name]
    if ("instances" in body) == ("inputs" in body):
        raise RequestError(
            'the request must have exactly one of "instances" (row format) and '
            '"inputs" (columnar format); received the keys '
            f"{sorted(body)}"
        )
    if not inputs:
        raise RequestError(f"signature {signature_name!r} takes no inputs")
    row_format = "instances" in body
    if row_format:
        arrays = _parse_instances(body["instances"], inputs, max_string_length)
    else:
        arrays = _parse_columns(body["inputs"], inputs, max_string_length)

    batch_inputs, ambiguous = [], False
    for name, info in sorted(inputs.items()):
        if is_batch_major(info):
            batch_inputs.append(name)
        elif info.shape is None and arrays[name].ndim > 0:
            if row_format:
                batch_inputs.append(name)
            else:
                ambiguous = True
    sizes = {name: arrays[name].shape[0] for name in batch_inputs}
    rows = None
    if sizes and len(set(sizes.values())) == 1:
        rows = next(iter(sizes.values()))
        if rows == 0:
            raise RequestError(
                f"the inputs have no rows (received 0 along the batch axis of "
                f"{sorted(sizes)}); expected at least one"
            )
    largest = max(sizes.values(), default=0)
    if max_rows is not None and largest > max_rows:
        raise RequestError(
            f"too many instances: received {largest} rows; this server takes "
            f"at most max_batch_size={max_rows} per request"
        )
    if ambiguous:
        rows = None
    return PredictRequest(signature_name, arrays, rows, row_format, tuple(batch_inputs))


def _encode_strings(values, binary):
    if isinstance(values, list):
        return [_encode_strings(v, binary) for v in values]
    if not binary:
        try:
            return values.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(values).decode("ascii")}


def encode_tensor(array, name=""):
    """Convert an output array into its JSON value (nested lists).

    Args:
        array: a NumPy array (strings as `bytes` in an `object` array).
        name: the output's name; names ending in `_bytes` mark binary
            strings, which are encoded as `{"b64": ...}`.

    Returns:
        Nested Python lists (or a scalar) ready for `json.dumps`.

    Example:

    >>> import numpy as np
    >>> from keras_attn.serving.json_codec import encode_tensor
    >>> encode_tensor(np.array([b"1981-09-30", b"\\xff"], dtype=object))
    ['1981-09-30', {'b64': '/w=='}]
    """
    array = np.asarray(array)
    if array.dtype == object or array.dtype.kind == "S":
        return _encode_strings(array.tolist(), name.endswith("_bytes"))
    return array.tolist()


def format_predict_response(outputs, row_format):
    """Build the JSON response of a `:predict` call from the output arrays.

    Args:
        outputs: dict of output name -> NumPy array.
        row_format: True for an `instances` request (answered with
            `predictions`, one entry per row), False for `inputs` (answered
            with `outputs`).

    Returns:
        A dict ready for `json.dumps`. With one output its name is left
        out, as in TF Serving; with several, rows are objects keyed by
        output name (row format) or the outputs an object (columnar).

    Raises:
        RequestError: in row format, when the outputs do not share one batch
            size (the columnar format can answer those).

    Example:

    >>> import numpy as np
    >>> from keras_attn.serving.json_codec import format_predict_response
    >>> outputs = {"label": np.array([b"pos", b"neg"], dtype=object),
    ...            "score": np.array([0.75, 0.5])}
    >>> format_predict_response(outputs, row_format=True)
    {'predictions': [{'label': 'pos', 'score': 0.75}, {'label': 'neg', 'score': 0.5}]}
    >>> format_predict_response(outputs, row_format=False)
    {'outputs': {'label': ['pos', 'neg'], 'score': [0.75, 0.5]}}
    """
    names = sorted(outputs)
    if not row_format:
        if len(names) == 1:
            return {"outputs": encode_tensor(outputs[names[0]], names[0])}
        return {"outputs": {n: encode_tensor(outputs[n], n) for n in names}}
    sizes = {n: (np.shape(outputs[n]) or (None,))[0] for n in names}
    if len(set(sizes.values())) != 1 or None in sizes.values():
        raise RequestError(
            "the outputs do not share one batch size (received "
            + ", ".join(f"{n}: {np.shape(outputs[n])}" for n in names)
            + "), so they cannot be given per instance; use the columnar "
            '"inputs" format'
        )
    if len(names) == 1:
        return {"predictions": encode_tensor(outputs[names[0]], names[0])}
    columns = {n: encode_tensor(outputs[n], n) for n in names}
    rows = sizes[names[0]]
    return {"predictions": [{n: columns[n][i] for n in names} for i in range(rows)]}
