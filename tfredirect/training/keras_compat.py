"""Where the training code depends on how Keras and TensorFlow work inside, in one place.

Checked on Keras 3.15.1 and TensorFlow 2.21.0. tests/training/test_keras_compat.py fails with
a message naming the helper when an upgrade breaks one of these assumptions.
- `SkipSymbolicBuild` overrides a private Keras method (no public way exists);
- `in_multi_worker_mode` makes, from public API, the decision that Keras and TF make with
  their private `_collective_all_reduce_multi_worker` / `extended._in_multi_worker_mode()`.
"""

import tensorflow as tf


class SkipSymbolicBuild:
    """keras.Model mixin (list it before keras.Model): `fit` and `evaluate` skip Keras'
    symbolic build, for models whose networks and optimizers are built before `fit`.

    Private API, with no public alternative: before the first step, `fit` and `evaluate` of a
    model created in a strategy scope call `TensorFlowTrainer._maybe_symbolic_build`, which
    draws a batch and averages it over the replicas (strategy.reduce("MEAN")) even when
    nothing is left to build. That average fails on dict batches under
    MultiWorkerMirroredStrategy. Checked on Keras 3.15.1."""

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Nothing to build: the model was built before `fit`."""


def in_multi_worker_mode(strategy):
    """True when `strategy` is a MultiWorkerMirroredStrategy with more than one worker.

    This is the condition under which Keras reduces the logs of a step with
    strategy.reduce("MEAN", v, axis=0), so scalar logs need an axis. Every worker keeps the
    same number of local replicas, so the worker count is num_replicas_in_sync divided by
    the number of local devices. It matches TF's private `strategy.extended._in_multi_worker_mode()`
    for the strategies tfredirect.training.loop.make_strategy builds (the others are never
    multi-worker). Public API only; checked on TensorFlow 2.21.0 and Keras 3.15.1."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    return strategy.num_replicas_in_sync > len(strategy.extended.worker_devices)
