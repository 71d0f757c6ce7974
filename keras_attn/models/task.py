import keras

from keras_attn.models.base_model import BaseModel


class Task(BaseModel):
    """Base of the task models (a backbone plus a head, or a seq2seq model).

    As for `Backbone`, a subclass stores each constructor argument under its
    own name and `BaseModel` does the config round trip. Tasks that decode
    (`GPTCausalLM`, `TransformerSeq2Seq`, `RNNSeq2Seq`) implement
    `make_generate_function`, the public hook that `generate` and the
    SavedModel exports use; the compiled loops it returns are cached per
    setting by `_cached_generate_function` and are not saved with the model.
    """

    def compile_from_config(self, config):
        """Compiles a reloaded task as it was compiled when it was saved.

        Keras does not call the `compile` of a model that overrides it (it
        warns and leaves the model uncompiled); the tasks' `compile` only
        fills in defaults, so the saved optimizer, losses and metrics go
        through it. The optimizer's variables are built here, so that
        loading restores its state.
        """
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def token_id_inputs(self):
        """The backbone's token-id inputs (a task takes its backbone's)."""
        backbone = getattr(self, "backbone", None)
        return backbone.token_id_inputs() if backbone is not None else {}

    def make_generate_function(self, *args, **kwargs):
        """The compiled decoding loop (a `DecodingLoop`) for one setting."""
        raise NotImplementedError(f"{type(self).__name__} does not generate.")

    def _cached_generate_function(self, key, make):
        # Kept out of Keras's attribute tracking: a loop owns no weights and
        # is not saved with the model (it tracks the model, not the reverse).
        cache = self.__dict__.setdefault("_generate_functions", {})
        if key not in cache:
            cache[key] = make()
        return cache[key]
