"""Metrics for the training objectives of keras_attn models."""

from keras_attn.metrics.masked_accuracy import MaskedAccuracy

__all__ = ["MaskedAccuracy"]
