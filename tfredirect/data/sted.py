"""ST-ED / faze_preprocess h5 files (GazeCapture, MPIIFaceGaze): reader and writer.

Layout (MODEL.md): one group per person, each with `pixels` (N, S, S, 3) uint8 **RGB**
(S = 128 in the published files) and `labels` (N, 8) float32 radians
`[gaze pitch, gaze yaw, head pitch, head yaw, left-eye pitch, yaw, right-eye pitch, yaw]`.
The group name is the person id; groups with the same name in several files are the same
person (as when one dataset is split over files, or an augmented copy sits beside it). The
readers use columns 0:4 only: files written here without per-eye labels (augmented copies,
sample records) hold NaN in columns 4:8 and the attribute `eye_labels = "not available"`.
"""

import h5py
import numpy as np

from tfredirect.data import h5io
from tfredirect.data.index import IndexBuilder, finite_rows, report_skipped

PATTERNS = ("*.h5", "*.hdf5")
LABEL_COLUMNS = 8
EYES_NOT_AVAILABLE = "not available"  # the `eye_labels` attribute of files whose eye columns are NaN


def _index_file(builder, fname, with_gaze):
    skipped = total = 0
    with h5io.open_h5(fname) as f:
        groups = [(name, item) for name, item in f.items() if isinstance(item, h5py.Group)]
        if not groups:
            hint = " - looks like ETH-XGaze (source 'xgaze')" if "face_patch" in f else ""
            raise ValueError(f"{fname}: no person groups (ST-ED layout: /<person>/pixels, /<person>/labels){hint}")
        for name, group in groups:
            pixels = h5io.check_image_dataset(h5io.require_dataset(group, "pixels", fname), fname)
            labels = h5io.require_dataset(group, "labels", fname, shape=(pixels.shape[0], LABEL_COLUMNS), floating=True)
            lab = h5io.read_all(labels, fname, np.s_[:, :4])
            fields = {f"{labels.name}[:, 2:4] (head)": lab[:, 2:4]}
            if with_gaze:
                fields = {f"{labels.name}[:, 0:2] (gaze)": lab[:, 0:2], **fields}
            ok = finite_rows(fname, **fields)
            rows = np.flatnonzero(ok)
            builder.add((fname, pixels.name), name, rows, lab[rows, 0:2] if with_gaze else None, lab[rows, 2:4])
            skipped += len(ok) - len(rows)
            total += len(ok)
    report_skipped(fname, skipped, total)


def build_index(paths, with_gaze=True, max_open_files=64):
    """SampleIndex over ST-ED h5 files (a list of paths). with_gaze=False ignores the gaze
    columns (inference); pixels are read lazily, at most `max_open_files` files open."""
    builder = IndexBuilder(h5io.H5RowReader(bgr=False, max_open=max_open_files), has_gaze=with_gaze)
    for fname in paths:
        _index_file(builder, fname, with_gaze)
    return builder.build(", ".join(paths))


def labels(gaze, head, eyes=None):
    """(n, 8) float32 ST-ED labels from gaze and head (n, 2) radians and the per-eye
    (left pitch, yaw, right pitch, yaw) (n, 4); without `eyes` the eye columns are NaN: not
    available (the readers use columns 0:4 only)."""
    gaze, head = np.asarray(gaze, np.float32), np.asarray(head, np.float32)
    eyes = np.full((len(gaze), 4), np.nan, np.float32) if eyes is None else np.asarray(eyes, np.float32)
    return np.concatenate([gaze, head, eyes], axis=1)


def _check_person(name):
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"person id {name!r} cannot be an h5 group name (non-empty, no '/', not '.' or '..')")


def write(path, blocks, attrs=None, overwrite=False, compression=None):
    """Write an ST-ED file, the one writer of the layout. `blocks`: an iterable of
    (person, columns), columns a dict of per-row arrays with `pixels` (n, S, S, 3) uint8 RGB
    and `labels` (n, 8) radians (see `labels`); any other column (e.g. the provenance of
    augmented samples) is stored beside them in the group. Blocks of one person append to its
    group, so a stream of any length passes through. `attrs` go on the file (`layout` is
    "ST-ED"); `compression` (e.g. "gzip") applies to every dataset. Atomic (temporary file,
    fsync, rename); an existing file is kept unless `overwrite`. Returns (persons, samples)."""
    persons, samples = set(), 0
    with h5io.atomic_h5(path, overwrite) as f:
        f.attrs.update({"layout": "ST-ED", **(attrs or {})})
        for person, columns in blocks:
            person = str(person)
            _check_person(person)
            pixels, lab = np.asarray(columns["pixels"]), np.asarray(columns["labels"])
            if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[3] != 3:
                raise ValueError(f"{path}: '{person}' pixels are {pixels.dtype} {pixels.shape}, "
                                 "expected uint8 (n, S, S, 3)")
            if lab.shape != (len(pixels), LABEL_COLUMNS) or lab.dtype.kind != "f":
                raise ValueError(f"{path}: '{person}' labels are {lab.dtype} {lab.shape}, expected float "
                                 f"({len(pixels)}, {LABEL_COLUMNS})")
            group = f.require_group(person)
            for key, rows in columns.items():
                if len(rows) != len(pixels):
                    raise ValueError(f"{path}: '{person}' column {key!r} has {len(rows)} rows, pixels {len(pixels)}")
                h5io.append_rows(group, key, rows, compression)
            persons.add(person)
            samples += len(pixels)
    return len(persons), samples


def write_h5(path, records, overwrite=False):
    """Write sample records (single or batched, NumPy or tensors; e.g. a `make_samples`
    stream) to `path` in the ST-ED layout, one group per person, streaming (see `write`).
    Records have no per-eye labels: the eye columns are NaN and the file says
    `eye_labels: "not available"`. Returns (persons, samples) written."""

    def blocks():
        count = 0
        for images, gaze, head, names in h5io.record_batches(records):
            if gaze is None:
                raise ValueError("ST-ED records need 'gaze' labels")
            lab = labels(gaze, head)
            for name in dict.fromkeys(names):
                sel = np.array([n == name for n in names])
                yield name, {"pixels": images[sel], "labels": lab[sel]}
            count += len(images)
        if not count:
            raise ValueError(f"{path}: no records to write")

    return write(path, blocks(), attrs={"eye_labels": EYES_NOT_AVAILABLE}, overwrite=overwrite)
