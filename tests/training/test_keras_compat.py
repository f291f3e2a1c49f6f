"""What tfredirect.training.keras_compat assumes about Keras and TensorFlow internals: these
tests fail with a message naming the helper to revisit when an upgrade breaks one."""

import inspect
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.backend.tensorflow import trainer as keras_tf_trainer

from tfredirect.training.keras_compat import SkipSymbolicBuild, in_multi_worker_mode
from worker_ports import free_ports  # tests/training, on the path as the test's folder

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECKED = "keras_compat was checked on Keras 3.15.1 / TensorFlow 2.21.0"


def test_keras_still_has_the_symbolic_build_that_SkipSymbolicBuild_overrides():
    keras_build = getattr(keras_tf_trainer.TensorFlowTrainer, "_maybe_symbolic_build", None)
    assert keras_build is not None, (
        f"Keras {keras.__version__} has no TensorFlowTrainer._maybe_symbolic_build ({CHECKED}): "
        "SkipSymbolicBuild overrides nothing; find how fit now builds a model in a strategy scope")
    assert keras.Model._maybe_symbolic_build is keras_build, "keras.Model no longer inherits TensorFlowTrainer's build"
    assert inspect.signature(keras_build) == inspect.signature(SkipSymbolicBuild._maybe_symbolic_build), (
        f"Keras {keras.__version__} changed _maybe_symbolic_build{inspect.signature(keras_build)} "
        f"({CHECKED}): update SkipSymbolicBuild")


class CountingModel(SkipSymbolicBuild, keras.Model):
    """A one-layer model built in __init__ that counts the calls of the override."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)
        self.dense.build((None, 2))
        self.calls = 0

    def call(self, x):
        return self.dense(x)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        self.calls += 1
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)


def test_fit_and_evaluate_in_a_strategy_scope_go_through_SkipSymbolicBuild():
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        model = CountingModel()
        model.compile(keras.optimizers.SGD(0.1), "mse")
    x, y = np.ones((4, 2), np.float32), np.ones((4, 1), np.float32)
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert model.calls == 1, (f"Keras {keras.__version__} fit no longer calls _maybe_symbolic_build ({CHECKED}): "
                              "SkipSymbolicBuild has no effect; find how fit now builds a model in a strategy scope")
    model.evaluate(x, y, batch_size=2, verbose=0)
    assert model.calls == 2, f"Keras {keras.__version__} evaluate no longer calls _maybe_symbolic_build ({CHECKED})"


def _keras_multi_worker(strategy):
    decide = getattr(keras_tf_trainer, "_collective_all_reduce_multi_worker", None)
    assert decide is not None, (
        f"Keras {keras.__version__} no longer decides multi-worker log reduction with "
        f"_collective_all_reduce_multi_worker ({CHECKED}): check how it reduces a step's logs "
        "(RedirectionGAN._update_trackers gives scalars an axis for it) and update in_multi_worker_mode")
    return decide(strategy)


@pytest.mark.parametrize("make", [
    tf.distribute.get_strategy,
    lambda: tf.distribute.OneDeviceStrategy("/cpu:0"),
    tf.distribute.MirroredStrategy,  # two replicas: the session's two logical CPUs
    tf.distribute.MultiWorkerMirroredStrategy,  # no TF_CONFIG: one worker
], ids=["default", "one_device", "mirrored", "multiworker_local"])
def test_in_multi_worker_mode_agrees_with_keras_and_tf_on_one_worker(make):
    strategy = make()
    assert in_multi_worker_mode(strategy) is False
    assert _keras_multi_worker(strategy) is False
    assert strategy.extended._in_multi_worker_mode() is False


_PROBE = """
import json, sys
import tensorflow as tf
from keras.src.backend.tensorflow import trainer
from tfredirect.training.keras_compat import in_multi_worker_mode
strategy = tf.distribute.MultiWorkerMirroredStrategy()
print(json.dumps([in_multi_worker_mode(strategy), trainer._collective_all_reduce_multi_worker(strategy),
                  strategy.extended._in_multi_worker_mode()]))
"""


@pytest.mark.slow
def test_in_multi_worker_mode_agrees_with_keras_and_tf_on_two_workers():
    ports = free_ports(2)
    procs = []
    for i in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="",
                   TF_CONFIG=json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                                         "task": {"type": "worker", "index": i}}))
        procs.append(subprocess.Popen([sys.executable, "-c", _PROBE], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    try:
        outputs = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-4000:]
        assert json.loads(out.strip().splitlines()[-1]) == [True, True, True], (
            f"ours, Keras', TF's multi-worker decision on a two-worker cluster ({CHECKED})")
