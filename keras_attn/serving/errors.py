"""The two ways a request fails: the client's fault or the model's."""


class RequestError(ValueError):
    """A request the server rejects, with the HTTP status to answer.

    Args:
        message: what was received and what was expected.
        status: the HTTP status code (400 unless given).

    Example:

    >>> from keras_attn.serving import RequestError
    >>> error = RequestError("body too large", status=413)
    >>> error.status, str(error)
    (413, 'body too large')
    """

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


class ModelError(RuntimeError):
    """The SavedModel raised while serving a request (answered with a 500).

    Example:

    >>> from keras_attn.serving import ModelError
    >>> str(ModelError("model 'dates' signature 'convert' failed: ..."))
    "model 'dates' signature 'convert' failed: ..."
    """
