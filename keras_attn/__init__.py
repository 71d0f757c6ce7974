"""keras_attn: Keras 3 layers and models that tell the attention story."""

from keras_attn import layers  # noqa: F401
from keras_attn import metrics  # noqa: F401
from keras_attn import models  # noqa: F401
from keras_attn import samplers  # noqa: F401

__version__ = "0.1.0"
