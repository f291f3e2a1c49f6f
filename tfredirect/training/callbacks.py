"""Callbacks for RedirectionGAN training: checkpoints, TensorBoard logs, image grids, throughput."""

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


class GlobalStepTensorBoard(keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback with every scalar at the run's generator step (`step_fn`).

    Keras restarts its batch counter at 0 in each `fit` and logs epoch and validation
    scalars at the epoch index, so a resumed run drew over its first part. It also leaves
    the last batch's `record_if(step % update_freq == 0)` on at the epoch end, which
    dropped the epoch summaries of epochs ending off the --log_every grid
    (tensorflow/tensorboard#4975); they are always recorded here."""

    def __init__(self, log_dir, step_fn, **kwargs):
        super().__init__(log_dir, **kwargs)
        self.step_fn = step_fn

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._global_train_batch = self.step_fn()  # Keras adds one per batch from here

    def _log_epoch_metrics(self, epoch, logs):
        with tf.summary.record_if(True):
            super()._log_epoch_metrics(self.step_fn(), logs)


class ImageGrid(keras.callbacks.Callback):
    """Writes [input | redirected to the partner's labels | ground truth] to TensorBoard."""

    def __init__(self, log_dir, batch, truth=None, step_fn=None):
        super().__init__()
        self.writer = tf.summary.create_file_writer(log_dir)
        self.batch, self.truth, self.step_fn = batch, truth, step_fn

    def on_epoch_end(self, epoch, logs=None):
        grid = visualize.preview_grid(self.model.generator, self.batch, self.truth)
        with self.writer.as_default(), tf.summary.record_if(True):  # not the batch scalars' --log_every
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
