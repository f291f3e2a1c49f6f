"""tools/export.py --overwrite is atomic: a SIGKILL at any phase leaves the old or the new
export whole, and the next export removes what killed ones left behind (issue 11)."""

import fcntl
import json
import os
import shutil
import signal
import time
import types

import pytest

from tfredirect.serving import export_lib

FAKE = types.SimpleNamespace(image_size=32, config=types.SimpleNamespace(to_dict=lambda: {"fake": True}))


def _fake_saved_model(tag, kill_midway=False):
    """A write_saved_model that writes a two-file folder tagged `tag`, optionally dying half-way."""

    def write(redirector, path):
        os.makedirs(path)
        with open(os.path.join(path, "a.txt"), "w") as fh:
            fh.write(tag)
        if kill_midway:
            os.kill(os.getpid(), signal.SIGKILL)
        with open(os.path.join(path, "b.txt"), "w") as fh:
            fh.write(tag)
        return path

    return write


def _export(out, tag):
    """Export with the fake writer in this process."""
    export_lib.write_saved_model = _fake_saved_model(tag)
    return export_lib.export(FAKE, str(out), formats="saved_model", overwrite=True)


def _killed_export(out, tag, phase):
    """Run an --overwrite export of `tag` in a forked child that SIGKILLs itself at `phase`."""
    pid = os.fork()
    if pid == 0:
        try:
            real_exchange, real_rmtree, real_replace = export_lib._exchange, shutil.rmtree, os.replace
            export_lib.write_saved_model = _fake_saved_model(tag, kill_midway=phase == "writing")
            if phase == "before_install":
                export_lib.install = lambda tmp, out_dir: os.kill(os.getpid(), signal.SIGKILL)
            if phase == "after_exchange":
                def exchange(a, b):
                    real_exchange(a, b)
                    os.kill(os.getpid(), signal.SIGKILL)
                export_lib._exchange = exchange
            if phase == "deleting_old":
                def rmtree(path, *args, **kwargs):
                    os.remove(os.path.join(path, "export.json"))
                    os.kill(os.getpid(), signal.SIGKILL)
                export_lib.shutil.rmtree = rmtree
            if phase in ("between_renames", "fallback_done"):
                export_lib._exchange = lambda a, b: False
                calls = []

                def replace(a, b):
                    calls.append(a)
                    if phase == "between_renames" and len(calls) == 2:
                        os.kill(os.getpid(), signal.SIGKILL)
                    real_replace(a, b)
                export_lib.os.replace = replace
            export_lib.export(FAKE, str(out), formats="saved_model", overwrite=True)
            if phase == "fallback_done":
                os._exit(0)
            real_rmtree(str(out), ignore_errors=True)
        finally:
            os._exit(3)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            pytest.fail(f"export child hung at phase {phase}")
        time.sleep(0.05)


def _whole(out):
    """The tag of a complete export at `out`: every file export.json lists is there."""
    with open(os.path.join(out, "export.json")) as fh:
        meta = json.load(fh)
    for rel in meta["files"].values():
        assert os.path.exists(os.path.join(out, rel)), f"export.json lists {rel}, which is gone"
    tags = {open(os.path.join(out, "saved_model", n)).read() for n in ("a.txt", "b.txt")}
    assert len(tags) == 1
    return tags.pop()


def _hidden(parent):
    return sorted(n for n in os.listdir(parent) if n.startswith(".export-"))


@pytest.fixture
def restore_module():
    saved = (export_lib.write_saved_model, export_lib.install, export_lib._exchange)
    yield
    export_lib.write_saved_model, export_lib.install, export_lib._exchange = saved


@pytest.mark.parametrize("phase, survivor, leftovers", [
    ("writing", "old", 1), ("before_install", "old", 1), ("after_exchange", "new", 1),
    ("deleting_old", "new", 1), ("fallback_done", "new", 0)])
def test_sigkill_at_each_phase_leaves_a_whole_export_and_the_next_run_cleans_up(
        tmp_path, restore_module, phase, survivor, leftovers):
    out = tmp_path / "exp"
    _export(out, "old")
    status = _killed_export(out, "new", phase)
    if phase == "fallback_done":
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    else:
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert _whole(out) == survivor
    assert len(_hidden(tmp_path)) == leftovers
    _export(out, "third")
    assert _whole(out) == "third"
    assert _hidden(tmp_path) == []


def test_a_kill_between_the_fallback_renames_is_repaired_by_the_next_run(tmp_path, restore_module):
    out = tmp_path / "exp"
    _export(out, "old")
    status = _killed_export(out, "new", "between_renames")
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert not out.exists() and any(n.endswith(".old") for n in _hidden(tmp_path))
    export_lib.clean_stale(str(out))
    assert _whole(out) == "old"
    assert _hidden(tmp_path) == []


def test_the_exchange_keeps_the_target_in_place_throughout(tmp_path, restore_module):
    out = tmp_path / "exp"
    _export(out, "old")
    seen = []
    real = export_lib._exchange

    def exchange(a, b):
        seen.append(_whole(out))
        assert real(a, b)
        seen.append(_whole(out))
        return True

    export_lib._exchange = exchange
    _export(out, "new")
    assert seen == ["old", "new"]
    assert _whole(out) == "new" and _hidden(tmp_path) == []


def test_a_live_exports_temporary_folder_is_not_removed(tmp_path, restore_module):
    out = tmp_path / "exp"
    live = tmp_path / ".export-exp-live1234"
    live.mkdir()
    (live / "partial").write_text("x")
    stale = tmp_path / ".export-other-dead1234"
    stale.mkdir()
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        _export(out, "new")
    finally:
        os.close(fd)
    assert _hidden(tmp_path) == [live.name]
    assert (live / "partial").read_text() == "x"


@pytest.mark.slow
def test_real_export_overwrite_replaces_and_cleans(tiny_redirector, tmp_path):
    out = tmp_path / "exp"
    export_lib.export(tiny_redirector, str(out), formats="saved_model")
    (tmp_path / ".export-exp-killed00").mkdir()
    (tmp_path / ".export-exp-killed00" / "saved_model").mkdir()
    export_lib.export(tiny_redirector, str(out), formats="saved_model", overwrite=True)
    assert sorted(os.listdir(out)) == ["export.json", "saved_model"]
    assert _hidden(tmp_path) == []
