"""No silent wrong answers: bad inputs at the public entry points raise.

Each case was silent (or crashed inside the backend) before issue 11:
negative ids read a row from the end of the embedding table on TensorFlow
CPU, ids past the end gave NaN on JAX, float ids were truncated, int32
attention inputs gave all-zero attention, a NaN temperature made GPT emit
padding. The same error is expected on every backend.
"""

import math

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_attn import samplers
from keras_attn.layers import MultiHeadAttention
from keras_attn.layers import MultiHeadSelfAttention
from keras_attn.layers import TokenAndPositionEmbedding
from keras_attn.models import GPTBackbone
from keras_attn.models import GPTCausalLM
from keras_attn.models import RNNSeq2Seq
from keras_attn.models import TransformerSeq2Seq
from keras_attn.models.bert import BertBackbone
from keras_attn.models.bert import BertClassifier

VOCABULARY = 20


@pytest.fixture(scope="module")
def gpt():
    backbone = GPTBackbone(
        VOCABULARY,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=16,
    )
    return GPTCausalLM(backbone)


@pytest.fixture(scope="module")
def bert():
    backbone = BertBackbone(
        vocabulary_size=VOCABULARY,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=16,
    )
    return BertClassifier(backbone, num_classes=2)


@pytest.fixture(scope="module")
def transformer():
    return TransformerSeq2Seq(
        encoder_vocabulary_size=VOCABULARY,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=8,
    )


@pytest.fixture(scope="module")
def rnn():
    return RNNSeq2Seq(VOCABULARY, embedding_dim=4, hidden_dim=8)


def bert_inputs(token_ids):
    token_ids = np.asarray(token_ids)
    return {
        "token_ids": token_ids,
        "segment_ids": np.zeros(token_ids.shape, "int32"),
        "padding_mask": np.ones(token_ids.shape, "int32"),
    }


# --- Token ids outside the vocabulary, float ids ----------------------------


@settings(max_examples=15, deadline=None)
@given(
    st.one_of(st.integers(-(2**31), -1), st.integers(VOCABULARY, 2**31 - 1)),
    st.integers(0, 3),
)
def test_out_of_vocabulary_ids_are_refused_by_predict(bert, bad, position):
    ids = np.array([[2, 5, 6, 7]], "int32")
    ids[0, position] = bad
    with pytest.raises(ValueError, match=r"outside \[0, vocabulary_size=20\)"):
        bert.predict(bert_inputs(ids), verbose=0)
    # The model still works afterwards (JAX's predict detaches variables).
    assert np.isfinite(bert.predict(bert_inputs([[2, 5, 6, 7]]), verbose=0)).all()


def test_the_id_error_names_the_model_and_the_input_apart(bert):
    # It read "`bert_backbone: token_ids` has ids outside ...".
    with pytest.raises(ValueError, match=r"bert_\w+: `token_ids` has ids outside"):
        bert(bert_inputs([[2, 5, 6, VOCABULARY]]))


def test_float_ids_are_refused_by_predict(bert):
    with pytest.raises(TypeError, match="integer token ids; received dtype float"):
        bert.predict(bert_inputs([[2.0, 5.7, 6.0, 7.0]]), verbose=0)


def test_a_bare_id_array_is_refused_in_words_a_user_knows(bert):
    # On JAX the message used to name the input by its class,
    # "received DynamicJaxprTracer".
    # Keras's own message answers first on TensorFlow.
    received = r"received (a tensor of dtype int\d+ and shape \(1, 3\)|1 input)"
    with pytest.raises((TypeError, ValueError), match=received) as error:
        bert.predict(np.array([[2, 5, 3]]), verbose=0)
    assert "Tracer" not in str(error.value)


def test_segment_ids_outside_the_segment_table_are_refused(bert):
    inputs = bert_inputs([[2, 5, 6, 7]])
    inputs["segment_ids"] = np.array([[0, 0, 2, 2]])
    with pytest.raises(ValueError, match="segment_ids` has ids outside"):
        bert.predict(inputs, verbose=0)


@pytest.mark.parametrize("bad", [-1, VOCABULARY, 10**6])
def test_generate_refuses_out_of_vocabulary_prompts(gpt, transformer, rnn, bad):
    with pytest.raises(ValueError, match="outside"):
        gpt.generate([[1, bad]], max_new_tokens=2)
    with pytest.raises(ValueError, match="outside"):
        transformer.generate(np.array([[1, bad]]), max_length=2)
    with pytest.raises(ValueError, match="outside"):
        rnn.generate(np.array([[1, bad]]), max_length=2)


def test_generate_refuses_float_prompts(gpt, transformer):
    with pytest.raises(TypeError, match="integer token ids"):
        gpt.generate([[1.0, 2.5]], max_new_tokens=2)
    with pytest.raises(TypeError, match="integer token ids"):
        transformer.generate(np.array([[1.0, 2.5]]), max_length=2)


def test_embedding_layer_refuses_float_ids():
    layer = TokenAndPositionEmbedding(VOCABULARY, 8, hidden_dim=4)
    with pytest.raises(TypeError, match="`token_ids` must be integer ids"):
        layer(np.array([[1.0, 2.0]], "float32"))


# --- Sampling and decoding settings -----------------------------------------


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: samplers.TopKSampler(temperature=math.nan), "temperature"),
        (lambda: samplers.TopKSampler(temperature=math.inf), "temperature"),
        (lambda: samplers.TopKSampler(temperature=True), "temperature"),
        (lambda: samplers.TopKSampler(temperature=-1), "temperature"),
        (lambda: samplers.TopKSampler(k=True), "`k`"),
        (lambda: samplers.TopPSampler(p=math.nan), "`p`"),
        (lambda: samplers.TopPSampler(p=0), "`p`"),
        (lambda: samplers.TunableSampler(top_p=1.5), "top_p"),
        (lambda: samplers.TunableSampler(top_k=-1), "top_k"),
    ],
)
def test_sampler_settings_are_checked(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_top_k_above_the_vocabulary_is_refused(gpt):
    with pytest.raises(ValueError, match=r"top-k \(21\) is larger than the vocab"):
        gpt.generate([[1, 2]], max_new_tokens=2, sampler=samplers.TopKSampler(21))


@pytest.mark.parametrize("max_new_tokens", [0, -1, True, 2.0])
def test_gpt_max_new_tokens(gpt, max_new_tokens):
    with pytest.raises(ValueError, match="max_new_tokens"):
        gpt.generate([[1, 2]], max_new_tokens=max_new_tokens)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(beam_size=VOCABULARY + 1), "at most the target vocabulary size"),
        (dict(beam_size=0), "beam_size"),
        (dict(length_penalty=math.nan), "length_penalty"),
        (dict(max_length=0), "max_length"),
    ],
)
def test_transformer_decoding_settings(transformer, kwargs, message):
    with pytest.raises(ValueError, match=message):
        transformer.generate(np.array([[1, 2]]), **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(beam_size=VOCABULARY + 1), "at most the vocabulary size"),
        (dict(beam_size=0), "beam_size"),
        (dict(length_penalty=math.nan), "length_penalty"),
    ],
)
def test_rnn_decoding_settings(rnn, kwargs, message):
    with pytest.raises(ValueError, match=message):
        rnn.generate(np.array([[1, 2]]), **kwargs)


def test_rnn_max_length_zero_is_refused_as_for_the_transformer(rnn):
    with pytest.raises(ValueError, match="`max_length` must be a positive integer"):
        rnn.generate(np.array([[1, 2]]), max_length=0)


def test_empty_batches_are_refused(transformer, rnn):
    empty = np.zeros((0, 3), "int32")
    with pytest.raises(ValueError, match="non-empty"):
        transformer.generate(empty, max_length=2)
    with pytest.raises(ValueError, match="non-empty"):
        rnn.generate(empty, max_length=2)


# --- Attention layer inputs -------------------------------------------------


def attention():
    return MultiHeadAttention(num_heads=2, key_dim=4)


@pytest.mark.parametrize(
    "query, value, key, error, message",
    [
        ((2, 3, 8), (2, 5, 8), None, TypeError, "`query` must be a float tensor"),
        ((2, 3, 4, 8), (2, 5, 8), None, ValueError, "`query` must be a .batch"),
        ((2, 8), (2, 5, 8), None, ValueError, "`query` must be a .batch"),
        ((2, 3, 8), (2, 5, 8), (2, 6, 8), ValueError, "same length"),
        ((2, 3, 8), (3, 5, 8), None, ValueError, "batch sizes differ"),
    ],
)
def test_attention_input_shapes_and_dtypes(query, value, key, error, message):
    dtype = "int32" if error is TypeError else "float32"
    q = np.ones(query, dtype)
    v = np.ones(value, "float32")
    k = None if key is None else np.ones(key, "float32")
    with pytest.raises(error, match=message):
        attention()(q, v, key=k)


def test_self_attention_refuses_rank_2_and_int_inputs():
    layer = MultiHeadSelfAttention(num_heads=2, key_dim=4)
    with pytest.raises(ValueError, match="`inputs` must be a"):
        layer(np.ones((2, 8), "float32"))
    with pytest.raises(TypeError, match="float tensor"):
        layer(np.ones((2, 3, 8), "int32"))


def test_symbolic_inputs_pass_the_checks():
    query = keras.Input((None, 8))
    value = keras.Input((None, 8))
    out = attention()(query, value)
    assert tuple(out.shape) == (None, None, 8)


@pytest.mark.parametrize("index", [5, 6, -1])
def test_cache_update_index_past_the_end_is_refused(index):
    layer = attention()
    x = np.ones((1, 2, 8), "float32")
    layer(x, x)
    cache = layer.init_cache(1, 6)
    with pytest.raises(ValueError, match="does not fit a cache of length 6"):
        layer(x, x, cache=cache, cache_update_index=index)
