"""Serve exported SavedModels over TensorFlow Serving's REST API.

`serve(path)` blocks and serves; `ModelServer(path).app()` gives the aiohttp
application (for tests or an existing event loop). TensorFlow is imported
only when a model is loaded, so importing this package stays light.
"""

from keras_attn.serving.batcher import Batcher
from keras_attn.serving.errors import ModelError
from keras_attn.serving.errors import RequestError
from keras_attn.serving.model_server import ModelServer
from keras_attn.serving.model_server import serve
from keras_attn.serving.served_model import ServedModel
from keras_attn.serving.served_model import resolve_model_path

__all__ = [
    "Batcher",
    "ModelError",
    "ModelServer",
    "RequestError",
    "ServedModel",
    "resolve_model_path",
    "serve",
]
