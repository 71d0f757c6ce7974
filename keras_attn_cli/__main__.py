"""`python -m keras_attn_cli`: the `keras-attn` command."""

import sys

from keras_attn_cli import main

sys.exit(main())
