"""BertBackbone <-> keras_hub BertBackbone, GPTBackbone <-> keras_hub GPT2Backbone.

The reference is keras-hub's own forward pass on small, randomly initialized
backbones built here. Weights are redrawn larger than the default
initialization (N(0, 0.3²)) so that every layer, the activation included,
moves the outputs: a transposed or misplaced weight fails the comparison.
"""

import keras
import keras_hub
import numpy as np
import pytest

from keras_attn.models.bert import BertBackbone
from keras_attn.models.gpt import GPTBackbone
from keras_attn.models.keras_hub_conversion import from_keras_hub
from keras_attn.models.keras_hub_conversion import to_keras_hub
from tests.test_case import assert_close
from tests.test_case import to_numpy

# The sizes of test_hf_checkpoint's tiny checkpoints: under JAX, eager ops
# compile once per shape, and shared shapes compile once for both files.
SMALL = dict(
    vocabulary_size=12,
    num_layers=2,
    num_heads=2,
    hidden_dim=8,
    intermediate_dim=16,
    max_sequence_length=16,
)
TOKENS = np.array(
    [[2, 7, 4, 8, 11, 3, 9, 10, 3, 0], [2, 6, 5, 3, 0, 0, 0, 0, 0, 0]], "int32"
)
MASK = (TOKENS != 0).astype("int32")
SEGMENTS = np.array([[0, 0, 0, 0, 0, 0, 1, 1, 1, 0], [0] * 10], "int32")
REAL = MASK.astype(bool)


def randomize(model, seed=0):
    rng = np.random.RandomState(seed)
    for weight in model.weights:
        value = rng.normal(0, 0.3, weight.shape)
        if weight.path.endswith("gamma"):
            value += 1.0
        weight.assign(value.astype("float32"))
    return model


def bert_inputs():
    return {"token_ids": TOKENS, "segment_ids": SEGMENTS, "padding_mask": MASK}


def gpt_inputs():
    return {"token_ids": TOKENS, "padding_mask": MASK}


def assert_same_bert_outputs(ours, hub):
    got, expected = ours(bert_inputs()), hub(bert_inputs())
    # Padded positions are not meaningful on either side (keras-hub lets
    # padded queries attend); the real ones must agree.
    assert_close(
        to_numpy(got["sequence_output"])[REAL],
        to_numpy(expected["sequence_output"])[REAL],
    )
    assert_close(got["pooled_output"], expected["pooled_output"])


def assert_same_gpt_outputs(ours, hub):
    got, expected = ours(gpt_inputs()), hub(gpt_inputs())
    assert_close(to_numpy(got)[REAL], to_numpy(expected)[REAL])


def test_bert_from_keras_hub():
    hub = randomize(keras_hub.models.BertBackbone(**SMALL, num_segments=3))
    ours = from_keras_hub(hub)
    assert isinstance(ours, BertBackbone)
    assert (ours.num_segments, ours.dropout) == (3, hub.dropout)
    assert ours.count_params() == hub.count_params()
    assert_same_bert_outputs(ours, hub)


def test_bert_to_keras_hub_and_back():
    ours = randomize(BertBackbone(**SMALL), seed=1)
    hub = to_keras_hub(ours)
    assert isinstance(hub, keras_hub.models.BertBackbone)
    assert_same_bert_outputs(ours, hub)
    back = from_keras_hub(hub)
    for a, b in zip(ours.weights, back.weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=a.path)


def test_gpt2_from_keras_hub():
    hub = randomize(keras_hub.models.GPT2Backbone(**SMALL, dropout=0.0))
    ours = from_keras_hub(hub)
    assert isinstance(ours, GPTBackbone)
    assert ours.count_params() == hub.count_params()
    assert_same_gpt_outputs(ours, hub)


def test_gpt2_to_keras_hub_and_back():
    ours = randomize(GPTBackbone(**SMALL), seed=2)
    hub = to_keras_hub(ours)
    assert isinstance(hub, keras_hub.models.GPT2Backbone)
    assert_same_gpt_outputs(ours, hub)
    back = from_keras_hub(hub)
    for a, b in zip(ours.weights, back.weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=a.path)


def test_dtype_policy_is_kept():
    hub = keras_hub.models.GPT2Backbone(**SMALL, dtype="mixed_bfloat16")
    ours = from_keras_hub(hub)
    assert ours.token_embedding.dtype_policy.name == "mixed_bfloat16"
    assert keras.backend.standardize_dtype(ours(gpt_inputs()).dtype) == "bfloat16"
    back = to_keras_hub(ours)
    assert back.token_embedding.dtype_policy.name == "mixed_bfloat16"


def test_what_keras_hub_cannot_express():
    exact_gelu = BertBackbone(**SMALL, activation="gelu")
    with pytest.raises(ValueError, match="tanh-approximated GELU; this backbone's"):
        to_keras_hub(exact_gelu)
    with pytest.raises(ValueError, match="epsilon 1e-05; this backbone has"):
        to_keras_hub(GPTBackbone(**SMALL, layer_norm_epsilon=1e-6))
    with pytest.raises(TypeError, match="received Sequential"):
        to_keras_hub(keras.Sequential())
    with pytest.raises(TypeError, match="received Sequential"):
        from_keras_hub(keras.Sequential())
