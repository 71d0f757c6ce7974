import keras
from keras import ops

from keras_attn.saving import register


@register
class MaskedAccuracy(keras.metrics.Metric):
    """Sparse categorical accuracy that skips one label value.

    For labels with unused slots: masked-LM slots past the last masked token
    (label 0, `[PAD]`) or token-tagging padding (label -1). Those positions
    count neither as right nor as wrong; `sample_weight` multiplies the
    rest. With no counted position the result is 0, not NaN.

    Args:
        ignore_class: the label value to skip; None counts every label.
        name: metric name.
        dtype: dtype of the accumulators.

    Call arguments:
        y_true: integer labels `(...)`, or `(..., 1)`.
        y_pred: scores `(..., C)` (logits or probabilities); the argmax is
            the prediction.
        sample_weight: optional weights broadcastable to `y_true`.

    Returns:
        The fraction of counted positions whose argmax equals the label.

    Example:

    >>> import numpy as np
    >>> from keras_attn.metrics import MaskedAccuracy
    >>> metric = MaskedAccuracy(ignore_class=0)
    >>> y_true = np.array([[5, 7, 0]])
    >>> y_pred = np.eye(10)[[[5, 1, 0]]]  # right, wrong, (ignored)
    >>> metric.update_state(y_true, y_pred)
    >>> float(metric.result())
    0.5
    """

    def __init__(self, ignore_class=0, name="masked_accuracy", dtype="float32"):
        super().__init__(name=name, dtype=dtype)
        self.ignore_class = ignore_class
        self.correct = self.add_variable(
            shape=(), initializer="zeros", dtype=self.dtype, name="correct"
        )
        self.count = self.add_variable(
            shape=(), initializer="zeros", dtype=self.dtype, name="count"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.convert_to_tensor(y_true)
        y_pred = ops.convert_to_tensor(y_pred)
        if len(y_true.shape) == len(y_pred.shape):
            if y_true.shape[-1] not in (1, None):
                raise ValueError(
                    "`y_true` must hold integer labels shaped like `y_pred` "
                    f"without its last axis; received y_true {tuple(y_true.shape)}"
                    f" and y_pred {tuple(y_pred.shape)}."
                )
            y_true = ops.squeeze(y_true, -1)
        y_true = ops.cast(y_true, "int32")
        predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        weight = ops.ones_like(y_true, dtype=self.dtype)
        if self.ignore_class is not None:
            weight = ops.cast(ops.not_equal(y_true, self.ignore_class), self.dtype)
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, self.dtype)
            while len(sample_weight.shape) < len(weight.shape):  # (B,) -> (B, 1)
                sample_weight = ops.expand_dims(sample_weight, -1)
            weight = weight * ops.broadcast_to(sample_weight, ops.shape(weight))
        right = ops.cast(ops.equal(predicted, y_true), self.dtype)
        self.correct.assign_add(ops.sum(right * weight))
        self.count.assign_add(ops.sum(weight))

    def result(self):
        return ops.divide_no_nan(self.correct, self.count)

    def reset_state(self):
        self.correct.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {
            "name": self.name,
            "dtype": self.dtype,
            "ignore_class": self.ignore_class,
        }
