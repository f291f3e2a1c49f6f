"""Crash-safe file writes shared by every tool: write beside the target, fsync, rename in.

A reader never sees a half-written file, and an existing output is replaced only when the
caller says so (the tools' `--overwrite`)."""

import contextlib
import json
import os
import re
import shutil

_TEMP_RE = re.compile(r"^\..+\.tmp-(\d+)(\.[^.]+)?$")  # temp_path's names: .<stem>.tmp-<pid><ext>


def refuse_existing(path, overwrite, flag="--overwrite"):
    """Raise FileExistsError naming `path` when it exists and `overwrite` is false."""
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass {flag} to replace it")


def is_within(path, folder):
    """True when `path` is `folder` or lies under it, links and relative parts resolved."""
    path, folder = (os.path.realpath(os.path.abspath(os.fspath(p))) for p in (path, folder))
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def temp_path(path):
    """A temporary name in `path`'s folder that keeps its extension (Keras and numpy check it)."""
    folder, name = os.path.split(os.fspath(path))
    stem, ext = os.path.splitext(name)
    return os.path.join(folder, f".{stem}.tmp-{os.getpid()}{ext}")


def _process_alive(pid):
    """True unless no process `pid` exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphan_temps(folder):
    """Remove the temporary files (or folders) of `temp_path` in `folder` whose writer process
    is gone: a write killed before its rename leaves one for ever. A live writer's temp is
    kept, so a concurrent write is never broken. Returns the removed paths."""
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for name in sorted(os.listdir(folder)):
            m = _TEMP_RE.match(name)
            if m and not _process_alive(int(m.group(1))):
                path = os.path.join(folder, name)
                shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)
                removed.append(path)
    return removed


def fsync_path(path):
    """Flush a file (or a folder's entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path, overwrite=True, flag="--overwrite"):
    """Yield a temporary path to write; on success it is fsynced and renamed to `path`.

    On an exception the temporary file is removed and `path` is left as it was."""
    path = os.fspath(path)
    refuse_existing(path, overwrite, flag)
    tmp = temp_path(path)
    try:
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_atomic(path, writer, overwrite=True, flag="--overwrite"):
    """Call `writer(tmp_path)`, then rename the result to `path`; returns `path`."""
    with atomic_path(path, overwrite, flag) as tmp:
        writer(tmp)
    return path


def write_text_atomic(path, text, overwrite=True, flag="--overwrite"):
    def writer(tmp):
        with open(tmp, "w") as fh:
            fh.write(text)
    return write_atomic(path, writer, overwrite, flag)


def write_json_atomic(path, obj, overwrite=True, flag="--overwrite"):
    """JSON with `allow_nan=False`, so a NaN can never reach a results file unnoticed."""
    return write_text_atomic(path, json.dumps(obj, indent=2, allow_nan=False) + "\n", overwrite, flag)
