"""Attention layers, embeddings and Transformer blocks."""

from keras_attn.layers.attention_utils import causal_mask
from keras_attn.layers.attention_utils import compute_attention_mask
from keras_attn.layers.attention_utils import masked_softmax
from keras_attn.layers.attention_utils import scaled_dot_product_attention
from keras_attn.layers.bahdanau_attention import BahdanauAttention
from keras_attn.layers.feed_forward import FeedForward
from keras_attn.layers.feed_forward import gelu_approximate
from keras_attn.layers.luong_attention import LuongAttention
from keras_attn.layers.multi_head_attention import MultiHeadAttention
from keras_attn.layers.multi_head_self_attention import MultiHeadSelfAttention
from keras_attn.layers.patch_embedding import PatchEmbedding
from keras_attn.layers.patch_embedding import interpolate_position_embeddings
from keras_attn.layers.positional_embedding import PositionalEmbedding
from keras_attn.layers.token_and_position_embedding import TokenAndPositionEmbedding
from keras_attn.layers.transformer_decoder import TransformerDecoder
from keras_attn.layers.transformer_encoder import TransformerEncoder

__all__ = [
    "BahdanauAttention",
    "FeedForward",
    "LuongAttention",
    "MultiHeadAttention",
    "MultiHeadSelfAttention",
    "PatchEmbedding",
    "PositionalEmbedding",
    "TokenAndPositionEmbedding",
    "TransformerDecoder",
    "TransformerEncoder",
    "causal_mask",
    "compute_attention_mask",
    "gelu_approximate",
    "interpolate_position_embeddings",
    "masked_softmax",
    "scaled_dot_product_attention",
]
