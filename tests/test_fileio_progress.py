"""The shared atomic-write and progress helpers."""

import io
import json
import os
import signal
import subprocess

import pytest

from tfredirect import fileio
from tfredirect.progress import Progress, keras_verbosity


def test_atomic_write_replaces_only_on_success(tmp_path):
    path = tmp_path / "out.json"
    fileio.write_json_atomic(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}

    def failing(tmp):
        with open(tmp, "w") as fh:
            fh.write("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        fileio.write_atomic(path, failing)
    assert json.loads(path.read_text()) == {"a": 1}
    assert sorted(os.listdir(tmp_path)) == ["out.json"]


def test_atomic_write_refuses_existing_and_nan(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("{}")
    with pytest.raises(FileExistsError, match="r.json exists; pass --overwrite"):
        fileio.write_json_atomic(path, {"b": 2}, overwrite=False)
    with pytest.raises(ValueError):
        fileio.write_json_atomic(path, {"b": float("nan")})
    assert path.read_text() == "{}"
    assert fileio.temp_path(str(path)).endswith(".json")


def test_orphan_temps_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.Popen(["sleep", "60"])
    dead.send_signal(signal.SIGKILL)
    assert dead.wait() == -signal.SIGKILL  # reaped: no process has this pid now
    live = subprocess.Popen(["sleep", "60"])
    try:
        names = {f".redirector.tmp-{dead.pid}.keras": "file", f".data.tmp-{dead.pid}": "folder",
                 f".summary.tmp-{live.pid}.json": "file", f".sweep.tmp-{os.getpid()}.png": "file",
                 "redirector.keras": "file", ".tmp-1.keras": "file", "notes.tmp-1.txt": "file"}
        for name, kind in names.items():
            if kind == "folder":
                (tmp_path / name).mkdir()
                (tmp_path / name / "part.png").write_bytes(b"half")
            else:
                (tmp_path / name).write_bytes(b"half")
        removed = fileio.remove_orphan_temps(tmp_path)
        assert sorted(os.path.basename(p) for p in removed) == sorted([f".data.tmp-{dead.pid}",
                                                                       f".redirector.tmp-{dead.pid}.keras"])
        assert sorted(os.listdir(tmp_path)) == sorted(set(names) - {os.path.basename(p) for p in removed})
    finally:
        live.kill()
        live.wait()
    assert fileio.remove_orphan_temps(tmp_path / "missing") == []


def test_progress_lines_without_carriage_returns():
    out = io.StringIO()
    with Progress(10, "render", unit="images", verbose=1, stream=out, every_s=0.0) as p:
        for _ in range(10):
            p.update()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.strip().splitlines()
    assert len(lines) == 10  # one per update; close() does not repeat the last count
    assert lines[-1].startswith("render: 10/10 images 100.0%")
    out = io.StringIO()
    with Progress(10, "render", verbose=2, stream=out, every_s=100.0) as p:
        p.update(10)
    assert out.getvalue().count("10/10") == 1  # the final line, printed once by close()
    out = io.StringIO()
    with Progress(2, "step", verbose=2, stream=out, every_s=0.0) as p:
        p.update(2)
        p.desc = "total"  # a caller that renames the line for its summary gets it printed
    assert [line.split(":")[0] for line in out.getvalue().splitlines()] == ["step", "total"]


def test_progress_silent_and_stopped():
    out = io.StringIO()
    with Progress(5, "x", verbose=0, stream=out) as p:
        p.update(5)
    assert out.getvalue() == ""
    out = io.StringIO()
    with pytest.raises(KeyError):
        with Progress(5, "x", verbose=2, stream=out, every_s=100) as p:
            p.update(2)
            raise KeyError
    assert out.getvalue().strip() == out.getvalue().strip().splitlines()[0]
    assert out.getvalue().rstrip().endswith("(stopped)")
    assert "2/5" in out.getvalue()


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_keras_bar_only_on_a_terminal():
    assert keras_verbosity(1, _Terminal()) == 1
    assert keras_verbosity(1, io.StringIO()) == 2  # a log file gets one line per epoch, no \r
    assert keras_verbosity(0, io.StringIO()) == 0 and keras_verbosity(2, _Terminal()) == 2
