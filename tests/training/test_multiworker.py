"""Multi-worker training: input sharding, and real two-worker tools/train.py jobs on 127.0.0.1.

The two-worker jobs use per-sample choices that do not depend on the replica (--gaze_prob=1,
--id_swap_prob=0), so a step of two workers with half a batch each must equal a step of one
worker with the whole batch: global batch k holds the same pairs whatever the topology.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tfredirect.data import synthgaze
from tfredirect.training.data import build_data
from tfredirect.training.loop import TrainConfig, train
from worker_ports import free_ports  # tests/training, on the path as the test's folder

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT = 300
# Largest weight difference after 6 steps that counts as the same training: the all-reduce
# sums in another order than one device does, which Adam's normalized steps amplify near
# zero gradients (measured: below 1e-5 on an AVX-512 CPU, 1.7e-5 on an AVX2 CPU); a real
# fault (a gradient scaled by the replica count, another batch) moves weights by the
# learning rate's order, 1e-3.
WEIGHT_TOLERANCE = 1e-4
FLAGS = ["--preset=tiny", "--batch_size=4", "--steps=6", "--checkpoint_every=2", "--val_batches=1",
         "--log_every=1", "--gaze_prob=1", "--id_swap_prob=0", "--gan_warmup=2", "--seed=3", "--verbose=0"]


def _context(pipeline, pipelines, replicas):
    return tf.distribute.InputContext(num_input_pipelines=pipelines, input_pipeline_id=pipeline,
                                      num_replicas_in_sync=replicas)


def _take(ds, n):
    it = iter(ds)
    return [{k: v.numpy() for k, v in next(it).items()} for _ in range(n)]


@pytest.mark.slow
def test_input_pipelines_render_only_their_share_of_each_global_batch(tmp_path, monkeypatch):
    rendered = [0]
    render = synthgaze.render

    def counting(identity, gaze, *args, **kwargs):
        rendered[0] += len(gaze)
        return render(identity, gaze, *args, **kwargs)

    monkeypatch.setattr(synthgaze, "render", counting)
    data = build_data(TrainConfig(out_dir=str(tmp_path), preset="tiny", batch_size=8), 32)
    steps = 6
    whole = _take(data.train(None), steps)
    shares, per_step = [], []
    for pipeline in range(2):
        rendered[0] = 0
        shares.append(_take(data.train(_context(pipeline, 2, 2)), steps))
        time.sleep(0.5)  # let the prefetch buffer fill: it is counted too
        per_step.append(rendered[0] / steps)
    for k in range(steps):
        for key in whole[k]:
            np.testing.assert_array_equal(np.concatenate([shares[0][k][key], shares[1][k][key]]), whole[k][key])
    # 4 pairs = 8 images per worker and step, plus at most 3 batches of prefetch over 6 steps
    assert all(8 <= n <= 8 * (steps + 3) / steps for n in per_step), per_step
    # two local replicas of one pipeline take the parts in turn: replica 0 first
    local = _take(data.train(_context(0, 1, 2)), 4)
    np.testing.assert_array_equal(local[2]["image_a"], shares[0][1]["image_a"])
    np.testing.assert_array_equal(local[3]["image_a"], shares[1][1]["image_a"])
    # a resumed run continues with global batch `start_step`
    resumed = _take(build_data(TrainConfig(out_dir=str(tmp_path), preset="tiny", batch_size=8), 32, 4).train(None), 1)
    np.testing.assert_array_equal(resumed[0]["image_b"], whole[4]["image_b"])


@pytest.mark.slow
def test_real_data_pipelines_read_only_their_share(tmp_path, monkeypatch):
    from tfredirect.data import pairs, sources

    h5 = str(tmp_path / "sted.h5")
    synthgaze.SynthGaze(size=32, seed=5, num_persons=20, samples_per_person=4).write_h5(h5, "train")
    index = sources.build_index("sted", h5)
    read, counts = type(index).read, []

    def counting(self, ids, size):
        counts.append(len(ids))
        return read(self, ids, size)

    monkeypatch.setattr(type(index), "read", counting)
    whole = _take(pairs.pair_dataset(index, 32, 8, seed=2), 3)
    counts.clear()
    shares = [_take(pairs.pair_dataset(index, 32, 8, seed=2, shards=2, shard_ids=[i]), 3) for i in range(2)]
    assert set(counts) == {8}  # 4 pairs = 8 images per read, never the whole batch of 16
    for k in range(3):
        for key in whole[k]:
            np.testing.assert_array_equal(np.concatenate([shares[0][k][key], shares[1][k][key]]), whole[k][key])
    later = _take(pairs.pair_dataset(index, 32, 8, seed=2, start=2), 1)
    np.testing.assert_array_equal(later[0]["image_a"], whole[2]["image_a"])


def test_batch_size_not_divisible_by_the_replicas_is_refused(tmp_path):
    cfg = TrainConfig(out_dir=str(tmp_path), preset="tiny", batch_size=5, steps=2, checkpoint_every=2,
                      strategy="mirrored", verbose=0)
    with pytest.raises(ValueError, match=r"--batch_size \(5\) must be divisible by the number of replicas \(2\)"):
        train(cfg)
    assert not os.listdir(tmp_path)


# ---------------------------------------------------------------------- real worker processes
def _start(out_dir, extra, workers, log_dir):
    """Start `workers` tools/train.py processes (one: the default strategy; more: a
    MultiWorkerMirroredStrategy cluster on 127.0.0.1); returns [(process, log path)]."""
    ports = free_ports(workers)
    procs = []
    for i in range(workers):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
        flags = [f"--out_dir={out_dir}", *FLAGS, *extra]
        if workers > 1:
            env["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                                           "task": {"type": "worker", "index": i}})
            flags.append("--strategy=multiworker")
        log = os.path.join(log_dir, f"{os.path.basename(out_dir)}-{i}-{time.monotonic_ns()}.log")
        with open(log, "w") as fh:
            procs.append((subprocess.Popen([sys.executable, "tools/train.py", *flags], cwd=REPO, env=env,
                                           stdout=fh, stderr=subprocess.STDOUT), log))
    return procs


def _kill(procs):
    for proc, _ in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def _finish(procs):
    """Wait for every process; fail with its log if one fails."""
    try:
        deadline = time.monotonic() + TIMEOUT
        for proc, log in procs:
            code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            if code:
                with open(log) as fh:
                    pytest.fail(f"{log} exited with {code}:\n{fh.read()[-4000:]}")
    finally:
        _kill(procs)
    return [open(log).read() for _, log in procs]


def _run(out_dir, extra, workers, log_dir):
    return _finish(_start(out_dir, extra, workers, log_dir))


def _weights(out_dir):
    """Model and optimizer variables of the newest checkpoint in out_dir/checkpoints."""
    reader = tf.train.load_checkpoint(os.path.join(out_dir, "checkpoints"))
    names = [n for n in reader.get_variable_to_shape_map() if n.startswith(("gan/", "g_optimizer/", "d_optimizer/"))
             and "trackers" not in n and "OBJECT_GRAPH" not in n]
    return {n: reader.get_tensor(n) for n in names}


def _max_difference(a, b):
    assert a.keys() == b.keys() and len(a) > 20
    return max(float(np.max(np.abs(np.asarray(a[n], np.float64) - np.asarray(b[n], np.float64)))) for n in a)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A two-worker job with an auto consistency estimator, then a one-worker job with the
    same settings reading that estimator."""
    root = tmp_path_factory.mktemp("multiworker")
    two, one = str(root / "two"), str(root / "one")
    t0 = time.perf_counter()
    logs = _run(two, ["--w_consistency=0.1", "--consistency_estimator=auto", "--consistency_estimator_steps=4"], 2,
                str(root))
    t1 = time.perf_counter()
    estimator = os.path.join(two, "consistency_estimator", "estimator.keras")
    _run(one, ["--w_consistency=0.1", f"--consistency_estimator={estimator}"], 1, str(root))
    print(f"two-worker job {t1 - t0:.1f} s, one-worker job {time.perf_counter() - t1:.1f} s")
    return {"root": root, "two": two, "one": one, "estimator": estimator, "logs": logs}


@pytest.mark.slow
def test_two_workers_train_exactly_like_one_worker_with_the_same_global_batch(runs):
    with open(os.path.join(runs["two"], "summary.json")) as fh:
        summary = json.load(fh)
    assert (summary["replicas"], summary["step"]) == (2, 6)
    assert _max_difference(_weights(runs["two"]), _weights(runs["one"])) < WEIGHT_TOLERANCE
    # the chief alone trained the auto estimator; the worker read it and removed its scratch folder
    assert "training the consistency estimator" in runs["logs"][0]
    assert "training the consistency estimator" not in runs["logs"][1]
    assert not os.path.exists(os.path.join(runs["two"], "workers"))


@pytest.mark.slow
def test_killed_worker_then_resume_continues_from_the_last_checkpoint(runs):
    out = str(runs["root"] / "killed")
    extra = ["--w_consistency=0.1", f"--consistency_estimator={runs['estimator']}"]
    procs = _start(out, extra, 2, str(runs["root"]))
    try:
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(os.path.join(out, "checkpoints", "ckpt-2.index")):
            assert time.monotonic() < deadline and all(p.poll() is None for p, _ in procs), "no checkpoint at step 2"
            time.sleep(0.1)
        assert procs[1][0].poll() is None, "the worker finished before it could be killed"
        os.kill(procs[1][0].pid, signal.SIGKILL)
        procs[1][0].wait(timeout=30)
        try:  # the chief fails on the lost peer or hangs in a collective: the job is restarted
            procs[0][0].wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    finally:
        _kill(procs)
    assert not os.path.exists(os.path.join(out, "summary.json"))
    last = int(tf.train.latest_checkpoint(os.path.join(out, "checkpoints")).rsplit("-", 1)[1])
    assert last in (2, 4)
    _run(out, [*extra, "--resume"], 2, str(runs["root"]))
    with open(os.path.join(out, "summary.json")) as fh:
        summary = json.load(fh)
    assert (summary["start_step"], summary["step"]) == (last, 6)
    # the restarted job replays global batches last+1.. exactly: same weights as an uninterrupted run
    assert _max_difference(_weights(out), _weights(runs["one"])) < WEIGHT_TOLERANCE
    assert not os.path.exists(os.path.join(out, "workers"))
