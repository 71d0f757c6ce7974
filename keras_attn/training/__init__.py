"""Distributed, mixed-precision and fault-tolerant training.

TensorFlow is imported inside the functions that need it, so importing this
package costs no more than Keras.
"""

from keras_attn.training.backup_and_restore import BackupAndRestore
from keras_attn.training.fitting import fit
from keras_attn.training.flags import add_flags
from keras_attn.training.flags import from_flags
from keras_attn.training.flags import jit_compile_for
from keras_attn.training.hardware import fastest_config
from keras_attn.training.loop import fit_distributed
from keras_attn.training.precision import PRECISIONS
from keras_attn.training.precision import set_precision
from keras_attn.training.sharding import SHARD_POLICIES
from keras_attn.training.sharding import shard
from keras_attn.training.strategies import STRATEGIES
from keras_attn.training.strategies import get_strategy
from keras_attn.training.strategies import global_batch_size
from keras_attn.training.strategies import is_chief
from keras_attn.training.strategies import num_replicas
from keras_attn.training.strategies import num_workers
from keras_attn.training.time_budget import TimeBudget

__all__ = [
    "BackupAndRestore",
    "PRECISIONS",
    "SHARD_POLICIES",
    "STRATEGIES",
    "TimeBudget",
    "add_flags",
    "fit",
    "fastest_config",
    "fit_distributed",
    "from_flags",
    "get_strategy",
    "global_batch_size",
    "is_chief",
    "jit_compile_for",
    "num_replicas",
    "num_workers",
    "set_precision",
    "shard",
]
