"""Dataset augmentation with a trained redirector (claims 1-4, [0010], [0021], [0029]).

For every input sample, K new samples: the target kind is drawn per copy (gaze or head,
claim 4; or both in sequence, [0021]) and the target angles come from a distribution the
user picks (uniform within ranges, or a kernel density over the dataset's own labels). The
new labels are exactly the targets; an attribute that is not redirected keeps the source
label.

Every output row carries its provenance: `source_index` (position in the input's
SampleIndex), `copy` (k in 0..K-1), `kind` (0 gaze, 1 head, 2 both) and the source's own
`source_gaze` / `source_head`. (source_index, copy) is unique.

Resumable and crash-safe. Work is staged in the folder `<out>.partial`:
`run.json` (the run's parameters: per_image, sampler, checkpoint and data fingerprints) and
one h5 file per finished chunk of sources, `chunk_<start>_<stop>.h5`, written under a
temporary name, fsynced and renamed into place. A run killed at any moment (even SIGKILL)
leaves only complete chunks; the next run with the same parameters continues after the
last one, with no duplicate and no missing sample, and refuses a staging folder made with
other parameters. When every chunk is there, the output is assembled in the requested
layout and the staging folder is removed. Target draws are a pure function of
(seed, source index, k), so a resumed run gives the labels of an uninterrupted one.
"""

import ctypes
import dataclasses
import errno
import fcntl
import hashlib
import json
import math
import os
import re
import shutil

import h5py
import numpy as np

KINDS = ("gaze", "head", "both")  # codes 0, 1, 2 in the `kind` provenance column
KIND_CHOICES = {"random": (0, 1), "mixed": (0, 1, 2), "gaze": (0,), "head": (1,), "both": (2,)}
TARGET_MODES = ("uniform", "kde")
LAYOUTS = ("sted", "xgaze", "folder")
PROVENANCE = ("source_index", "copy", "kind", "source_gaze", "source_head")
STAGING_SUFFIX = ".partial"
_CHUNK_RE = re.compile(r"^chunk_(\d{10})_(\d{10})\.h5$")


@dataclasses.dataclass(frozen=True)
class TargetSampler:
    """Draws target kinds and angles, deterministically per (seed, source index, k).

    kind: "random" (gaze or head per copy, claim 4), "mixed" (gaze, head or both), "gaze",
    "head" or "both". mode "uniform": pitch/yaw uniform within +/- the ranges (degrees);
    "kde": the labels of a random dataset sample (gaze and head of the same sample, so
    "both" keeps combinations that occur) plus Gaussian noise of `bandwidth_deg` (Scott's
    rule per column when 0), clipped to the ranges. With `reference_gaze`/`reference_head`
    ((M, 2) radians) the kernel density is over those labels instead of the dataset's: e.g.
    full-range labels when the dataset itself covers a narrow range (tools/downstream.py).
    """

    kind: str = "random"
    mode: str = "uniform"
    gaze_range_deg: tuple = (40.0, 50.0)
    head_range_deg: tuple = (30.0, 45.0)
    bandwidth_deg: float = 0.0
    seed: int = 0
    reference_gaze: np.ndarray = dataclasses.field(default=None, compare=False)
    reference_head: np.ndarray = dataclasses.field(default=None, compare=False)

    def __post_init__(self):
        if self.kind not in KIND_CHOICES:
            raise ValueError(f"kind must be one of {sorted(KIND_CHOICES)}, got {self.kind!r}")
        if self.mode not in TARGET_MODES:
            raise ValueError(f"target distribution must be 'uniform' or 'kde', got {self.mode!r}")
        for name in ("gaze_range_deg", "head_range_deg"):
            r = tuple(float(v) for v in getattr(self, name))
            if len(r) != 2 or not all(0 < v <= 90 for v in r):
                raise ValueError(f"{name} must be two values in (0, 90] degrees, got {getattr(self, name)}")
            object.__setattr__(self, name, r)
        if not (math.isfinite(self.bandwidth_deg) and 0 <= self.bandwidth_deg <= 90):
            raise ValueError(f"bandwidth_deg must be in [0, 90] (0: Scott's rule), got {self.bandwidth_deg}")
        if (self.reference_gaze is None) != (self.reference_head is None):
            raise ValueError("reference_gaze and reference_head go together")
        if self.reference_gaze is not None:
            ref = [np.asarray(getattr(self, n), np.float64) for n in ("reference_gaze", "reference_head")]
            if ref[0].ndim != 2 or ref[0].shape[1:] != (2,) or ref[0].shape != ref[1].shape or not len(ref[0]):
                raise ValueError(f"reference labels must be two (M, 2) arrays, got {ref[0].shape} and {ref[1].shape}")
            object.__setattr__(self, "reference_gaze", ref[0])
            object.__setattr__(self, "reference_head", ref[1])

    def draw(self, source_ids, k, labels_gaze, labels_head):
        """(kind (n,), target_gaze (n, 2), target_head (n, 2)) radians for sources at copy k;
        unchanged attributes keep the source labels."""
        n = len(source_ids)
        kinds = np.empty(n, np.int64)
        tg = labels_gaze[source_ids].astype(np.float64).copy()
        th = labels_head[source_ids].astype(np.float64).copy()
        lim_g, lim_h = np.radians(self.gaze_range_deg), np.radians(self.head_range_deg)
        pool_g, pool_h = (labels_gaze, labels_head) if self.reference_gaze is None else \
            (self.reference_gaze, self.reference_head)
        bw_g, bw_h = self.bandwidth(pool_g, pool_h) if self.mode == "kde" else (None, None)
        for j, sid in enumerate(source_ids):
            rng = np.random.default_rng([self.seed, int(sid), int(k)])
            kinds[j] = rng.choice(KIND_CHOICES[self.kind])
            if self.mode == "uniform":
                new_g = rng.uniform(-lim_g, lim_g)
                new_h = rng.uniform(-lim_h, lim_h)
            else:
                pick = rng.integers(0, len(pool_g))
                new_g = np.clip(pool_g[pick] + rng.normal(0, bw_g), -lim_g, lim_g)
                new_h = np.clip(pool_h[pick] + rng.normal(0, bw_h), -lim_h, lim_h)
            if kinds[j] in (0, 2):
                tg[j] = new_g
            if kinds[j] in (1, 2):
                th[j] = new_h
        return kinds, tg.astype(np.float32), th.astype(np.float32)

    def bandwidth(self, gaze, head):
        """Kernel standard deviations (gaze (2,), head (2,)) in radians."""
        if self.bandwidth_deg:
            b = math.radians(self.bandwidth_deg)
            return np.array([b, b]), np.array([b, b])
        factor = max(len(gaze), 2) ** (-1.0 / 6.0)  # Scott's rule in two dimensions
        return np.nanstd(gaze, axis=0) * factor, np.nanstd(head, axis=0) * factor


def load_backend(path, num_threads=2):
    """LiteBackend for an exported .tflite; KerasBackend for anything
    serving.checkpoints.load_generator takes (.keras, run directory, checkpoint prefix)."""
    from tfredirect.serving import checkpoints

    path = os.fspath(path)
    if path.endswith(".tflite"):
        if not os.path.isfile(path):
            raise ValueError(f"{path}: no such file")
        from tfredirect.lite import LiteRedirector

        return LiteBackend(LiteRedirector(path, num_threads=num_threads))
    checkpoints.resolve(path)
    return KerasBackend(checkpoints.load_generator(path), source=path)


def check_model_path(path):
    """Fast check (no TensorFlow) that `path` is a .tflite file or a form load_generator takes."""
    from tfredirect.serving import checkpoints

    if os.fspath(path).endswith(".tflite"):
        if not os.path.isfile(path):
            raise ValueError(f"{path}: no such file")
        return
    checkpoints.resolve(path)


def _sha256(arrays):
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


class KerasBackend:
    """Redirect with a Keras Redirector (one traced tf.function), using the known source
    labels as the current angles. `identity` fingerprints the weights."""

    name = "keras"

    def __init__(self, model, source=None):
        import tensorflow as tf

        self.model, self.image_size, self.source = model, model.image_size, source
        s = model.image_size
        spec = [tf.TensorSpec((None, s, s, 3), tf.uint8)] + [tf.TensorSpec((None, 2), tf.float32)] * 4
        self._fn = tf.function(
            lambda x, sg, sh, tg, th: model.redirect(x, target_gaze=tg, target_head=th, source_gaze=sg,
                                                     source_head=sh),
            input_signature=spec, reduce_retracing=True)
        self.identity = "keras:" + _sha256(np.asarray(w.numpy()) for w in model.weights)

    def __call__(self, images, src_gaze, src_head, tgt_gaze, tgt_head, kinds=None):
        return np.asarray(self._fn(images, np.asarray(src_gaze, np.float32), np.asarray(src_head, np.float32),
                                   np.asarray(tgt_gaze, np.float32), np.asarray(tgt_head, np.float32)))


class LiteBackend:
    """Redirect with an exported TFLite model, from the known source labels (signature
    `redirect_labeled`; exports without it rotate from the model's estimates, so an
    attribute that is not redirected gets its estimate as target). `identity` hashes the
    file."""

    name = "tflite"

    def __init__(self, lite):
        self.lite, self.image_size, self.source = lite, lite.image_size, lite.path
        with open(lite.path, "rb") as fh:
            self.identity = "tflite:" + hashlib.sha256(fh.read()).hexdigest()

    def __call__(self, images, src_gaze, src_head, tgt_gaze, tgt_head, kinds=None):
        if self.lite.takes_source_labels:
            return self.lite.redirect(images, tgt_gaze, tgt_head, source_gaze=src_gaze, source_head=src_head)
        if kinds is None:
            keep_g = np.all(tgt_gaze == src_gaze, axis=1)
            keep_h = np.all(tgt_head == src_head, axis=1)
        else:
            keep_g, keep_h = np.asarray(kinds) == 1, np.asarray(kinds) == 0
        tg = np.array(tgt_gaze, np.float32)
        th = np.array(tgt_head, np.float32)
        need = keep_g | keep_h
        if need.any():  # estimate only the rows that keep an attribute
            est_g, est_h = self.lite.estimate(images[need])
            tg[need] = np.where(keep_g[need, None], est_g, tg[need])
            th[need] = np.where(keep_h[need, None], est_h, th[need])
        return self.lite.redirect(images, tg, th)


# ------------------------------------------------------------------------- paths and checks
def staging_path(out):
    """The staging folder of an output path."""
    return os.fspath(out) + STAGING_SUFFIX


def _real(path):
    return os.path.realpath(os.path.abspath(os.fspath(path)))


def _within(child, parent):
    return child == parent or child.startswith(parent.rstrip(os.sep) + os.sep)


def input_files(index):
    """The files an index reads pixels from (h5 files or images)."""
    return sorted({loc[0] if isinstance(loc, tuple) else loc for loc in index.locations})


def check_output_path(out, inputs=(), input_dirs=()):
    """Raise ValueError when writing `out` (or its staging folder), or replacing it, could
    touch the input: `out` is an input file, lies inside an input folder, or is a folder
    that holds input files. Symbolic links are resolved."""
    targets = {os.fspath(out): _real(out), staging_path(out): _real(staging_path(out))}
    for name, t in targets.items():
        for d in input_dirs:
            if _within(t, _real(d)):
                raise ValueError(f"--out {out}: {name} is inside the input folder {d}; "
                                 "write the augmented data somewhere else (the input is never written)")
        for f in inputs:
            rf = _real(f)
            if t == rf:
                raise ValueError(f"--out {out}: {name} is the input file {f}; "
                                 "write the augmented data somewhere else (the input is never written)")
            if _within(rf, t):
                raise ValueError(f"--out {out}: {name} is a folder holding the input file {f}; "
                                 "write the augmented data somewhere else (the input is never written)")


def _check_size(image, size, resize, where):
    if image.shape[0] != size and not resize:
        s = image.shape[0]
        raise ValueError(f"{where}: the data has {s}x{s} images, the model takes {size}x{size}; "
                         f"pass --resize (resize=True) to augment them at {size}x{size}")


def _read(index, ids, size, resize):
    from tfredirect.data.index import resize_square

    out = np.empty((len(ids), size, size, 3), np.uint8)
    for j, i in enumerate(ids):
        image = index.read_image(i)
        _check_size(image, size, resize, index.where(i))
        out[j] = resize_square(image, size)
    return out


def sampler_parameters(sampler):
    """A JSON-able description of a sampler (array fields as fingerprints)."""
    params = {"type": type(sampler).__name__}
    fields = dataclasses.fields(sampler) if dataclasses.is_dataclass(sampler) else ()
    for f in fields:
        v = getattr(sampler, f.name)
        if isinstance(v, np.ndarray):
            v = "sha256:" + _sha256([v])
        elif isinstance(v, tuple):
            v = list(v)
        elif isinstance(v, np.generic):
            v = v.item()
        params[f.name] = v
    return params


def run_parameters(index, backend, per_image, sampler):
    """What makes two runs produce the same output: checked before resuming."""
    return {
        "per_image": int(per_image),
        "sampler": sampler_parameters(sampler),
        "checkpoint": backend.identity,
        "image_size": int(backend.image_size),
        "sources": len(index),
        "data": "sha256:" + _sha256([index.gaze, index.head, index.person,
                                     np.array("\n".join(index.persons).encode())]),
    }


def _differences(old, new, prefix=""):
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += _differences(a, b, prefix + key + ".")
        elif a != b:
            if key in ("checkpoint", "data"):
                diffs.append(f"{prefix}{key} (another {'model' if key == 'checkpoint' else 'dataset'})")
            else:
                diffs.append(f"{prefix}{key} {a!r} there, {b!r} now")
    return diffs


def _write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _chunk_name(start, stop):
    return f"chunk_{start:010d}_{stop:010d}.h5"


def _committed(staging, per_image):
    """Contiguous finished chunks [(start, stop, path)] from source 0; removes leftovers
    (temporary files, unreadable chunks and anything after a gap)."""
    found = {}
    for name in os.listdir(staging):
        m = _CHUNK_RE.match(name)
        path = os.path.join(staging, name)
        if m:
            found[int(m.group(1))] = (int(m.group(1)), int(m.group(2)), path)
        elif name.endswith(".tmp") or name.startswith("final"):
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    chunks, done = [], 0
    while done in found:
        start, stop, path = found.pop(done)
        try:
            with h5py.File(path, "r") as f:
                ok = all(len(f[k]) == (stop - start) * per_image for k in ("pixels", "labels", *PROVENANCE))
        except (OSError, KeyError):
            ok = False
        if not ok or stop <= start:
            found[start] = (start, stop, path)
            break
        chunks.append((start, stop, path))
        done = stop
    for _, _, path in found.values():
        os.remove(path)
    return chunks


def staging_progress(out):
    """Sources finished so far in the staging folder of `out` (0 when there is none)."""
    staging = staging_path(out)
    if not os.path.isdir(staging):
        return 0
    done = 0
    starts = {}
    for name in os.listdir(staging):
        m = _CHUNK_RE.match(name)
        if m:
            starts[int(m.group(1))] = int(m.group(2))
    while done in starts:
        done = starts[done]
    return done


def _rename_noreplace(src, dst):
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


class _Lock:
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


# ------------------------------------------------------------------------------ the job
def augment(index, backend, out, per_image, sampler, layout="sted", chunk=64, overwrite=False, resize=False,
            progress=None, log=None, stop_after=None, protect=()):
    """Write `per_image` redirected copies of every sample of `index` to `out`.

    backend: KerasBackend or LiteBackend (or any callable with `image_size` and `identity`).
    sampler: TargetSampler (or anything with its `draw`). layout: "sted" (one h5, a group
    per person), "xgaze" (a folder of per-person ETH-XGaze h5 files) or "folder" (PNG
    images + labels.csv); each with the provenance columns. Refuses an `out` that is or
    holds the input (also any folder in `protect`), an existing `out` unless `overwrite`,
    and input images whose size is not the model's unless `resize`. Resumes from the
    staging folder `<out>.partial` when it was made with the same parameters (with
    `overwrite` a mismatching one is discarded, else refused). `progress(done, total)` is
    called after every chunk (sources); `log(message)` reports resuming. `stop_after`
    (sources) ends early, leaving the staging folder, as an interruption would.

    Returns {"complete", "out", "layout", "sources", "per_image", "done", "resumed_from",
    "new_images", "written", "persons"}.
    """
    out = os.fspath(out)
    if per_image < 1:
        raise ValueError(f"per_image must be >= 1, got {per_image}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    if not index.has_gaze:
        raise ValueError(f"{index.description}: augmentation needs gaze labels")
    check_output_path(out, input_files(index), protect)
    if os.path.lexists(out) and not overwrite:
        raise ValueError(exists_message(out, len(index)))
    if os.path.isdir(out) and not os.path.islink(out) and os.listdir(out) and \
            not os.path.isfile(os.path.join(out, "augmentation.json")):
        raise ValueError(f"{out} is a folder that is not an augmentation output (no augmentation.json); "
                         "refusing to replace it")
    size = int(backend.image_size)
    for i in np.unique(index.location, return_index=True)[1][:256]:  # the first sample of each file/group
        _check_size(index.read_image(i), size, resize, index.where(i))
    log = log or (lambda message: None)
    params = run_parameters(index, backend, per_image, sampler)
    staging = staging_path(out)
    manifest = os.path.join(staging, "run.json")
    if os.path.isfile(manifest):
        with open(manifest) as fh:
            old = json.load(fh).get("parameters", {})
        diffs = _differences(old, params)
        if diffs and not overwrite:
            raise ValueError(f"{staging} holds an unfinished run with other parameters ({'; '.join(diffs)}); "
                             "rerun with those, or pass --overwrite to discard it and start over")
    created = not os.path.isdir(staging)
    os.makedirs(staging, exist_ok=True)
    lock = _Lock(staging)
    try:
        if os.path.lexists(out) and not overwrite:  # another run finished it since the check above
            if created:
                shutil.rmtree(staging, ignore_errors=True)
            raise ValueError(exists_message(out, len(index)))
        return _run(index, backend, out, per_image, sampler, layout, chunk, resize, progress, log, stop_after,
                    params, staging, manifest, size, overwrite)
    finally:
        lock.release()


def _run(index, backend, out, per_image, sampler, layout, chunk, resize, progress, log, stop_after, params,
         staging, manifest, size, overwrite):
    total = len(index)
    old = None
    if os.path.isfile(manifest):
        with open(manifest) as fh:
            old = json.load(fh).get("parameters")
    if old != params:
        if old is not None:
            log(f"discarding {staging}: it was made with other parameters")
        for name in os.listdir(staging):
            if name != ".lock":
                path = os.path.join(staging, name)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        _write_json(manifest, {"parameters": params, "data_description": index.description,
                               "checkpoint_path": getattr(backend, "source", None),
                               "backend": getattr(backend, "name", type(backend).__name__)})
    chunks = _committed(staging, per_image)
    done = chunks[-1][1] if chunks else 0
    resumed_from = done
    if done:
        log(f"resuming from {staging}: {done} of {total} sources already done")
    if progress is not None:
        progress(done, total)
    new_images = 0
    while done < total and (stop_after is None or done < stop_after):
        ids = np.arange(done, min(done + chunk, total))
        images = _read(index, ids, size, resize)
        parts = [sampler.draw(ids, k, index.gaze, index.head) for k in range(per_image)]
        kinds = np.concatenate([p[0] for p in parts]).astype(np.int8)
        tg = np.concatenate([p[1] for p in parts])
        th = np.concatenate([p[2] for p in parts])
        rep = np.tile(ids, per_image)
        new = backend(np.tile(images, (per_image, 1, 1, 1)), index.gaze[rep], index.head[rep], tg, th, kinds)
        data = {
            "pixels": np.asarray(new, np.uint8),
            "labels": np.concatenate([tg, th, tg, tg], axis=1).astype(np.float32),
            "person": index.person[rep].astype(np.int32),
            "source_index": rep.astype(np.int64),
            "copy": np.repeat(np.arange(per_image, dtype=np.int16), len(ids)),
            "kind": kinds,
            "source_gaze": index.gaze[rep].astype(np.float32),
            "source_head": index.head[rep].astype(np.float32),
        }
        stop = int(ids[-1]) + 1
        path = os.path.join(staging, _chunk_name(done, stop))
        with h5py.File(path + ".tmp", "w") as f:
            for key, value in data.items():
                f.create_dataset(key, data=value)
        _fsync(path + ".tmp")
        os.replace(path + ".tmp", path)
        chunks.append((done, stop, path))
        new_images += len(rep)
        done = stop
        if progress is not None:
            progress(done, total)
    result = {"complete": done >= total, "out": out if done >= total else staging, "layout": layout,
              "sources": total, "per_image": per_image, "done": done, "resumed_from": resumed_from,
              "new_images": new_images, "written": done * per_image, "persons": 0}
    if done < total:
        return result
    with open(manifest) as fh:
        meta = json.load(fh)
    result["persons"] = _finalize(staging, chunks, out, layout, index.persons, meta, overwrite)
    return result


# ----------------------------------------------------------------------------- outputs
def _safe_names(persons):
    """File/group-safe person names (no '/' or NUL, not '.' or '..'), unique."""
    names, seen = [], set()
    for i, p in enumerate(persons):
        name = re.sub(r"[/\\\x00]", "_", str(p)) or f"person{i}"
        if name in (".", ".."):
            name = f"person{i}"
        base, n = name, 1
        while name in seen:
            name, n = f"{base}_{n}", n + 1
        seen.add(name)
        names.append(name)
    return names


def _load_chunk(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f}


def _attrs(meta, per_image):
    p = meta["parameters"]
    return {"augmented_by": "tfredirect.augmentation", "per_image": per_image,
            "sampler": json.dumps(p["sampler"]), "checkpoint": meta.get("checkpoint_path") or p["checkpoint"],
            "checkpoint_identity": p["checkpoint"], "source_data": meta.get("data_description", ""),
            "kind_names": ",".join(KINDS)}


def _finalize(staging, chunks, out, layout, persons, meta, overwrite=False):
    """Assemble the output from the chunks in `layout`; returns the number of persons. An
    existing `out` is replaced only with `overwrite`; otherwise the staging folder is kept."""
    names = _safe_names(persons)
    per_image = meta["parameters"]["per_image"]
    attrs = _attrs(meta, per_image)
    final = os.path.join(staging, "final.h5" if layout == "sted" else "final")
    if layout == "sted":
        count = _write_sted(final, chunks, names, attrs)
    else:
        os.makedirs(final)
        count = (_write_xgaze if layout == "xgaze" else _write_folder)(final, chunks, names, attrs)
        _fsync(final)
    if overwrite and os.path.lexists(out):
        shutil.rmtree(out) if os.path.isdir(out) and not os.path.islink(out) else os.remove(out)
    try:
        _rename_noreplace(final, out)
    except FileExistsError:
        shutil.rmtree(final) if os.path.isdir(final) else os.remove(final)
        raise ValueError(f"{out} appeared while this run was writing it (another run?); kept it and the finished "
                         f"work in {staging}: pass --overwrite to replace {out} with it") from None
    shutil.rmtree(staging)
    return count


def _write_sted(path, chunks, names, attrs):
    from tfredirect.data import h5io

    used = set()
    with h5py.File(path, "w") as f:
        f.attrs.update(layout="ST-ED", **attrs)
        for _, _, cpath in chunks:
            d = _load_chunk(cpath)
            for p in dict.fromkeys(d["person"].tolist()):
                sel = d["person"] == p
                g = f.require_group(names[p])
                for key in ("pixels", "labels", *PROVENANCE):
                    h5io.append_rows(g, key, d[key][sel])
                used.add(p)
    _fsync(path)
    return len(used)


def _write_xgaze(folder, chunks, names, attrs):
    from tfredirect.data import h5io

    where = {}  # person -> chunk positions holding it
    for c, (_, _, cpath) in enumerate(chunks):
        with h5py.File(cpath, "r") as f:
            for p in np.unique(f["person"][()]):
                where.setdefault(int(p), []).append(c)
    cache = {}
    for p, cs in where.items():
        path = os.path.join(folder, f"{names[p]}.h5")
        with h5py.File(path, "w") as o:
            o.attrs.update(layout="ETH-XGaze", **attrs)
            for c in cs:
                if c not in cache:
                    cache.clear()
                    cache[c] = _load_chunk(chunks[c][2])
                d = cache[c]
                sel = d["person"] == p
                h5io.append_rows(o, "face_patch", d["pixels"][sel][..., ::-1])  # ETH-XGaze stores BGR
                h5io.append_rows(o, "face_gaze", d["labels"][sel, 0:2])
                h5io.append_rows(o, "face_head_pose", d["labels"][sel, 2:4])
                for key in PROVENANCE:
                    h5io.append_rows(o, key, d[key][sel])
        _fsync(path)
    _write_json(os.path.join(folder, "augmentation.json"), attrs)
    return len(where)


def _write_folder(folder, chunks, names, attrs):
    import csv

    import cv2

    os.makedirs(os.path.join(folder, "images"))
    used = set()
    with open(os.path.join(folder, "labels.csv"), "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["path", "person", "gaze_pitch", "gaze_yaw", "head_pitch", "head_yaw", "source_index", "copy",
                         "kind", "source_gaze_pitch", "source_gaze_yaw", "source_head_pitch", "source_head_yaw"])
        for _, _, cpath in chunks:
            d = _load_chunk(cpath)
            for i in range(len(d["pixels"])):
                p, s, k = int(d["person"][i]), int(d["source_index"][i]), int(d["copy"][i])
                rel = f"images/{s:07d}_{k:02d}.png"
                if not cv2.imwrite(os.path.join(folder, rel), cv2.cvtColor(d["pixels"][i], cv2.COLOR_RGB2BGR)):
                    raise OSError(f"{os.path.join(folder, rel)}: cannot write image")
                angles = [f"{v:.9g}" for v in (*d["labels"][i, :4], *d["source_gaze"][i], *d["source_head"][i])]
                writer.writerow([rel, names[p], *angles[:4], s, k, KINDS[int(d["kind"][i])], *angles[4:]])
                used.add(p)
    _write_json(os.path.join(folder, "augmentation.json"), attrs)
    return len(used)
