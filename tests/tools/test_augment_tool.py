"""tools/augment.py: a real kill and resume (subprocess), refusals and the TFLite path (in process)."""

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
from h5_builders import sted_labels, write_sted  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _sted_file(path, size, counts, seed=0):
    rng = np.random.default_rng(seed)
    groups = {name: (rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
                     sted_labels(rng.uniform(-0.5, 0.5, (n, 2)), rng.uniform(-0.4, 0.4, (n, 2))))
              for name, n in counts.items()}
    return str(write_sted(path, groups))


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def tool_main():
    """tools/augment.py's main(argv), run in this process (no TensorFlow start-up per call)."""
    spec = importlib.util.spec_from_file_location("augment_tool", os.path.join(ROOT, "tools", "augment.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_killed_run_resumes_with_every_sample_exactly_once(tiny_redirector_file, tmp_path):
    data = _sted_file(tmp_path / "train.h5", 32, {"a": 90, "b": 60, "c": 50})  # 200 sources
    out = tmp_path / "aug.h5"
    cmd = [sys.executable, os.path.join(ROOT, "tools", "augment.py"), "--data=sted", f"--data_path={data}",
           f"--checkpoint={tiny_redirector_file}", f"--out={out}", "--per_image=2", "--kind=mixed",
           "--targets=kde", "--seed=9", "--chunk=2"]
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
    common = ["--data=sted", f"--checkpoint={tiny_redirector_file}"]
    cases = [
        ([f"--data_path={data}", f"--out={data}", "--overwrite"], f"--out {data}: {data} is the input file"),
        ([f"--data_path={folder}", f"--out={folder}/aug.h5"], f"inside the input folder {folder}"),
        ([f"--data_path={data}", f"--out={tmp_path}", "--overwrite"], "is a folder holding the input file"),
        ([f"--data_path={data}", f"--out={existing}"], f"--out {existing} exists; pass --overwrite to replace it"),
        ([f"--data_path={data}", f"--out={tmp_path}/x.h5", "--layout=tfrecord"],
         "--layout 'tfrecord': unknown layout; expected one of sted, xgaze, folder"),
        ([f"--data_path={data}", f"--out={tmp_path}/x.h5", "--kind=eyes"], "--kind 'eyes'"),
        ([f"--data_path={data}", f"--out={tmp_path}/x.h5", "--gaze_range=40"], "--gaze_range '40'"),
        ([f"--data_path={tmp_path}/nope.h5", f"--out={tmp_path}/x.h5"], "no such file, folder or glob match"),
        ([f"--data_path={big}", f"--out={tmp_path}/x.h5"],
         "'/a/pixels' row 0: the data has 64x64 images, the model takes 32x32; pass --resize"),
    ]
    for args, message in cases:
        assert tool_main(common + args) == 1, args
        err = capsys.readouterr().err
        assert err.startswith("augment.py: error: ") and message in err, err
    missing = tmp_path / "nope.keras"
    assert tool_main(["--data=sted", f"--data_path={data}", f"--checkpoint={missing}", f"--out={tmp_path}/x.h5"]) == 1
    assert f"--checkpoint {missing}: no such model file" in capsys.readouterr().err
    assert {p: _sha(p) for p in before} == before
    assert sorted(os.listdir(tmp_path)) == listing and sorted(os.listdir(folder)) == ["train.h5"]


def test_tflite_checkpoint_folder_layout_and_a_mismatched_staging(tool_main, tiny_redirector_file, tmp_path,
                                                                  capsys):
    from tfredirect.models import load_redirector
    from tfredirect.serving import export_lib

    model = load_redirector(str(tiny_redirector_file))
    lite = export_lib.export(model, str(tmp_path / "export"), formats="tflite", quantize="none")["tflite_none"]
    data = _sted_file(tmp_path / "train.h5", 32, {"a": 6, "b": 4})
    out = tmp_path / "pngs"
    args = ["--data=sted", f"--data_path={data}", f"--checkpoint={lite}", f"--out={out}", "--layout=folder",
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
