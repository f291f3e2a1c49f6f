"""Two augmentation runs on one output: the existence check is repeated under the lock, the
finished output is never replaced without --overwrite, and a staging folder left beside a
finished output is mentioned, not redone (issue 11, item 12)."""

import os
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from tfredirect import augmentation
from tfredirect.augmentation import KerasBackend, TargetSampler, staging
from tfredirect.data import sources

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data"))
from h5_builders import random_sted_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SENTINEL = b"finished output of another run"


@pytest.fixture(scope="module")
def backend(tiny_redirector):
    return KerasBackend(tiny_redirector)


@pytest.fixture
def data(tmp_path):
    path = random_sted_file(tmp_path / "in.h5", {"a": 10, "b": 6})
    return sources.build_index("sted", path)


def _augment(index, backend, out, **kwargs):
    return augmentation.augment(index, backend, str(out), 2, TargetSampler(seed=1), chunk=4, **kwargs)


def test_an_output_finished_before_the_lock_is_taken_is_not_replaced(data, backend, tmp_path, monkeypatch):
    out = tmp_path / "aug.h5"
    real_lock = staging.StagingLock

    class LateLock(real_lock):
        def __init__(self, staging):
            out.write_bytes(SENTINEL)  # the other run finishes between the first check and the lock
            super().__init__(staging)

    monkeypatch.setattr(staging, "StagingLock", LateLock)
    with pytest.raises(ValueError, match=r"aug\.h5 exists; pass --overwrite"):
        _augment(data, backend, out)
    assert out.read_bytes() == SENTINEL
    assert not os.path.exists(f"{out}.partial")


def test_an_output_appearing_during_the_run_is_kept_and_so_is_the_work(data, backend, tmp_path):
    out = tmp_path / "aug.h5"

    def progress(done, total):
        if done and not out.exists():
            out.write_bytes(SENTINEL)

    with pytest.raises(ValueError, match=r"appeared while this run was writing it.*pass --overwrite"):
        _augment(data, backend, out, progress=progress)
    assert out.read_bytes() == SENTINEL
    assert augmentation.staging_progress(out) == 16
    messages = []
    info = _augment(data, backend, out, overwrite=True, log=messages.append)
    assert info["new_images"] == 0 and f"resuming from {out}.partial: 16 of 16 sources already done" in messages
    with h5py.File(out, "r") as f:
        assert sum(len(f[g]["labels"]) for g in f) == 32
    assert not os.path.exists(f"{out}.partial")


def test_a_staging_folder_left_beside_a_finished_output_is_mentioned_not_redone(data, backend, tmp_path):
    out = tmp_path / "aug.h5"
    _augment(data, backend, out)
    before = out.read_bytes()
    partial = _augment(data, backend, out, overwrite=True, stop_after=4)  # a killed --overwrite rerun
    assert not partial["complete"] and augmentation.staging_progress(out) == 4
    with pytest.raises(ValueError, match=rf"aug\.h5 exists; pass --overwrite to replace it \({out}\.partial is left "
                                         r"from another run, 4 of 16 sources done: it is not redone"):
        _augment(data, backend, out)
    assert out.read_bytes() == before and augmentation.staging_progress(out) == 4


@pytest.mark.slow
@pytest.mark.parametrize("start_second", ["together", "when_the_first_has_progress"])
def test_two_processes_on_one_output_leave_the_winners_output(tiny_redirector_file, tmp_path, start_second):
    data = random_sted_file(tmp_path / "in.h5", {"a": 40, "b": 20})
    out = tmp_path / "aug.h5"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)

    def start(per_image):
        cmd = [sys.executable, os.path.join(ROOT, "tools", "augment.py"), "--data=sted", f"--data_path={data}",
               f"--checkpoint={tiny_redirector_file}", f"--out={out}", f"--per_image={per_image}", "--chunk=4",
               "--threads=1"]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)

    first = start(3)
    if start_second == "when_the_first_has_progress":
        deadline = time.monotonic() + 120
        while augmentation.staging_progress(out) == 0 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    second = start(1)
    results = {3: first.communicate(timeout=300), 1: second.communicate(timeout=300)}
    codes = {3: first.returncode, 1: second.returncode}
    assert sorted(codes.values()) == [0, 1], (codes, results)
    winner = next(k for k, c in codes.items() if c == 0)
    loser_err = results[4 - winner][1]
    refusals = ("another augmentation run is writing this output", "exists; pass --overwrite",
                "holds an unfinished run with other parameters")
    assert any(r in loser_err for r in refusals), loser_err
    assert "Traceback" not in loser_err
    with h5py.File(out, "r") as f:
        assert sum(len(f[g]["labels"]) for g in f) == 60 * winner
    assert not os.path.exists(f"{out}.partial")
