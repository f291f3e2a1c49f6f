import collections
import glob
import os

import keras
import pytest
import tensorflow as tf

from tfredirect.training.callbacks import GlobalStepTensorBoard


def _scalars(log_dir):
    """{(writer folder, tag): [(step, value), ...]} of every event file under `log_dir`."""
    out = collections.defaultdict(list)
    for path in glob.glob(os.path.join(log_dir, "*", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                out[(os.path.basename(os.path.dirname(path)), value.tag)].append(
                    (event.step, float(tf.make_ndarray(value.tensor))))
    return dict(out)


def test_global_step_tensorboard_writes_every_scalar_at_the_generator_step(tmp_path):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.25), "mse")
    step = [10]  # a resumed run: the generator step does not start at 0
    board = GlobalStepTensorBoard(str(tmp_path), lambda: step[0], update_freq=2)
    board.set_model(model)

    def validate(loss):
        board.on_test_begin()
        board.on_test_batch_begin(0)
        board.on_test_batch_end(0)
        board.on_test_end({"loss": loss})

    board.on_train_begin()
    for epoch, batches in enumerate((3, 2)):
        board.on_epoch_begin(epoch)
        for batch in range(batches):
            step[0] += 1
            board.on_train_batch_begin(batch)
            board.on_train_batch_end(batch, {"loss": float(step[0])})
        validate(float(-step[0]))
        board.on_epoch_end(epoch, {"loss": 1.0 + epoch, "val_loss": 3.0 + epoch})
    board.on_train_end()

    assert _scalars(str(tmp_path)) == {
        ("train", "batch_loss"): [(12, 12.0), (14, 14.0)],  # every update_freq generator steps
        # the first epoch ends off the update_freq grid, and is recorded all the same
        ("train", "epoch_loss"): [(13, 1.0), (15, 2.0)],
        ("train", "epoch_learning_rate"): [(13, 0.25), (15, 0.25)],
        ("validation", "epoch_loss"): [(13, 3.0), (15, 4.0)],
        # Keras' own: when the count of validation batches reaches a multiple of update_freq
        ("validation", "evaluation_loss_vs_iterations"): [(15, -15.0)],
    }


def test_global_step_tensorboard_reads_the_rate_of_a_loss_scale_optimizer(tmp_path):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.5)), "mse")
    board = GlobalStepTensorBoard(str(tmp_path), lambda: 4)
    board.set_model(model)
    board.on_train_begin()
    board.on_epoch_end(0, {"loss": 1.0})
    board.on_train_end()
    assert _scalars(str(tmp_path))[("train", "epoch_learning_rate")] == [(4, pytest.approx(0.5))]
