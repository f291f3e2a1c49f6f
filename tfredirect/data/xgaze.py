"""ETH-XGaze per-subject h5 files (`subjectXXXX.h5`): reader and writer.

Layout (MODEL.md): `face_patch` (N, 224, 224, 3) uint8 **BGR**, `face_gaze` (N, 2) and
`face_head_pose` (N, 2) radians (pitch, yaw), plus fields this library does not need
(`face_mat_norm`, `facial_landmarks`, `frame_index`, `cam_index`). One subject per file:
the file name without extension is the person id. The test split has no `face_gaze`; it
is readable with `with_gaze=False` (inference: records carry image, head and person).
Images are flipped to RGB when read, so nothing downstream sees BGR.
"""

import os

import numpy as np

from tfredirect.data import h5io
from tfredirect.data.index import IndexBuilder, finite_rows, report_skipped

PATTERNS = ("*.h5", "*.hdf5")


def _index_file(builder, fname, with_gaze):
    with h5io.open_h5(fname) as f:
        if with_gaze and "face_gaze" not in f and "face_patch" in f:
            raise ValueError(
                f"{fname}: missing dataset '/face_gaze' - an unlabeled (test split) file is "
                "readable for inference only: make_samples(..., with_gaze=False)"
            )
        patches = h5io.check_image_dataset(h5io.require_dataset(f, "face_patch", fname), fname)
        n = patches.shape[0]
        fields = {"/face_head_pose": h5io.read_all(
            h5io.require_dataset(f, "face_head_pose", fname, shape=(n, 2), floating=True), fname)}
        if with_gaze:
            gaze = h5io.read_all(h5io.require_dataset(f, "face_gaze", fname, shape=(n, 2), floating=True), fname)
            fields = {"/face_gaze": gaze, **fields}
    ok = finite_rows(fname, **fields)
    rows = np.flatnonzero(ok)
    person = os.path.splitext(os.path.basename(fname))[0]
    builder.add((fname, "face_patch"), person, rows, fields["/face_gaze"][rows] if with_gaze else None,
                fields["/face_head_pose"][rows])
    report_skipped(fname, n - len(rows), n)


def build_index(paths, with_gaze=True, max_open_files=64):
    """SampleIndex over ETH-XGaze subject files (a list of paths); with_gaze=False accepts
    the unlabeled test split (inference). Pixels are read lazily, at most `max_open_files`
    files open."""
    builder = IndexBuilder(h5io.H5RowReader(bgr=True, max_open=max_open_files), has_gaze=with_gaze)
    for fname in paths:
        _index_file(builder, fname, with_gaze)
    return builder.build(", ".join(paths))


COLUMNS = {"image": "face_patch", "gaze": "face_gaze", "head": "face_head_pose"}  # block key -> dataset


def write(path, blocks, attrs=None, overwrite=False, compression=None):
    """Write ONE subject's ETH-XGaze file, the one writer of the layout. `blocks`: an iterable
    of dicts of per-row arrays: `image` (n, S, S, 3) uint8 RGB (stored BGR as `face_patch`),
    `gaze` (n, 2) radians (`face_gaze`; leave it out for the unlabeled test-split layout),
    `head` (n, 2) (`face_head_pose`), and any other column stored under its own name
    (`face_mat_norm`, the provenance of augmented samples, ...). Blocks append, so a stream
    passes through. Name the file after the person (subject0000.h5): readers take the person
    id from it. `attrs` go on the file (`layout` is "ETH-XGaze"). Atomic (temporary file, fsync,
    rename); an existing file is kept unless `overwrite`. Returns samples written."""
    samples = 0
    with h5io.atomic_h5(path, overwrite) as f:
        f.attrs.update({"layout": "ETH-XGaze", **(attrs or {})})
        for block in blocks:
            images = np.asarray(block["image"])
            if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
                raise ValueError(f"{path}: images are {images.dtype} {images.shape}, expected uint8 (n, S, S, 3)")
            for key, rows in block.items():
                rows = np.asarray(rows)
                if len(rows) != len(images):
                    raise ValueError(f"{path}: column {key!r} has {len(rows)} rows, images {len(images)}")
                if key in ("gaze", "head"):
                    rows = rows.astype(np.float32)
                h5io.append_rows(f, COLUMNS.get(key, key), rows[..., ::-1] if key == "image" else rows, compression)
            samples += len(images)
    return samples


def write_h5(path, records, overwrite=False):
    """Write the sample records of ONE person to `path` in the ETH-XGaze layout, streaming
    (see `write`). Returns samples written."""

    def blocks():
        person = None
        for images, gaze, head, names in h5io.record_batches(records):
            if gaze is None:
                raise ValueError("ETH-XGaze records need 'gaze' labels")
            for name in names:
                person = name if person is None else person
                if name != person:
                    raise ValueError(
                        f"{path}: an ETH-XGaze file holds one subject; got persons {person!r} and {name!r}"
                    )
            yield {"image": images, "gaze": gaze, "head": head}
        if person is None:
            raise ValueError(f"{path}: no records to write")

    return write(path, blocks(), overwrite=overwrite)
