"""What train() writes, refuses, removes and keeps across fresh runs, --overwrite and --resume."""

import dataclasses
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfredirect.config import GanSchedule, LossConfig
from tfredirect.training import loop
from tfredirect.training.loop import PiecewiseCosine, TrainConfig, train

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FINAL = ("redirector.keras", "sweep.png", "summary.json")


def _cfg(out_dir, **kw):
    base = dict(out_dir=str(out_dir), preset="tiny", batch_size=4, steps=2, checkpoint_every=2, val_batches=1,
                log_every=1, verbose=0, gan=GanSchedule(warmup=2))
    base.update(kw)
    return TrainConfig(**base)


def _strict_json(path):
    with open(path) as fh:
        return json.load(fh, parse_constant=lambda c: pytest.fail(f"{path} holds {c}, which is not JSON"))


def _snapshot(run):
    """Every file under `run` with its bytes."""
    out = {}
    for path in sorted(glob.glob(os.path.join(run, "**"), recursive=True)):
        if os.path.isfile(path):
            with open(path, "rb") as fh:
                out[os.path.relpath(path, run)] = fh.read()
    return out


def _scalars(log_dir, tag):
    """{step: value} of a scalar written by keras' TensorBoard callback under log_dir."""
    values = {}
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == tag:
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    return values


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 2-step run on a tiny sted-layout file (so tests can break its data path)."""
    from tfredirect.data.synthgaze import SynthGaze

    root = tmp_path_factory.mktemp("finished")
    h5 = str(root / "sted.h5")
    SynthGaze(size=32, seed=5, num_persons=60, samples_per_person=4, val_fraction=0.0,
              test_fraction=0.0).write_h5(h5, "train")
    cfg = _cfg(root / "run", data="sted", data_path=h5)
    summary = train(cfg)
    return {"run": str(root / "run"), "h5": h5, "summary": summary, "cfg": cfg}


def _copy(finished, tmp_path):
    run = str(tmp_path / "run")
    shutil.copytree(finished["run"], run)
    return run


@pytest.mark.slow
def test_short_run_writes_valid_json_and_no_third_optimizer(finished):
    run = finished["run"]
    summary = _strict_json(os.path.join(run, "summary.json"))
    # 2 steps < the 5 warm-up batches Throughput skips: not measured, written as null
    assert summary["step"] == 2 and summary["train_pairs_per_second"] is None
    assert summary["fraction_of_matmul_rate"] is None and summary["matmul_gflop_per_second"] > 0
    assert summary["matmul_dtype"] == "float32"  # the probe runs in the run's compute dtype
    assert all(v is None or np.isfinite(v) for v in summary["final_metrics"].values())
    # the resolved config, as in config.json, from which the run can be repeated
    assert summary["config"] == _strict_json(os.path.join(run, "config.json"))
    assert TrainConfig.from_dict(summary["config"]) == dataclasses.replace(finished["cfg"], lr_segments=[[0, 2]])
    # no RMSprop from keras' default compile: nothing stored under the GAN's own optimizer
    keys = [name for name, _ in tf.train.list_variables(os.path.join(run, "checkpoints", "ckpt-2"))]
    assert keys and not [k for k in keys if k.startswith("gan/optimizer/")]
    assert int(tf.train.load_variable(os.path.join(run, "checkpoints", "ckpt-2"), loop._STEP_KEY)) == 2
    # TensorBoard: evaluation at the generator step (not 0), the generator's cosine rate
    evaluation = _scalars(os.path.join(run, "logs", "validation"), "evaluation_rec_vs_iterations")
    assert list(evaluation) == [2]
    rate = _scalars(os.path.join(run, "logs", "train"), "epoch_learning_rate")  # at the generator step
    assert rate == {2: pytest.approx(0.05 * 1.5e-3, rel=1e-5)}  # end of the cosine: alpha * g_lr


def test_compiled_gan_has_no_default_optimizer():
    from tfredirect.config import preset
    from tfredirect.training.gan import RedirectionGAN

    gan = RedirectionGAN(preset("tiny"))
    gan.compile()
    assert gan.optimizer is gan.g_optimizer and gan.g_optimizer.built
    with pytest.raises(ValueError, match="g_optimizer and d_optimizer"):
        gan.compile(optimizer="rmsprop")


@pytest.mark.slow
def test_resume_off_the_checkpoint_grid_stops_at_steps_and_cleans_up(finished, tmp_path):
    run = _copy(finished, tmp_path)
    os.makedirs(os.path.join(run, "checkpoints", "ckpt-7_temp"))  # a killed checkpoint write
    with open(os.path.join(run, "checkpoints", "ckpt-7_temp", "part-00000-of-00001.data-00000-of-00001"), "w") as fh:
        fh.write("half")
    cfg = _cfg(run, data="sted", data_path=finished["h5"], steps=3, checkpoint_every=3, resume=True)
    summary = train(cfg)
    assert (summary["start_step"], summary["step"]) == (2, 3)
    ckpts = sorted(p for p in os.listdir(os.path.join(run, "checkpoints")) if p.endswith(".index"))
    assert ckpts == ["ckpt-2.index", "ckpt-3.index"]
    assert not glob.glob(os.path.join(run, "checkpoints", "*_temp*"))
    # the old config is kept beside the new one; the schedule gained a piece from step 2
    assert _strict_json(os.path.join(run, "config-2.json"))["steps"] == 2
    new = _strict_json(os.path.join(run, "config.json"))
    assert (new["steps"], new["checkpoint_every"], new["lr_segments"]) == (3, 3, [[0, 2], [2, 3]])


@pytest.mark.slow
def test_resume_of_a_finished_run_deletes_nothing(finished, tmp_path):
    run = _copy(finished, tmp_path)
    before = _snapshot(run)
    with pytest.raises(ValueError, match="already at step 2 >= --steps 2"):
        train(_cfg(run, data="sted", data_path=finished["h5"], resume=True))
    # data gone since the run: refused before the finished model is removed
    cfg = _cfg(run, data="sted", data_path=str(tmp_path / "moved.h5"), steps=4, resume=True)
    old = _strict_json(os.path.join(run, "config.json"))
    with open(os.path.join(run, "config.json"), "w") as fh:
        json.dump({**old, "data_path": cfg.data_path}, fh)
    before = _snapshot(run)
    with pytest.raises((ValueError, OSError), match="moved.h5"):
        train(cfg)
    assert _snapshot(run) == before


@pytest.mark.slow
def test_resume_of_a_run_killed_while_writing_its_outputs_writes_them(finished, tmp_path):
    from tfredirect.models import load_redirector

    run = _copy(finished, tmp_path)
    for name in ("sweep.png", "summary.json"):
        os.remove(os.path.join(run, name))
    ckpt_files = sorted(os.listdir(os.path.join(run, "checkpoints")))
    summary = train(_cfg(run, data="sted", data_path=finished["h5"], resume=True))
    assert (summary["start_step"], summary["step"]) == (2, 2)
    assert sorted(os.listdir(os.path.join(run, "checkpoints"))) == ckpt_files  # nothing trained
    assert set(summary["final_metrics"]) == {"val_rec", "val_gaze_err", "val_head_err", "val_psnr"}
    assert _strict_json(os.path.join(run, "summary.json"))["step"] == 2
    assert os.path.getsize(os.path.join(run, "sweep.png")) > 0
    assert load_redirector(os.path.join(run, "redirector.keras")).image_size == 32


# Writes `argv[1]` as train() writes redirector.keras, stopping halfway to be killed.
HALF_WRITER = """import sys, time
from tfredirect import fileio
def half(tmp):
    with open(tmp, "wb") as fh:
        fh.write(b"PK half a model")
    print(tmp, flush=True)
    time.sleep(600)
fileio.write_atomic(sys.argv[1], half)
"""


@pytest.mark.slow
def test_resume_after_a_kill_while_writing_the_model_removes_the_dead_writers_temp(finished, tmp_path):
    from tfredirect.models import load_redirector

    run = _copy(finished, tmp_path)
    for name in FINAL:
        os.remove(os.path.join(run, name))
    writer = subprocess.Popen([sys.executable, "-c", HALF_WRITER, os.path.join(run, "redirector.keras")],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    dead_temp = writer.stdout.readline().strip()
    writer.send_signal(signal.SIGKILL)  # no clean-up of any kind
    assert writer.wait() == -signal.SIGKILL
    writer.stdout.close()
    assert dead_temp == os.path.join(run, f".redirector.tmp-{writer.pid}.keras") and os.path.isfile(dead_temp)
    live = subprocess.Popen(["sleep", "600"])  # a writer still at work: its temp is kept
    live_temp = os.path.join(run, f".sweep.tmp-{live.pid}.png")
    try:
        with open(live_temp, "wb") as fh:
            fh.write(b"half a picture")
        summary = train(_cfg(run, data="sted", data_path=finished["h5"], resume=True))
        assert not os.path.exists(dead_temp) and os.path.isfile(live_temp)
    finally:
        live.kill()
        live.wait()
    assert (summary["start_step"], summary["step"]) == (2, 2)
    assert sorted(n for n in os.listdir(run) if n.startswith(".")) == [os.path.basename(live_temp)]
    assert all(os.path.getsize(os.path.join(run, name)) > 0 for name in FINAL)
    assert _strict_json(os.path.join(run, "summary.json"))["step"] == 2
    assert load_redirector(os.path.join(run, "redirector.keras")).image_size == 32

@pytest.mark.slow
def test_overwrite_validates_before_removing_and_clears_the_estimator(finished, tmp_path):
    run = _copy(finished, tmp_path)
    os.makedirs(os.path.join(run, "consistency_estimator"))
    with open(os.path.join(run, "consistency_estimator", "estimator.keras"), "w") as fh:
        fh.write("an earlier run's judge")
    before = _snapshot(run)
    bad = [
        (dict(data="sted", data_path=str(tmp_path / "typo.h5")), "typo.h5"),
        (dict(loss=LossConfig(consistency=1.0), consistency_estimator=str(tmp_path / "none.keras")), "none.keras"),
        (dict(loss=LossConfig(consistency=1.0), consistency_estimator=os.path.join(run, "consistency_estimator",
                                                                                     "estimator.keras")), "copy it"),
    ]
    for kw, message in bad:
        with pytest.raises((ValueError, OSError), match=message):
            train(_cfg(run, overwrite=True, **kw))
        assert _snapshot(run) == before
    summary = train(_cfg(run, overwrite=True, seed=3))
    assert summary["step"] == 2
    assert not os.path.exists(os.path.join(run, "consistency_estimator"))
    assert _strict_json(os.path.join(run, "config.json"))["seed"] == 3


def test_rejected_fresh_run_writes_nothing(tmp_path):
    run = tmp_path / "new"
    with pytest.raises((ValueError, OSError), match="typo.h5"):
        train(_cfg(run, data="sted", data_path=str(tmp_path / "typo.h5")))
    assert not run.exists()


def test_resume_names_every_changed_setting_and_allows_bookkeeping(tmp_path):
    old = _cfg(tmp_path, steps=4).to_dict()
    old["lr_segments"] = [[0, 4]]
    (tmp_path / "config.json").write_text(json.dumps(old))
    (tmp_path / "redirector.keras").write_text("finished model")
    changed = _cfg(tmp_path, steps=2, g_lr=1e-3, loss=LossConfig(adv=2.0), resume=True)
    with pytest.raises(ValueError) as err:
        train(changed)
    message = str(err.value)
    for diff in ("g_lr 0.0015->0.001", "loss.adv 1.0->2.0", "steps 4->2"):
        assert diff in message
    assert "seed" not in message and "checkpoint_every" in message  # named among what may change
    # longer --steps and other bookkeeping pass the config check (then: no checkpoint yet)
    with pytest.raises(ValueError, match="no checkpoint"):
        train(_cfg(tmp_path, steps=8, checkpoint_every=4, keep_checkpoints=1, log_every=3, val_batches=2,
                   verbose=2, resume=True))
    assert json.loads((tmp_path / "config.json").read_text()) == old
    assert (tmp_path / "redirector.keras").read_text() == "finished model"


def test_resume_reads_the_config_json_of_older_runs(tmp_path):
    """Runs made before the loss section was split kept the adversarial schedule and the swap
    probabilities in `loss`: the same settings pass, a changed one is named by today's field."""
    old = _cfg(tmp_path, steps=4).to_dict()
    swap = old.pop("swap")  # the older layout had the two probabilities of that time in `loss`
    old["loss"].update(gan_start=old["gan"]["start"], gan_warmup=old.pop("gan")["warmup"],
                       gaze_prob=swap["gaze_prob"], id_swap_prob=swap["id_swap_prob"])
    old["lr_segments"] = [[0, 4]]
    (tmp_path / "config.json").write_text(json.dumps(old))
    with pytest.raises(ValueError, match="no checkpoint"):  # past the config check
        train(_cfg(tmp_path, steps=4, resume=True))
    old["loss"].update(gan_start=3, gaze_prob=0.25)
    (tmp_path / "config.json").write_text(json.dumps(old))
    with pytest.raises(ValueError) as err:
        train(_cfg(tmp_path, steps=4, resume=True))
    assert "gan.start 3->0" in str(err.value) and "swap.gaze_prob 0.25->0.5" in str(err.value)
    assert "loss.gan_start" not in str(err.value)


def test_piecewise_cosine_is_keras_cosine_then_continues_without_a_jump():
    keras_cos = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=100, alpha=0.05)
    one = PiecewiseCosine(1e-3, [[0, 100]], alpha=0.05)
    steps = np.arange(0, 121, 7)
    np.testing.assert_allclose([float(one(s)) for s in steps], [float(keras_cos(s)) for s in steps], rtol=1e-6)
    # killed at 60 of 100, resumed with --steps=200: the same rate at 60, then down to the floor at 200
    ext = PiecewiseCosine(1e-3, [[0, 100], [60, 200]], alpha=0.05)
    rates = np.array([float(ext(s)) for s in range(0, 230)])
    np.testing.assert_allclose(rates[:61], [float(keras_cos(s)) for s in range(61)], rtol=1e-6)
    assert abs(rates[61] - rates[60]) < 1e-7 and np.all(np.diff(rates) <= 1e-12)
    assert rates[60] == pytest.approx(float(keras_cos(60)), rel=1e-6) and rates[60] > 3e-4
    np.testing.assert_allclose(rates[200:], 0.05e-3, rtol=1e-5)
    assert PiecewiseCosine.from_config(ext.get_config()).segments == [[0, 100], [60, 200]]


def test_lr_segments_extend_once(tmp_path):
    cfg = _cfg(tmp_path, steps=10, resume=True)
    assert loop._lr_segments(_cfg(tmp_path), None, 0) == [[0, 2]]
    assert loop._lr_segments(cfg, {"steps": 6}, 4) == [[0, 6], [4, 10]]  # a config from before lr_segments
    assert loop._lr_segments(cfg, {"steps": 10, "lr_segments": [[0, 6], [4, 10]]}, 4) == [[0, 6], [4, 10]]


@pytest.mark.parametrize("gpus, expected", [([], "CPU:0"), (["GPU"], "GPU:0")])
def test_one_device_prefers_the_first_gpu(monkeypatch, gpus, expected):
    real = tf.config.list_logical_devices

    def devices(kind=None):
        if kind == "GPU":
            return [tf.config.LogicalDevice(name="/device:GPU:0", device_type="GPU")] if gpus else []
        return real(kind)

    monkeypatch.setattr(tf.config, "list_logical_devices", devices)
    strategy = loop.make_strategy("one_device")
    assert strategy.extended.worker_devices[0].endswith(expected)


@pytest.mark.slow
def test_ctrl_c_says_how_to_continue(tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, os.path.join(ROOT, "tools", "train.py"), "--preset=tiny", "--batch_size=4", "--steps=2000",
           "--checkpoint_every=2", "--val_batches=1", "--verbose=0", f"--out_dir={run}"]
    # output to files, not pipes: nothing the child writes can block it while we wait. Ctrl-C
    # as a terminal gives it: a test run started in the background of a non-interactive shell
    # (`cmd &`) inherits an ignored SIGINT, which Python keeps ignoring, so reset it to default.
    with open(tmp_path / "out.txt", "w") as out_fh, open(tmp_path / "err.txt", "w") as err_fh:
        proc = subprocess.Popen(cmd, stdout=out_fh, stderr=err_fh, text=True, cwd=ROOT,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    log = lambda: (tmp_path / "out.txt").read_text() + (tmp_path / "err.txt").read_text()  # noqa: E731
    deadline = time.time() + 300
    while not glob.glob(str(run / "checkpoints" / "ckpt-*.index")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    if proc.poll() is not None or not glob.glob(str(run / "checkpoints" / "ckpt-*.index")):
        proc.kill()
        pytest.fail(f"train.py wrote no checkpoint in 300 s (exit {proc.wait()}):\n{log()[-3000:]}")
    # SIGUSR1 prints the stacks on stderr and the run goes on. The main thread's stack, printed
    # last, ends in train.py, unless the run is deep in an import (faulthandler prints at most 100
    # frames): ask again each second until one dump reaches train.py.
    stacks = time.time() + 30
    while not ("most recent call first" in log() and "train.py" in log()) and time.time() < stacks:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(1.0)
    assert "most recent call first" in log() and "train.py" in log() and proc.poll() is None
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)  # train.py dumps every thread's stack to stderr
        time.sleep(3)
        proc.kill()
        proc.wait()
        pytest.fail(f"train.py did not stop within 120 s of Ctrl-C; its stacks:\n{log()[-8000:]}")
    out, err = (tmp_path / "out.txt").read_text(), (tmp_path / "err.txt").read_text()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Traceback" not in out
    lines = [line for line in err.splitlines() if line.startswith("train.py:")]
    assert lines == [f"train.py: interrupted; continue from the last checkpoint in {run} with --resume (same flags)"]
