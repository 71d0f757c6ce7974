"""GPT: a decoder-only Transformer backbone and its causal language model."""

from keras_attn.models.gpt.gpt_backbone import GPTBackbone
from keras_attn.models.gpt.gpt_causal_lm import GPTCausalLM

__all__ = ["GPTBackbone", "GPTCausalLM"]
