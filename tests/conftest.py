"""Test session setup: quiet TF logs and two logical CPU devices for MirroredStrategy tests."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
if len(tf.config.get_logical_device_configuration(_cpus[0]) or []) < 2:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )

import numpy as np  # noqa: E402
import pytest  # noqa: E402

SHARED_REALDATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "realdata")
SHARED_SKIP = "needs ../shared/realdata (not in a user's clone)"


@pytest.fixture(scope="session")
def shared_path():
    """`shared_path(*parts)`: a path under ../shared/realdata beside the repository (real data
    that is never copied into it); skips the calling test when it is not there."""

    def get(*parts):
        path = os.path.normpath(os.path.join(SHARED_REALDATA, *parts))
        if not os.path.exists(path):
            pytest.skip(f"{SHARED_SKIP}: {os.path.join('realdata', *parts)} is missing")
        return path

    return get


def make_pair_batch(n, size, seed=0):
    """A dict of random pair records (uint8 images, radian labels) for model tests."""
    rng = np.random.default_rng(seed)
    img = lambda: rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    ang = lambda: rng.uniform(-0.5, 0.5, (n, 2)).astype("float32")
    return {"image_a": img(), "gaze_a": ang(), "head_a": ang(), "image_b": img(), "gaze_b": ang(), "head_b": ang()}


@pytest.fixture
def pair_batch():
    return make_pair_batch


@pytest.fixture(scope="session")
def tiny_redirector():
    """A seeded, untrained tiny (32x32) Redirector, shared by the session: do not train it."""
    import keras

    from tfredirect.config import preset
    from tfredirect.models import Redirector

    keras.utils.set_random_seed(0)
    model = Redirector(preset("tiny"))
    model.build()
    return model


@pytest.fixture(scope="session")
def tiny_redirector_file(tiny_redirector, tmp_path_factory):
    """Path of `tiny_redirector` saved as .keras."""
    path = tmp_path_factory.mktemp("tiny_redirector") / "redirector.keras"
    tiny_redirector.save(str(path))
    return path
