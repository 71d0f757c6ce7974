import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_and_policy():
    """Each test starts from seed 0 and float32, whatever ran before."""
    keras.utils.set_random_seed(0)
    np.random.seed(0)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


def pytest_collection_modifyitems(config, items):
    """Skip `tf_only` and `one_backend` tests under another backend (the
    Makefile's JAX run deselects them with `-m`; this covers a bare
    `pytest` under KERAS_BACKEND=jax)."""
    if keras.backend.backend() == "tensorflow":
        return
    skips = {
        "tf_only": pytest.mark.skip(reason="needs the TensorFlow backend"),
        "one_backend": pytest.mark.skip(reason="runs in the TensorFlow run only"),
    }
    for item in items:
        for marker, skip in skips.items():
            if marker in item.keywords:
                item.add_marker(skip)
