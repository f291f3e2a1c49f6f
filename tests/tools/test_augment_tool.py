"""tools/augment.py: a real kill and resume (subprocess), refusals, flag parsing and old flag
names, the TFLite path, the quality gate and shards (in process)."""

import collections
import hashlib
import importlib.util
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from tfredirect import augmentation
from tfredirect.data import sources

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data"))
from h5_builders import random_sted_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _sted_file(path, size, counts, seed=0):
    return random_sted_file(path, counts, size, seed)


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def tool_main():
    """tools/augment.py run in this process with `args` (no TensorFlow start-up per call): its
    absl flags are parsed afresh each call, then main runs; returns the exit code."""
    spec = importlib.util.spec_from_file_location("augment_tool", os.path.join(ROOT, "tools", "augment.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def run(args):
        module.F.unparse_flags()
        module.F(["augment.py", *args])
        try:
            return module.main([])
        finally:
            module.F.unparse_flags()

    return run


@pytest.mark.slow
def test_killed_run_resumes_with_every_sample_exactly_once(tiny_redirector_file, tmp_path):
    data = _sted_file(tmp_path / "train.h5", 32, {"a": 90, "b": 60, "c": 50})  # 200 sources
    out = tmp_path / "aug.h5"
    cmd = [sys.executable, os.path.join(ROOT, "tools", "augment.py"), "--data=sted", f"--data_path={data}",
           f"--model={tiny_redirector_file}", f"--out={out}", "--per_image=2", "--kind=mixed",
           "--targets=kde", "--seed=9", "--chunk=2", "--verbose=2"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    deadline = time.monotonic() + 120
    while augmentation.staging_progress(out) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)  # no clean-up of any kind
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    done = augmentation.staging_progress(out)
    assert 0 < done < 200 and not out.exists()

    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"resuming from {out}.partial: {done} of 200 sources already done" in res.stdout
    assert f"wrote 400 samples (200 sources x 2, 3 persons) to {out} in the sted layout" in res.stdout
    assert f"{400 - 2 * done} images generated in" in res.stdout and "images/s (keras" in res.stdout
    assert not os.path.exists(f"{out}.partial")

    with h5py.File(out, "r") as f:
        assert {name: len(f[name]["labels"]) for name in f} == {"a": 180, "b": 120, "c": 100}
        rows = {k: np.concatenate([f[n][k][()] for n in f]) for k in ("labels", "source_index", "copy", "kind")}
    pairs = list(zip(rows["source_index"].tolist(), rows["copy"].tolist()))
    assert len(set(pairs)) == 400 and collections.Counter(rows["source_index"].tolist()) == {i: 2 for i in range(200)}
    # the labels of an uninterrupted run: the draws are a pure function of (seed, source, copy)
    index = sources.build_index("sted", data)
    sampler = augmentation.TargetSampler(kind="mixed", mode="kde", seed=9)
    for (s, k), labels, kind in zip(pairs, rows["labels"], rows["kind"]):
        kinds, tg, th = sampler.draw(np.array([s]), k, index.gaze, index.head)
        assert kind == kinds[0] and np.array_equal(labels[:2], tg[0]) and np.array_equal(labels[2:4], th[0])


def test_refusals_leave_the_input_unchanged_and_write_nothing(tool_main, tiny_redirector_file, tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    data = _sted_file(folder / "train.h5", 32, {"a": 3, "b": 2})
    big = _sted_file(tmp_path / "big.h5", 64, {"a": 2})
    existing = tmp_path / "existing.h5"
    existing.write_bytes(b"keep me")
    before = {p: _sha(p) for p in (data, big, existing)}
    listing = sorted(os.listdir(tmp_path))
    common = ["--data=sted", f"--model={tiny_redirector_file}"]
    cases = [
        ([f"--data_path={data}", f"--out={data}", "--overwrite"], f"--out {data}: {data} is the input file"),
        ([f"--data_path={folder}", f"--out={folder}/aug.h5"], f"inside the input folder {folder}"),
        ([f"--data_path={data}", f"--out={tmp_path}", "--overwrite"], "is a folder holding the input file"),
        ([f"--data_path={data}", f"--out={existing}"], f"--out {existing} exists; pass --overwrite to replace it"),
        ([f"--data_path={data}", f"--out={tmp_path}/x.h5", f"--judge={tmp_path}/judge.keras"],
         f"--judge {tmp_path}/judge.keras: no such estimator file"),
        ([f"--data_path={tmp_path}/nope.h5", f"--out={tmp_path}/x.h5"], "no such file, folder or glob match"),
        ([f"--data_path={big}", f"--out={tmp_path}/x.h5"],
         "'/a/pixels' row 0: the data has 64x64 images, the model takes 32x32; pass --resize"),
    ]
    for args, message in cases:
        assert tool_main(common + args) == 1, args
        err = capsys.readouterr().err
        assert err.startswith("augment.py: error: ") and message in err, err
    missing = tmp_path / "nope.keras"
    assert tool_main(["--data=sted", f"--data_path={data}", f"--model={missing}", f"--out={tmp_path}/x.h5"]) == 1
    assert f"--model {missing}: no such model file" in capsys.readouterr().err
    assert {p: _sha(p) for p in before} == before
    assert sorted(os.listdir(tmp_path)) == listing and sorted(os.listdir(folder)) == ["train.h5"]


@pytest.mark.slow
def test_tflite_checkpoint_folder_layout_and_a_mismatched_staging(tool_main, tiny_redirector_file, tmp_path,
                                                                  capsys):
    from tfredirect.models import load_redirector
    from tfredirect.serving import export_lib

    model = load_redirector(str(tiny_redirector_file))
    lite = export_lib.export(model, str(tmp_path / "export"), formats="tflite", quantize="none")["tflite_none"]
    data = _sted_file(tmp_path / "train.h5", 32, {"a": 6, "b": 4})
    out = tmp_path / "pngs"
    args = ["--data=sted", f"--data_path={data}", f"--model={lite}", f"--out={out}", "--layout=folder",
            "--per_image=3", "--kind=gaze", "--threads=1", "--chunk=4"]
    # an earlier, interrupted run with another seed
    index = sources.build_index("sted", data)
    from tfredirect.lite import LiteRedirector

    backend = augmentation.LiteBackend(LiteRedirector(lite, 1))
    augmentation.augment(index, backend, str(out), 3, augmentation.TargetSampler(kind="gaze", seed=1),
                         layout="folder", chunk=4, stop_after=4)
    assert tool_main(args) == 1
    err = capsys.readouterr().err
    assert f"{out}.partial holds an unfinished run with other parameters (sampler.seed 1 there, 0 now)" in err
    assert "--overwrite" in err and augmentation.staging_progress(out) == 4

    assert tool_main(args + ["--overwrite"]) == 0
    stdout = capsys.readouterr().out
    assert f"wrote 30 samples (10 sources x 3, 2 persons) to {out} in the folder layout" in stdout
    assert "images/s (tflite, 1 threads)" in stdout
    back = sources.build_index("folder", str(out))
    assert len(back) == 30 and set(back.persons) == {"a", "b"}
    assert back.read(np.arange(30), 32).shape == (30, 32, 32, 3)
    # kind gaze: every head label is the source's, every gaze label a new one
    src = np.repeat(np.arange(10), 3)
    assert sorted(map(tuple, back.head.tolist())) == sorted(map(tuple, index.head[src].tolist()))
    assert not np.isin(back.gaze[:, 0], index.gaze[:, 0]).any()


def test_bad_flag_values_are_refused_at_parse_time_naming_the_flag(tool):
    """Before anything is read or TensorFlow starts (absl's one-line parse error, exit code 1)."""
    base = ["--data=sted", "--data_path=in.h5", "--model=m.keras", "--out=o.h5"]
    for args, message in [(["--layout=tfrecord"], "flag --layout=tfrecord: value should be one of"),
                          (["--kind=eyes"], "flag --kind=eyes: value should be one of"),
                          (["--gaze_range_deg=40"], "--gaze_range_deg=40: expected PITCH,YAW in degrees"),
                          (["--head_range=30,95"], "--head_range_deg=30,95: expected PITCH,YAW in degrees"),
                          (["--max_judged_error_deg=5"], "--max_judged_error_deg needs --judge"),
                          (["--num_shards=2", "--shard_index=2"], "--shard_index must be below --num_shards"),
                          (["--per_image=0"], "flag --per_image=0"), (["--verbose=3"], "flag --verbose=3")]:
        result = tool("augment", *base, *args, timeout=60)
        assert result.returncode == 1, args
        assert "FATAL Flags parsing error: " in result.stderr and message in result.stderr, result.stderr


def test_old_flag_names_still_work(tool_main, tiny_redirector_file, tmp_path, capsys):
    """--checkpoint, --gaze_range and --head_range are aliases of --model, --gaze_range_deg and
    --head_range_deg: the same run, the same labels."""
    data = _sted_file(tmp_path / "train.h5", 32, {"a": 3, "b": 2})
    new = ["--data=sted", f"--data_path={data}", f"--model={tiny_redirector_file}", f"--out={tmp_path}/new.h5",
           "--gaze_range_deg=10,20", "--head_range_deg=5,15", "--per_image=2", "--kind=gaze", "--verbose=0"]
    old = ["--data=sted", f"--data_path={data}", f"--checkpoint={tiny_redirector_file}", f"--out={tmp_path}/old.h5",
           "--gaze_range=10,20", "--head_range=5,15", "--per_image=2", "--kind=gaze", "--verbose=0"]
    assert tool_main(new) == 0 and tool_main(old) == 0
    assert "wrote 10 samples (5 sources x 2, 2 persons)" in capsys.readouterr().out
    with h5py.File(tmp_path / "new.h5", "r") as a, h5py.File(tmp_path / "old.h5", "r") as b:
        for g in ("a", "b"):
            np.testing.assert_array_equal(a[g]["labels"][:, :4], b[g]["labels"][:, :4])
            assert np.all(np.abs(a[g]["labels"][:, 0:2]) <= np.radians([10, 20]) + 1e-6)  # the new ranges


def test_judge_gate_and_shards_from_the_command_line(tool_main, tiny_redirector_file, tmp_path, capsys):
    """Two shards with a judge and a threshold: each prints what it dropped and the glob; read
    together they hold every kept copy once, with the judged errors."""
    from tfredirect.training.estimation import build_estimator

    judge = tmp_path / "judge.keras"
    build_estimator(32, seed=3).save(str(judge))
    data = _sted_file(tmp_path / "train.h5", 32, {"a": 5, "b": 4})
    out = tmp_path / "aug.h5"
    dropped = 0
    for i in range(2):
        args = ["--data=sted", f"--data_path={data}", f"--model={tiny_redirector_file}", f"--out={out}",
                "--per_image=2", f"--judge={judge}", "--max_judged_error_deg=40", "--num_shards=2",
                f"--shard_index={i}", "--verbose=0"]
        assert tool_main(args) == 0
        stdout = capsys.readouterr().out
        shard = tmp_path / f"aug-0000{i}-of-00002.h5"
        assert f"to {shard} in the sted layout" in stdout
        assert f"read all shards with --data=sted --data_path='{tmp_path}/aug-*-of-00002.h5'" in stdout
        with h5py.File(shard, "r") as f:
            assert f.attrs["shard"] == f"{i}/2" and f.attrs["max_judged_error_deg"] == 40.0
            dropped += int(f.attrs["dropped_by_gate"])
            assert f"judged every copy with {judge}: {f.attrs['dropped_by_gate']} dropped above 40 deg" in stdout
            for g in f:
                assert np.maximum(f[g]["judged_gaze_error_deg"][()], f[g]["judged_head_error_deg"][()]).max() <= 40
    index = sources.build_index("sted", str(tmp_path / "aug-*-of-00002.h5"))
    assert 0 < dropped < 18 and len(index) == 18 - dropped
