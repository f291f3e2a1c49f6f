import json
import os

import numpy as np
import pytest

from tfredirect.config import GanSchedule, LossConfig
from tfredirect.models import load_redirector
from tfredirect.training.loop import TrainConfig, train


def _cfg(out_dir, **kw):
    base = dict(out_dir=str(out_dir), preset="tiny", batch_size=4, steps=4, checkpoint_every=2,
                val_batches=1, log_every=1, verbose=0, gan=GanSchedule(warmup=2))
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.slow
def test_train_then_resume_continues_the_step_count(tmp_path):
    first = train(_cfg(tmp_path))
    assert (first["start_step"], first["step"]) == (0, 4)
    for name in ("redirector.keras", "sweep.png", "summary.json", "config.json"):
        assert os.path.exists(tmp_path / name)
    ckpts = sorted(p for p in os.listdir(tmp_path / "checkpoints") if p.endswith(".index"))
    assert ckpts == ["ckpt-2.index", "ckpt-4.index"]
    assert first["redirect_gflop_per_image"] > 0 and first["train_gflop_per_pair"] > first["redirect_gflop_per_image"]

    resumed = train(_cfg(tmp_path, steps=8, resume=True, keep_checkpoints=2))
    assert (resumed["start_step"], resumed["step"]) == (4, 8)
    ckpts = sorted(p for p in os.listdir(tmp_path / "checkpoints") if p.endswith(".index"))
    assert ckpts == ["ckpt-6.index", "ckpt-8.index"]
    with open(tmp_path / "summary.json") as fh:
        assert json.load(fh)["step"] == 8
    model = load_redirector(str(tmp_path / "redirector.keras"))
    assert model.image_size == 32


def test_existing_run_is_not_overwritten_silently(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="--resume.*--overwrite"):
        train(_cfg(tmp_path))
    assert (tmp_path / "config.json").read_text() == "{}"


def test_resume_checks_config_and_presence(tmp_path):
    with pytest.raises(ValueError, match="nothing to resume"):
        train(_cfg(tmp_path / "empty", resume=True))
    (tmp_path / "config.json").write_text(json.dumps({"preset": "demo", "batch_size": 4, "data": "synthgaze", "seed": 0}))
    with pytest.raises(ValueError, match="preset"):
        train(_cfg(tmp_path, resume=True))


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(steps=5), "multiple of checkpoint_every"),
        (dict(batch_size=0), "batch_size"),
        (dict(strategy="tpu"), "strategy"),
        (dict(preset="huge"), "preset"),
        (dict(resume=True, overwrite=True), "exclude"),
    ],
)
def test_bad_config_is_rejected(tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        _cfg(tmp_path, **kw)


@pytest.mark.slow
def test_trains_on_a_real_layout_file_with_held_out_persons(tmp_path):
    from tfredirect.data.synthgaze import SynthGaze
    from tfredirect.training.data import split_index
    from tfredirect.data import sources

    h5 = str(tmp_path / "sted.h5")
    SynthGaze(size=32, seed=5, num_persons=60, samples_per_person=4, val_fraction=0.0, test_fraction=0.0).write_h5(h5, "train")
    index = sources.build_index("sted", h5)
    ids = lambda part: {part.persons[p] for p in part.person}
    train_ids, val_ids = ids(split_index(index, "train")), ids(split_index(index, "val"))
    assert val_ids and train_ids and not (train_ids & val_ids)
    summary = train(_cfg(tmp_path / "run", data="sted", data_path=h5, steps=2, checkpoint_every=2))
    assert summary["step"] == 2 and "sted data" in summary["data"]


@pytest.mark.slow
def test_auto_consistency_estimator_is_trained_once_and_reused(tmp_path):
    kw = dict(loss=LossConfig(consistency=5.0), consistency_estimator="auto",
              consistency_estimator_steps=4, steps=2, checkpoint_every=2)
    first = train(_cfg(tmp_path, **kw))
    est = tmp_path / "consistency_estimator" / "estimator.keras"
    assert est.exists() and np.isfinite(first["final_metrics"]["consistency"])
    stamp = os.path.getmtime(est)
    train(_cfg(tmp_path, **{**kw, "steps": 4, "resume": True}))
    assert os.path.getmtime(est) == stamp
    with pytest.raises(ValueError, match="consistency_estimator"):
        train(_cfg(tmp_path / "b", loss=LossConfig(consistency=1.0)))


def _reimplemented_step_flops(gan, batch_size=2):
    """The FLOP count loop.py had before it traced the real train_step: a re-implementation
    of the step without optimizers and estimator (a reference for the test only)."""
    import tensorflow as tf

    from tfredirect import profiling

    s = gan.model_config.image_size
    img, ang = tf.TensorSpec((batch_size, s, s, 3), tf.uint8), tf.TensorSpec((batch_size, 2), tf.float32)

    def step(ia, ga, ha, ib, gb, hb):
        data = dict(image_a=ia, gaze_a=ga, head_a=ha, image_b=ib, gaze_b=gb, head_b=hb)
        kind_a, kind_b, swap = gan._choices(data, batch_size, 0, 0)
        with tf.GradientTape() as tape:
            out = gan.swap_forward(data, kind_a, kind_b, swap)
            terms = gan._generator_terms(out)
            loss = tf.reduce_mean(terms["rec"] + terms["label"] + terms["orth"]) + tf.reduce_mean(gan._critic(out["x_hat"]))
        g = tape.gradient(loss, gan.generator.trainable_variables)
        with tf.GradientTape() as tape:
            d = tf.reduce_mean(gan._critic(out["x"])) - tf.reduce_mean(gan._critic(tf.stop_gradient(out["x_hat"])))
        return g, tape.gradient(d, gan.discriminator.trainable_variables)

    return profiling.count_flops(step, [img, ang, ang, img, ang, ang]) / batch_size


@pytest.mark.slow
def test_train_flops_count_the_real_train_step():
    from tfredirect.config import preset
    from tfredirect.training import loop
    from tfredirect.training.estimation import build_estimator
    from tfredirect.training.gan import RedirectionGAN

    gan = RedirectionGAN(preset("tiny"), seed=0)
    flops = loop.train_flops_per_pair(gan)
    reference = _reimplemented_step_flops(gan)
    # the same networks and passes, plus the optimizer updates and the loss bookkeeping
    assert 1.0 < flops / reference < 1.1, (flops, reference)
    parts = loop.train_step_flops(gan, batch_size=2)
    assert sum(parts.values()) == 2 * flops
    for net in ("encoder", "decoder"):  # backward: gradients of inputs and weights, twice the forward
        assert 1.9 < parts[f"gradient_tape/{net}"] / parts[net] < 2.1, net
    assert parts["adam"] > 0 and parts["discriminator"] > 0
    assert loop.train_flops_per_pair(gan, batch_size=4) == pytest.approx(flops, rel=0.01)

    # a frozen estimator's terms are part of the step (the re-implementation left them out)
    estimator = build_estimator(32)
    judged = RedirectionGAN(preset("tiny"), LossConfig(consistency=1.0, feature=1.0), seed=0, estimator=estimator)
    with_estimator = loop.train_step_flops(judged)
    assert with_estimator[estimator.name] > 0 and with_estimator[f"gradient_tape/{estimator.name}"] > 0
    assert sum(with_estimator.values()) > sum(parts.values()) + with_estimator[estimator.name]


def test_matmul_probe_runs_in_the_requested_dtype():
    from tfredirect import profiling

    for dtype in ("float32", "bfloat16"):
        assert profiling.matmul_rate(n=128, seconds=0.05, dtype=dtype) > 1e6
