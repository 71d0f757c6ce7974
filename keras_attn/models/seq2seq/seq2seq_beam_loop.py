from keras_attn.models.beam_search import beam_search
from keras_attn.models.decoding_loop import DecodingLoop


class Seq2SeqBeamLoop(DecodingLoop):
    """Base of the seq2seq decoding loops: greedy (`beam_size=1`) or beam
    search over the task's `start_id`/`end_id`, one loop per setting.
    Subclasses build the step function and state and call `search`."""

    def __init__(self, seq2seq, max_length, beam_size, length_penalty, **kwargs):
        super().__init__(seq2seq, **kwargs)
        self.max_length = max_length
        self.beam_size = beam_size
        self.length_penalty = length_penalty

    def search(self, step, state, batch_size):
        """`beam_search` of `step` from `state` (rows `batch_size * K`)."""
        return beam_search(
            step,
            state,
            batch_size=batch_size,
            beam_size=self.beam_size,
            max_length=self.max_length,
            start_id=self.task.start_id,
            end_id=self.task.end_id,
            length_penalty=self.length_penalty,
        )
