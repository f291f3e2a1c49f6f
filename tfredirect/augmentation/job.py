"""The augmentation job: K redirected, labelled copies of every sample (claims 1-4, [0010],
[0021], [0029]), staged crash-safely, judged, and optionally one shard of the input.

Sharding (`num_shards`, `shard_index`) splits the input BY SAMPLE into contiguous ranges of
the SampleIndex order (`shard_range`): each shard builds the whole index (labels only, so
kernel-density targets see every label), processes its range with the same global source
indices and writes its own output (`shard_output_path`) with its own staging folder. Draws are
a function of (seed, source index, k) and chunk boundaries lie on the same grid as in one
process, so the union of the shards is the single-process output, sample for sample; the
readers take the shard outputs together with a glob (`shard_glob`). A person may span two
shards: the readers merge groups/files of one person id.
"""

import os
import shutil

import numpy as np

from tfredirect import fileio
from tfredirect.augmentation import gate, outputs, staging
from tfredirect.augmentation.targets import sampler_parameters

STAGING_FORMAT = 2  # chunk columns: targets, provenance and judged errors (no layout-specific labels)


def shard_range(total, shard_index=0, num_shards=1):
    """(start, stop) global source indices of one shard: contiguous, disjoint, covering 0..total."""
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f"shard_index must be in [0, num_shards), got {shard_index} of {num_shards}")
    if num_shards > total:
        raise ValueError(f"num_shards {num_shards} exceeds the {total} sources; every shard needs one")
    return total * shard_index // num_shards, total * (shard_index + 1) // num_shards


def shard_output_path(out, shard_index, num_shards, layout="sted"):
    """The output of one shard: `aug.h5` -> `aug-00001-of-00004.h5` (sted), folder `aug` ->
    `aug-00001-of-00004` (xgaze, folder)."""
    out = os.fspath(out).rstrip(os.sep)
    root, ext = os.path.splitext(out) if layout == "sted" else (out, "")
    return f"{root}-{shard_index:05d}-of-{num_shards:05d}{ext}"


def shard_glob(out, num_shards, layout="sted"):
    """A glob the readers (tfredirect.data.sources) take to read every shard output together."""
    return shard_output_path(out, 0, num_shards, layout).replace("-00000-of-", "-*-of-", 1)


def _real(path):
    return os.path.realpath(os.path.abspath(os.fspath(path)))


def input_files(index):
    """The files an index reads pixels from (h5 files or images)."""
    return sorted({loc[0] if isinstance(loc, tuple) else loc for loc in index.locations})


def check_output_path(out, inputs=(), input_dirs=()):
    """Raise ValueError when writing `out` (or its staging folder), or replacing it, could
    touch the input: `out` is an input file, lies inside an input folder, or is a folder
    that holds input files. Symbolic links are resolved."""
    targets = {os.fspath(out): _real(out), staging.staging_path(out): _real(staging.staging_path(out))}
    for name, t in targets.items():
        for d in input_dirs:
            if fileio.is_within(t, d):
                raise ValueError(f"--out {out}: {name} is inside the input folder {d}; "
                                 "write the augmented data somewhere else (the input is never written)")
        for f in inputs:
            rf = _real(f)
            if t == rf:
                raise ValueError(f"--out {out}: {name} is the input file {f}; "
                                 "write the augmented data somewhere else (the input is never written)")
            if fileio.is_within(rf, t):
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


def run_parameters(index, backend, per_image, sampler, judge=None, shard_index=0, num_shards=1):
    """What makes two runs produce the same staged chunks: checked before resuming. (The
    gate's threshold is applied when the output is assembled, so it is not among them.)"""
    return {
        "format": STAGING_FORMAT,
        "per_image": int(per_image),
        "sampler": sampler_parameters(sampler),
        "checkpoint": backend.identity,
        "image_size": int(backend.image_size),
        "sources": len(index),
        "data": "sha256:" + staging.fingerprint([index.gaze, index.head, index.person,
                                                 np.array("\n".join(index.persons).encode())]),
        "shard": [int(shard_index), int(num_shards)],
        "sources_range": list(shard_range(len(index), shard_index, num_shards)),
        "judge": judge.identity if judge is not None else None,
    }


def augment(index, backend, out, per_image, sampler, layout="sted", chunk=64, overwrite=False, resize=False,
            progress=None, log=None, stop_after=None, protect=(), judge=None, max_judged_error_deg=None,
            num_shards=1, shard_index=0):
    """Write `per_image` redirected copies of every sample of `index` (or of one shard of
    it) to `out`.

    backend: KerasBackend or LiteBackend (or any callable with `image_size` and `identity`).
    sampler: TargetSampler (or anything with its `draw`). layout: "sted" (one h5, a group
    per person), "xgaze" (a folder of per-person ETH-XGaze h5 files) or "folder" (PNG
    images + labels.csv); each with the provenance columns. judge: a gate.Judge; every copy
    then carries its judged gaze and head errors (degrees), and with `max_judged_error_deg`
    copies whose larger error exceeds it are left out of the output and counted.
    num_shards/shard_index: process only `shard_range(len(index), shard_index, num_shards)`
    (name `out` with `shard_output_path`). Refuses an `out` that is or holds the input (also
    any folder in `protect`), an existing `out` unless `overwrite`, and input images whose
    size is not the model's unless `resize`. Resumes from the staging folder `<out>.partial`
    when it was made with the same parameters (with `overwrite` a mismatching one is
    discarded, else refused); a run that fails before finishing its first chunk removes the
    staging folder it created. `progress(done, total)` is called after every chunk (sources of
    this shard); `log(message)` reports resuming. `stop_after` (sources) ends early, leaving
    the staging folder, as an interruption would.

    Returns {"complete", "out", "layout", "sources", "per_image", "done", "resumed_from",
    "new_images", "written", "persons", "dropped", "judged", "shard", "sources_range"}.
    """
    out = os.fspath(out)
    if per_image < 1:
        raise ValueError(f"per_image must be >= 1, got {per_image}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if layout not in outputs.LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {', '.join(outputs.LAYOUTS)}")
    if not index.has_gaze:
        raise ValueError(f"{index.description}: augmentation needs gaze labels")
    gate.check_threshold(max_judged_error_deg, judge)
    start, end = shard_range(len(index), shard_index, num_shards)
    check_output_path(out, input_files(index), protect)
    if os.path.lexists(out) and not overwrite:
        raise ValueError(staging.exists_message(out, end - start))
    if os.path.isdir(out) and not os.path.islink(out) and os.listdir(out) and \
            not os.path.isfile(os.path.join(out, outputs.MARKER)):
        raise ValueError(f"{out} is a folder that is not an augmentation output (no {outputs.MARKER}); "
                         "refusing to replace it")
    size = int(backend.image_size)
    mine = np.arange(start, end)
    for i in mine[np.unique(index.location[mine], return_index=True)[1][:256]]:  # first sample per file/group
        _check_size(index.read_image(i), size, resize, index.where(i))
    params = run_parameters(index, backend, per_image, sampler, judge, shard_index, num_shards)
    staging_dir = staging.staging_path(out)
    old = staging.read_manifest(staging_dir).get("parameters")
    if old is not None:
        diffs = staging.differences(old, params)
        if diffs and not overwrite:
            raise ValueError(f"{staging_dir} holds an unfinished run with other parameters ({'; '.join(diffs)}); "
                             "rerun with those, or pass --overwrite to discard it and start over")
    created = not os.path.isdir(staging_dir)
    os.makedirs(staging_dir, exist_ok=True)
    lock = staging.StagingLock(staging_dir)
    try:
        if os.path.lexists(out) and not overwrite:  # another run finished it since the check above
            if created:
                shutil.rmtree(staging_dir, ignore_errors=True)
            raise ValueError(staging.exists_message(out, end - start))
        run = _Run(index, backend, out, per_image, sampler, layout, chunk, resize, judge, params, staging_dir,
                   log or (lambda message: None))
        try:
            return run(progress, stop_after, overwrite, max_judged_error_deg)
        except BaseException:
            if created and staging.staging_progress(out) == 0:  # nothing to resume: leave no staging behind
                shutil.rmtree(staging_dir, ignore_errors=True)
            raise
    finally:
        lock.release()


class _Run:
    """One locked run on a staging folder: generate the missing chunks, then assemble."""

    def __init__(self, index, backend, out, per_image, sampler, layout, chunk, resize, judge, params, staging_dir,
                 log):
        self.index, self.backend, self.out, self.per_image = index, backend, out, per_image
        self.sampler, self.layout, self.chunk, self.resize, self.judge = sampler, layout, chunk, resize, judge
        self.params, self.staging, self.log = params, staging_dir, log
        self.columns = ("pixels", "gaze", "head", "person", *outputs.PROVENANCE) + \
            (gate.JUDGED if judge is not None else ())

    def manifest(self):
        """The staging folder's manifest, after discarding work made with other parameters."""
        meta = staging.read_manifest(self.staging)
        if meta.get("parameters") != self.params:
            if meta:
                self.log(f"discarding {self.staging}: it was made with other parameters")
            staging.clear(self.staging)
            meta = {"parameters": self.params, "data_description": self.index.description,
                    "checkpoint_path": getattr(self.backend, "source", None),
                    "backend": getattr(self.backend, "name", type(self.backend).__name__),
                    "judge_path": getattr(self.judge, "source", None)}
            staging.write_manifest(self.staging, meta)
        return meta

    def generate(self, ids):
        """The staged columns of the copies of sources `ids`."""
        index, k = self.index, self.per_image
        images = _read(index, ids, int(self.backend.image_size), self.resize)
        parts = [self.sampler.draw(ids, c, index.gaze, index.head) for c in range(k)]
        kinds = np.concatenate([p[0] for p in parts]).astype(np.int8)
        tg = np.concatenate([p[1] for p in parts])
        th = np.concatenate([p[2] for p in parts])
        rep = np.tile(ids, k)
        new = self.backend(np.tile(images, (k, 1, 1, 1)), index.gaze[rep], index.head[rep], tg, th, kinds)
        data = {"pixels": np.asarray(new, np.uint8), "gaze": tg, "head": th,
                "person": index.person[rep].astype(np.int32), "source_index": rep.astype(np.int64),
                "copy": np.repeat(np.arange(k, dtype=np.int16), len(ids)), "kind": kinds,
                "source_gaze": index.gaze[rep].astype(np.float32), "source_head": index.head[rep].astype(np.float32)}
        if self.judge is not None:
            data.update(zip(gate.JUDGED, self.judge.errors(data["pixels"], tg, th)))
        return data

    def __call__(self, progress, stop_after, overwrite, max_judged_error_deg):
        meta = self.manifest()
        start, end = self.params["sources_range"]
        chunks = staging.committed(self.staging, start, self.per_image, self.columns)
        done = chunks[-1][1] if chunks else start
        resumed_from = done - start
        if resumed_from:
            self.log(f"resuming from {self.staging}: {resumed_from} of {end - start} sources already done")
        if progress is not None:
            progress(done - start, end - start)
        new_images = 0
        while done < end and (stop_after is None or done - start < stop_after):
            stop = min((done // self.chunk + 1) * self.chunk, end)  # the grid of one process: same batches
            path = staging.chunk_path(self.staging, done, stop)
            staging.write_chunk(path, self.generate(np.arange(done, stop)))
            chunks.append((done, stop, path))
            new_images += (stop - done) * self.per_image
            done = stop
            if progress is not None:
                progress(done - start, end - start)
        result = {"complete": done >= end, "out": self.out if done >= end else self.staging, "layout": self.layout,
                  "sources": end - start, "per_image": self.per_image, "done": done - start,
                  "resumed_from": resumed_from, "new_images": new_images,
                  "written": (done - start) * self.per_image, "persons": 0, "dropped": 0,
                  "judged": self.judge is not None, "shard": self.params["shard"], "sources_range": [start, end]}
        if done < end:
            return result
        result["persons"], result["written"], result["dropped"] = outputs.finalize(
            self.staging, chunks, self.out, self.layout, self.index.persons, meta, overwrite, max_judged_error_deg)
        return result
