"""TF Serving's JSON encoding against NumPy's and base64's own conversions."""

import base64

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from keras_attn.serving import RequestError
from keras_attn.serving.json_codec import TensorInfo
from keras_attn.serving.json_codec import decode_tensor
from keras_attn.serving.json_codec import encode_tensor
from keras_attn.serving.json_codec import format_predict_response
from keras_attn.serving.json_codec import parse_predict_request

SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


@settings(max_examples=40, deadline=None)
@given(
    array=st.one_of(
        hnp.arrays("int32", SHAPES),
        hnp.arrays("float32", SHAPES, elements=st.floats(-1e6, 1e6, width=32)),
        hnp.arrays("bool", SHAPES),
    )
)
def test_numbers_round_trip_through_json_lists(array):
    info = TensorInfo(array.dtype.name, (None,) + array.shape[1:])
    decoded = decode_tensor(array.tolist(), info, "x")
    assert decoded.dtype == array.dtype
    np.testing.assert_array_equal(decoded, array)
    assert encode_tensor(decoded) == array.tolist()


@settings(max_examples=25, deadline=None)
@given(texts=st.lists(st.text(max_size=8), min_size=1, max_size=5))
def test_strings_travel_as_utf8_or_base64(texts):
    info = TensorInfo("string", (None,))
    expected = [t.encode("utf-8", "surrogatepass") for t in texts]
    assert decode_tensor(texts, info, "s").tolist() == expected
    as_b64 = [{"b64": base64.b64encode(b).decode()} for b in expected]
    assert decode_tensor(as_b64, info, "s").tolist() == expected
    array = np.array(expected + [b"\x80"], dtype=object)
    encoded = encode_tensor(array)
    utf8 = [t.decode("utf-8", "strict") for t in expected if _is_utf8(t)]
    assert [e for e in encoded if isinstance(e, str)] == utf8
    assert encoded[-1] == {"b64": "gA=="}
    # Outputs named *_bytes are always base64, as in TF Serving.
    assert encode_tensor(array, "image_bytes") == [
        {"b64": base64.b64encode(b).decode()} for b in array.tolist()
    ]


def _is_utf8(data):
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def test_row_and_columnar_requests_give_the_same_tensors():
    signatures = {
        "generate": {
            "prompt": TensorInfo("string", (None,)),
            "max_new_tokens": TensorInfo("int32", ()),
            "scale": TensorInfo("float32", (None, 2)),
        }
    }
    rows = parse_predict_request(
        {
            "signature_name": "generate",
            "instances": [
                {"prompt": "a", "max_new_tokens": 4, "scale": [1, 2]},
                {"prompt": "b", "max_new_tokens": 4, "scale": [3, 4.5]},
            ],
        },
        signatures,
    )
    columns = parse_predict_request(
        {
            "signature_name": "generate",
            "inputs": {
                "prompt": ["a", "b"],
                "max_new_tokens": 4,
                "scale": [[1, 2], [3, 4.5]],
            },
        },
        signatures,
    )
    assert (rows.rows, rows.row_format) == (2, True)
    assert (columns.rows, columns.row_format) == (2, False)
    for name, expected in {
        "prompt": np.array([b"a", b"b"], object),
        "max_new_tokens": np.array(4, "int32"),
        "scale": np.array([[1, 2], [3, 4.5]], "float32"),
    }.items():
        for parsed in (rows, columns):
            assert parsed.inputs[name].dtype == expected.dtype
            np.testing.assert_array_equal(parsed.inputs[name], expected)


@pytest.mark.parametrize(
    "value, info, words",
    [
        (["a", ["b"]], TensorInfo("string", (None,)), "deeper"),
        ([[1], [2, 3]], TensorInfo("int32", (None, None)), "ragged"),
        ([[1], 2], TensorInfo("int32", (None, None)), "mixed"),
        ([1.0, None], TensorInfo("float32", (None,)), "received null"),
        ([300], TensorInfo("uint8", (None,)), "out of range"),
        (["é" * 3], TensorInfo("string", (None,)), "6 bytes is longer"),
        ([1 + 0j], TensorInfo("complex64", (None,)), "not supported"),
        ([10**400], TensorInfo("float32", (None,)), "too large for float32"),
    ],
)
def test_bad_values_say_what_was_received(value, info, words):
    with pytest.raises(RequestError, match=words) as raised:
        decode_tensor(value, info, "input 'x'", max_string_length=5)
    assert raised.value.status == 400
    assert str(raised.value).startswith("input 'x'")


def test_row_format_needs_outputs_with_one_batch_size():
    outputs = {"ids": np.zeros((2, 3)), "count": np.array(7)}
    assert format_predict_response(outputs, row_format=False) == {
        "outputs": {"count": 7, "ids": [[0.0] * 3] * 2}
    }
    with pytest.raises(RequestError, match='use the columnar "inputs"'):
        format_predict_response(outputs, row_format=True)
