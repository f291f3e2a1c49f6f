"""ST-ED / faze_preprocess h5 files (GazeCapture, MPIIFaceGaze): reader and writer.

Layout (MODEL.md): one group per person, each with `pixels` (N, S, S, 3) uint8 **RGB**
(S = 128 in the published files) and `labels` (N, 8) float32 radians
`[gaze pitch, gaze yaw, head pitch, head yaw, left-eye pitch, yaw, right-eye pitch, yaw]`.
The group name is the person id; groups with the same name in several files are the same
person (as when one dataset is split over files, or an augmented copy sits beside it).
"""

import h5py
import numpy as np

from tfredirect.data import h5io
from tfredirect.data.index import IndexBuilder, finite_rows, report_skipped

PATTERNS = ("*.h5", "*.hdf5")
LABEL_COLUMNS = 8


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


def write_h5(path, records, overwrite=False):
    """Write sample records (single or batched, NumPy or tensors; e.g. a `make_samples`
    stream) to `path` in the ST-ED layout, one group per person, streaming. The eye
    columns of `labels` repeat the face gaze (records have no per-eye labels). Atomic
    (temporary file + rename); an existing file is kept unless `overwrite`.
    Returns (persons, samples) written."""
    persons, samples = set(), 0
    with h5io.atomic_h5(path, overwrite) as f:
        f.attrs["layout"] = "ST-ED"
        for images, gaze, head, names in h5io.record_batches(records):
            if gaze is None:
                raise ValueError("ST-ED records need 'gaze' labels")
            labels = np.concatenate([gaze, head, gaze, gaze], axis=1)
            for name in dict.fromkeys(names):
                if not name or "/" in name or name == ".":
                    raise ValueError(f"person id {name!r} cannot be an h5 group name (non-empty, no '/')")
                sel = np.array([n == name for n in names])
                group = f.require_group(name)
                h5io.append_rows(group, "pixels", images[sel])
                h5io.append_rows(group, "labels", labels[sel])
                persons.add(name)
            samples += len(images)
        if not samples:
            raise ValueError(f"{path}: no records to write")
    return len(persons), samples
