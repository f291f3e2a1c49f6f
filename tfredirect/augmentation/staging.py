"""Crash-safe staging of an augmentation run in the folder `<out>.partial`.

`run.json` holds the run's parameters (what makes two runs produce the same output); each
finished chunk of sources is one h5 file `chunk_<start>_<stop>.h5` (global source indices),
written beside, fsynced and renamed in (fileio.atomic_path). A run killed at any moment
(even SIGKILL) leaves only complete chunks, and the next run with the same parameters
continues after the last one of the contiguous chain from its first source. A `.lock`
(flock) keeps two runs from writing one output.
"""

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil

import h5py
import numpy as np

from tfredirect import fileio

STAGING_SUFFIX = ".partial"
MANIFEST = "run.json"
_CHUNK_RE = re.compile(r"^chunk_(\d{10})_(\d{10})\.h5$")


def fingerprint(arrays):
    """sha256 hex digest of arrays (dtype, shape and bytes)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def staging_path(out):
    """The staging folder of an output path."""
    return os.fspath(out) + STAGING_SUFFIX


def read_manifest(staging):
    """The staging folder's run.json as a dict ({} when there is none)."""
    path = os.path.join(staging, MANIFEST)
    if not os.path.isfile(path):
        return {}
    with open(path) as fh:
        return json.load(fh)


def write_manifest(staging, manifest):
    fileio.write_json_atomic(os.path.join(staging, MANIFEST), manifest)


def first_source(staging):
    """The first source (global index) of the run staged in `staging` (0 unsharded)."""
    return int(read_manifest(staging).get("parameters", {}).get("sources_range", [0])[0])


def differences(old, new, prefix=""):
    """Readable differences between two runs' parameters."""
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += differences(a, b, prefix + key + ".")
        elif a != b:
            if key in ("checkpoint", "data", "judge"):
                what = {"checkpoint": "model", "data": "dataset", "judge": "judge"}[key]
                state = "another " + what if a is not None and b is not None else \
                    ("none there, one now" if a is None else "one there, none now")
                diffs.append(f"{prefix}{key} ({state})")
            else:
                diffs.append(f"{prefix}{key} {a!r} there, {b!r} now")
    return diffs


def clear(staging):
    """Remove everything in `staging` but its lock."""
    for name in os.listdir(staging):
        if name != ".lock":
            path = os.path.join(staging, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def chunk_path(staging, start, stop):
    return os.path.join(staging, f"chunk_{start:010d}_{stop:010d}.h5")


def write_chunk(path, columns):
    """One finished chunk: every column a dataset, written beside and renamed in."""
    with fileio.atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for key, value in columns.items():
                f.create_dataset(key, data=value)


def load_chunk(path, keys=None):
    """The columns of a chunk (all, or `keys`) as NumPy arrays."""
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in (keys or f)}


def committed(staging, start, rows_per_source, columns):
    """Contiguous finished chunks [(start, stop, path)] from source `start`; removes leftovers
    (temporary files, unreadable or incomplete chunks and anything after a gap)."""
    found = {}
    for name in os.listdir(staging):
        m = _CHUNK_RE.match(name)
        path = os.path.join(staging, name)
        if m:
            found[int(m.group(1))] = (int(m.group(1)), int(m.group(2)), path)
        elif name not in (MANIFEST, ".lock"):
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    chunks, done = [], start
    while done in found:
        first, stop, path = found.pop(done)
        try:
            with h5py.File(path, "r") as f:
                ok = all(len(f[k]) == (stop - first) * rows_per_source for k in columns)
        except (OSError, KeyError):
            ok = False
        if not ok or stop <= first:
            found[first] = (first, stop, path)
            break
        chunks.append((first, stop, path))
        done = stop
    for _, _, path in found.values():
        os.remove(path)
    return chunks


def staging_progress(out):
    """Sources finished so far in the staging folder of `out` (0 when there is none)."""
    staging = staging_path(out)
    if not os.path.isdir(staging):
        return 0
    start = done = first_source(staging)
    starts = {}
    for name in os.listdir(staging):
        m = _CHUNK_RE.match(name)
        if m:
            starts[int(m.group(1))] = int(m.group(2))
    while done in starts:
        done = starts[done]
    return done - start


def rename_noreplace(src, dst):
    """Rename `src` to `dst` unless `dst` exists, atomically (Linux renameat2
    RENAME_NOREPLACE; elsewhere a check just before the rename). FileExistsError otherwise."""
    fn = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if fn is not None:
        if fn(-100, os.fsencode(src), -100, os.fsencode(dst), 1) == 0:
            return
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise FileExistsError(errno.EEXIST, os.strerror(err), dst)
        if err not in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), dst)
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst)
    os.rename(src, dst)


def exists_message(out, total=None):
    """Refusal of an existing output, mentioning a staging folder left beside it."""
    staging = staging_path(out)
    message = f"{out} exists; pass --overwrite to replace it"
    if os.path.isdir(staging):
        done = staging_progress(out)
        state = f"{done} of {total} sources done" if total is not None else f"{done} sources done"
        message += (f" ({staging} is left from another run, {state}: it is not redone; delete it, or pass "
                    "--overwrite to finish it into the output)")
    return message


class StagingLock:
    """An exclusive lock on the staging folder: two runs never write one output."""

    def __init__(self, staging):
        self.fh = open(os.path.join(staging, ".lock"), "w")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.close()
            raise ValueError(f"{staging}: another augmentation run is writing this output") from None

    def release(self):
        self.fh.close()
