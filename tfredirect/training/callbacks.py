"""Callbacks for RedirectionGAN training: checkpoints, TensorBoard logs, image grids, throughput."""

import os
import time

import keras
import numpy as np
import tensorflow as tf

from tfredirect import visualize


class CheckpointEveryEpoch(keras.callbacks.Callback):
    """Saves a `tf.train.CheckpointManager` checkpoint, numbered by the generator step,
    at the end of every epoch (an epoch is `checkpoint_every` steps)."""

    def __init__(self, manager, step_fn):
        super().__init__()
        self.manager, self.step_fn = manager, step_fn

    def on_epoch_end(self, epoch, logs=None):
        self.manager.save(checkpoint_number=self.step_fn())


class StopAtStep(keras.callbacks.Callback):
    """Ends `fit` once the generator step reaches `last` (mid-epoch when a resume started
    off the checkpoint grid); Keras then validates and ends the epoch, so the last
    checkpoint is at `last`."""

    def __init__(self, last, step_fn):
        super().__init__()
        self.last, self.step_fn = last, step_fn

    def on_train_batch_end(self, batch, logs=None):
        if self.step_fn() >= self.last:
            self.model.stop_training = True


class GlobalStepTensorBoard(keras.callbacks.Callback):
    """Writes a run's TensorBoard scalars, each at the run's generator step (`step_fn`), in
    the folders and under the tags of keras.callbacks.TensorBoard. In `log_dir`/train:
    `batch_<name>` every `update_freq` steps, `epoch_<name>` and `epoch_learning_rate` (the
    model optimizer's) at each epoch end. In `log_dir`/validation: `epoch_<name>` of the
    `val_` logs, and Keras' `evaluation_<name>_vs_iterations` written as Keras writes them, at
    the end of a validation that brings the count of validation batches to a multiple of
    `update_freq`.

    Written with tf.summary rather than by subclassing Keras' callback, whose step handling
    is private: it restarts its batch counter at 0 in each `fit` and logs epoch scalars at
    the epoch index, so a resumed run drew over its first part, and it leaves the last
    batch's `record_if(step % update_freq == 0)` on at the epoch end, which dropped the epoch
    summaries of epochs ending off the --log_every grid (tensorflow/tensorboard#4975)."""

    def __init__(self, log_dir, step_fn, update_freq=1):
        super().__init__()
        self.log_dir, self.step_fn, self.update_freq = str(log_dir), step_fn, int(update_freq)
        self._writers = {}
        self._test_batches = 0

    def _writer(self, name):
        """The file writer of `log_dir`/<name>, created on first use."""
        if name not in self._writers:
            self._writers[name] = tf.summary.create_file_writer(os.path.join(self.log_dir, name))
        return self._writers[name]

    def _write(self, name, prefix, logs, step, suffix=""):
        with self._writer(name).as_default(), tf.summary.record_if(True):
            for key, value in logs.items():
                tf.summary.scalar(f"{prefix}{key}{suffix}", value, step=step)

    def on_train_begin(self, logs=None):
        self._writer("train")

    def on_train_batch_end(self, batch, logs=None):
        step = self.step_fn()
        if isinstance(logs, dict) and step % self.update_freq == 0:
            self._write("train", "batch_", logs, step)

    def on_test_begin(self, logs=None):
        self._writer("validation")

    def on_test_batch_begin(self, batch, logs=None):
        self._test_batches += 1

    def on_test_end(self, logs=None):
        if logs and self._test_batches % self.update_freq == 0:
            self._write("validation", "evaluation_", logs, self.step_fn(), "_vs_iterations")

    def on_epoch_end(self, epoch, logs=None):
        if not logs:
            return
        step = self.step_fn()
        optimizer = getattr(self.model.optimizer, "inner_optimizer", self.model.optimizer)  # a LossScaleOptimizer's
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        if isinstance(optimizer, keras.optimizers.Optimizer):
            train["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        self._write("train", "epoch_", train, step)
        val = {k[len("val_"):]: v for k, v in logs.items() if k.startswith("val_")}
        if val:
            self._write("validation", "epoch_", val, step)

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


class ImageGrid(keras.callbacks.Callback):
    """Writes [input | redirected to the partner's labels | ground truth] to TensorBoard."""

    def __init__(self, log_dir, batch, truth=None, step_fn=None):
        super().__init__()
        self.writer = tf.summary.create_file_writer(log_dir)
        self.batch, self.truth, self.step_fn = batch, truth, step_fn

    def on_epoch_end(self, epoch, logs=None):
        grid = visualize.preview_grid(self.model.generator, self.batch, self.truth)
        with self.writer.as_default(), tf.summary.record_if(True):  # whatever record_if is set around fit
            tf.summary.image("input | redirected | truth", grid[None], step=self.step_fn())
        self.writer.flush()


class Throughput(keras.callbacks.Callback):
    """Measures training pairs per second, skipping the first batches (tracing, warm-up)."""

    def __init__(self, batch_size, skip=5):
        super().__init__()
        self.batch_size, self.skip = batch_size, skip
        self.seen, self.start, self.elapsed = 0, None, 0.0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.skip:
            self.start = time.perf_counter()
        elif self.seen > self.skip:
            self.elapsed = time.perf_counter() - self.start

    @property
    def timed_batches(self):
        return max(self.seen - self.skip, 0)

    @property
    def pairs_per_second(self):
        """Pairs per second over the timed batches; None if no batch was timed."""
        return self.timed_batches * self.batch_size / self.elapsed if self.elapsed else None


def batch_to_numpy(batch):
    return {k: np.asarray(v) for k, v in batch.items()}
