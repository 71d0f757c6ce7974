"""TensorFlow SavedModel export with string-in, string-out signatures.

One function per model family writes a SavedModel whose serving signatures
take and return strings, with the tokenizer and the detokenizer inside the
graph, ready for `tf.saved_model.load` or TensorFlow Serving:

- `export_date_converter`: `convert`, `dates` -> `iso`.
- `export_translator`: `translate`, `source` -> `translation`.
- `export_bert_classifier`: `classify`, `text` (and `text_pair`) ->
  `labels`, `probabilities`; `embed` -> `embeddings`.
- `export_bert_embedder`: `embed`, `text` -> `embeddings`.
- `export_gpt_generator`: `generate`, `prompt`, `max_new_tokens`,
  `temperature`, `top_k`, `top_p`, `seed` -> `text`, `completion`; and
  `stream_start` / `stream_step`, the same loop one step per call, which
  `stream_saved_model` drives to yield text as it is generated.
- `export_image_classifier`: `classify`, `images` (encoded PNG/JPEG
  bytes) -> `labels`, `class_ids`, `probabilities`.

Each also serves its main signature as `serving_default`. Serving needs
TensorFlow itself (SavedModel, `tf.strings`), so these functions run with
the TensorFlow backend; TensorFlow is imported inside them, and layers and
models stay backend-agnostic. Graphs with a keras-hub tokenizer use a few
TensorFlow Text ops: load them after `import tensorflow_text` (see the
export docs page).
"""

from keras_attn.export.bert import export_bert_classifier
from keras_attn.export.bert import export_bert_embedder
from keras_attn.export.date_converter import export_date_converter
from keras_attn.export.gpt import export_gpt_generator
from keras_attn.export.gpt import stream_saved_model
from keras_attn.export.seq2seq import export_translator
from keras_attn.export.vit import export_image_classifier

__all__ = [
    "export_bert_classifier",
    "export_bert_embedder",
    "export_date_converter",
    "export_gpt_generator",
    "export_image_classifier",
    "export_translator",
    "stream_saved_model",
]
