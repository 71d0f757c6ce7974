"""Draw the concept figures of the docs from keras_attn's own outputs.

    python docs/figures.py            # writes docs/img/*.png

The attention heatmap of the date demo is written by `make demo` itself
(outputs/date_seq2seq/attention.png) and copied to docs/img by hand.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from keras_attn.layers import PositionalEmbedding  # noqa: E402
from keras_attn.layers import compute_attention_mask  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "img")


def positional_encoding():
    table = PositionalEmbedding(sequence_length=64)(np.zeros((1, 64, 128), "float32"))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    im = ax.imshow(ops.convert_to_numpy(table)[0], cmap="RdBu", aspect="auto")
    ax.set_xlabel("feature (even: sin, odd: cos)")
    ax.set_ylabel("position")
    ax.set_title("PositionalEmbedding(mode='sinusoidal'), width 128")
    fig.colorbar(im)
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "positional_encoding.png"), dpi=110)


def masks():
    q = np.zeros((1, 6, 4))
    padding = np.array([[1, 1, 1, 1, 0, 0]], bool)
    panels = {
        "padding (keys)": compute_attention_mask(q, q, key_mask=padding),
        "causal": compute_attention_mask(q, q, causal=True),
        "padding + causal + query": compute_attention_mask(
            q, q, query_mask=padding, key_mask=padding, causal=True
        ),
    }
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    for ax, (title, mask) in zip(axes, panels.items()):
        mask = np.broadcast_to(ops.convert_to_numpy(mask), (1, 6, 6))[0]
        ax.imshow(mask, cmap="Greens", vmin=0, vmax=1)
        ax.set_title(title)
        ax.set_xlabel("key position")
        ax.set_ylabel("query position")
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "masks.png"), dpi=110)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    positional_encoding()
    masks()
