"""HDF5 plumbing shared by the dataset readers and writers.

Path resolution (file, folder or glob), a small cache of open files for lazy row reads,
dataset validation whose errors name the file and the field, and atomic, append-only
writing (temporary file + rename) so a crashed write never leaves a half file behind.
"""

import collections
import contextlib
import glob
import os
import threading

import h5py
import numpy as np

from tfredirect import fileio, geometry


def resolve_paths(path, patterns):
    """Sorted files for `path`: a file, a folder (files matching `patterns` directly
    inside it) or a glob, whose matching folders count as folders (e.g. the shard outputs
    `aug-*-of-00004` of tools/augment.py). Raises FileNotFoundError when nothing matches."""
    path = os.fspath(path)
    if any(c in path for c in "*?[") and not os.path.exists(path):
        matches = glob.glob(path)
    else:
        matches = [path] if os.path.exists(path) else []
    found = []
    for match in matches:
        found += [p for pat in patterns for p in glob.glob(os.path.join(match, pat))] if os.path.isdir(match) \
            else [match]
    found = sorted({p for p in found if os.path.isfile(p)})
    if not found:
        raise FileNotFoundError(f"{path}: no files found (expected a file, a folder of {'/'.join(patterns)} or a glob)")
    return found


def open_h5(path):
    """Open an h5 file read-only with an error naming it when it is not HDF5."""
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path}: cannot open as HDF5 ({e})") from e


def require_dataset(parent, key, fname, shape=None, floating=False):
    """`parent[key]` as an h5py.Dataset, validated: `shape` with None for free axes,
    `floating` for a floating-point dtype. Errors read "<file>: '<h5 path>' ..."."""
    where = f"{fname}: '{parent.name.rstrip('/')}/{key}'"
    if key not in parent:
        raise ValueError(f"{fname}: missing dataset '{parent.name.rstrip('/')}/{key}'")
    ds = parent[key]
    if not isinstance(ds, h5py.Dataset):
        raise ValueError(f"{where} is a group, expected a dataset")
    if shape is not None and (
        len(ds.shape) != len(shape) or any(e is not None and e != s for e, s in zip(shape, ds.shape))
    ):
        want = "(" + ", ".join("N" if e is None else str(e) for e in shape) + ")"
        raise ValueError(f"{where} has shape {ds.shape}, expected {want}")
    if floating and ds.dtype.kind != "f":
        raise ValueError(f"{where} has dtype {ds.dtype}, expected floating point radians")
    return ds


def read_all(ds, fname, rows=slice(None)):
    """`ds[rows]` as NumPy; a ValueError naming the file and the dataset when HDF5 cannot
    read it (e.g. a corrupted chunk)."""
    try:
        return ds[rows]
    except OSError as err:
        raise ValueError(f"{fname}: '{ds.name}': cannot read ({err})") from None


def check_image_dataset(ds, fname):
    """Face-patch datasets are (N, S, S, 3) uint8."""
    where = f"{fname}: '{ds.name}'"
    if ds.ndim != 4 or ds.shape[3] != 3 or ds.shape[1] != ds.shape[2]:
        raise ValueError(f"{where} has shape {ds.shape}, expected (N, S, S, 3) square RGB/BGR patches")
    if ds.dtype != np.uint8:
        raise ValueError(f"{where} has dtype {ds.dtype}, expected uint8")
    return ds


class H5RowReader:
    """Reads one image row at a time from (file, dataset key) locations.

    Keeps at most `max_open` files and `max_datasets` datasets open, least recently used
    closed first: each open dataset holds HDF5's chunk cache (1 MB), so memory stays
    bounded however many person groups a file has. One handle per file per process,
    shared by all tf.data threads under a lock: h5py serializes every HDF5 call behind its
    own global lock anyway, and opening one file twice in a process lets closing one
    handle invalidate the other. Handles are reopened after a fork.
    `bgr`: the stored channel order is BGR (ETH-XGaze) and is flipped to RGB.
    """

    def __init__(self, bgr=False, max_open=64, max_datasets=32):
        if max_open < 1 or max_datasets < 1:
            raise ValueError(f"max_open and max_datasets must be >= 1, got {max_open}, {max_datasets}")
        self.bgr = bgr
        self.max_open = max_open
        self.max_datasets = max_datasets
        self._lock = threading.Lock()
        self._files = collections.OrderedDict()
        self._datasets = collections.OrderedDict()
        self._pid = os.getpid()
        self._closed = False

    def _dataset(self, fname, key):
        if self._pid != os.getpid():  # inherited handles are unusable in a child process
            self._files.clear()
            self._datasets.clear()
            self._pid = os.getpid()
        ds = self._datasets.get((fname, key))
        if ds is not None:
            self._datasets.move_to_end((fname, key))
            return ds
        f = self._files.get(fname)
        if f is None:
            f = self._files[fname] = open_h5(fname)
            while len(self._files) > self.max_open:
                self._close_file(next(iter(self._files)))
        else:
            self._files.move_to_end(fname)
        ds = self._datasets[(fname, key)] = f[key]
        while len(self._datasets) > self.max_datasets:
            self._datasets.popitem(last=False)
        return ds

    def _close_file(self, fname):
        for k in [k for k in self._datasets if k[0] == fname]:
            del self._datasets[k]
        self._files.pop(fname).close()

    def __call__(self, location, row):
        fname, key = location
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{fname}: reader is closed")
            image = self._dataset(fname, key)[row]
        return image[..., ::-1] if self.bgr else image

    def close(self):
        """Close every open file; later reads raise."""
        with self._lock:
            self._closed = True
            while self._files:
                self._close_file(next(iter(self._files)))

    def __getstate__(self):
        return {"bgr": self.bgr, "max_open": self.max_open, "max_datasets": self.max_datasets}

    def __setstate__(self, state):
        self.__init__(**state)


def record_batches(records):
    """Normalize an iterable of sample records (single or batched; NumPy or tensors) to
    (images uint8 (n,S,S,3), gaze (n,2) or None, head (n,2), persons list of str)."""
    for rec in records:
        image = np.asarray(rec["image"])
        single = image.ndim == 3
        image = image[None] if single else image
        if image.dtype != np.uint8 or image.ndim != 4 or image.shape[-1] != 3 or image.shape[1] != image.shape[2]:
            raise ValueError(f"record 'image' must be uint8 (S, S, 3) or (n, S, S, 3), got {image.dtype} {image.shape}")
        n = len(image)

        def angles(key):
            return geometry.check_pitchyaw(np.asarray(rec[key]).reshape(n, 2), key, source="record")

        person = np.asarray(rec["person"]).reshape(n)
        persons = [p.decode() if isinstance(p, bytes) else str(p) for p in person]
        gaze = angles("gaze") if "gaze" in rec else None
        yield image, gaze, angles("head"), persons


@contextlib.contextmanager
def atomic_h5(path, overwrite=False):
    """An h5py.File open for writing at a temporary name next to `path`, fsynced and renamed
    to `path` only when the block finishes (fileio.atomic_path); an existing `path` is kept
    unless `overwrite`."""
    with fileio.atomic_path(path, overwrite, flag="overwrite=True") as tmp:
        with h5py.File(tmp, "w") as f:
            yield f


def append_rows(parent, key, rows, compression=None):
    """Append `rows` (n, ...) to the resizable dataset `parent[key]`, creating it (one
    chunk per row, so random row reads touch one chunk; `compression` e.g. "gzip") on
    first use."""
    rows = np.asarray(rows)
    if key not in parent:
        parent.create_dataset(key, data=rows, maxshape=(None,) + rows.shape[1:], chunks=(1,) + rows.shape[1:],
                              compression=compression)
        return
    ds = parent[key]
    if ds.shape[1:] != rows.shape[1:] or ds.dtype != rows.dtype:
        raise ValueError(
            f"'{ds.name}': cannot append {rows.dtype} {rows.shape[1:]} rows to {ds.dtype} {ds.shape[1:]} rows"
        )
    n = ds.shape[0]
    ds.resize(n + len(rows), axis=0)
    ds[n:] = rows
