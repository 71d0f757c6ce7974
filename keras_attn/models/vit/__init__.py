"""Vision Transformer: image patches as tokens through the Transformer encoder."""

from keras_attn.models.vit.vit_backbone import ViTBackbone
from keras_attn.models.vit.vit_classifier import ViTClassifier
from keras_attn.models.vit.vit_classifier import attention_rollout

__all__ = ["ViTBackbone", "ViTClassifier", "attention_rollout"]
