import collections
import glob
import os

import pytest
import tensorflow as tf

from tfredirect.config import GanSchedule
from tfredirect.training.loop import TrainConfig, train


def _cfg(out_dir, **kw):
    base = dict(out_dir=str(out_dir), preset="tiny", batch_size=4, steps=6, checkpoint_every=3, val_batches=1,
                log_every=2, verbose=0, seed=0, gan=GanSchedule(warmup=2))
    base.update(kw)
    return TrainConfig(**base)


def _logged_steps(log_dir):
    """{(writer folder, tag): [step, ...]} over every event file under `log_dir`, in file order."""
    steps = collections.defaultdict(list)
    for path in sorted(glob.glob(os.path.join(log_dir, "*", "events.out.tfevents.*")), key=os.path.getmtime):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                steps[(os.path.basename(os.path.dirname(path)), value.tag)].append(event.step)
    return steps


@pytest.mark.slow
def test_scalars_continue_at_the_global_step_after_resume(tmp_path):
    train(_cfg(tmp_path))
    # a resume may change --checkpoint_every: its epochs then end at steps 10 and 12, off the first grid
    resumed = train(_cfg(tmp_path, steps=12, checkpoint_every=4, resume=True))
    assert (resumed["start_step"], resumed["step"]) == (6, 12)
    steps = _logged_steps(str(tmp_path / "logs"))

    for tag in ("batch_g_loss", "batch_d_loss", "batch_rec"):
        assert steps[("train", tag)] == [2, 4, 6, 8, 10, 12]  # every --log_every generator steps
    for tag in ("epoch_g_loss", "epoch_learning_rate"):
        assert steps[("train", tag)] == [3, 6, 10, 12]  # the checkpoints' steps
    for tag in ("epoch_rec", "epoch_psnr"):
        assert steps[("validation", tag)] == [3, 6, 10, 12]
    # Keras' own validation scalars: at the global step, written when its test-batch count is a multiple of log_every
    keras_own = steps[("validation", "evaluation_rec_vs_iterations")]
    assert keras_own and set(keras_own) <= {3, 6, 10, 12}
    assert steps[("images", "input | redirected | truth")] == [3, 6, 10, 12]
    checkpoints = sorted(int(p.split("-")[1].split(".")[0]) for p in os.listdir(tmp_path / "checkpoints")
                         if p.endswith(".index"))
    assert checkpoints[-2:] == [10, 12]
