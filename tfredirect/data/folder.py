"""A folder of face images with a CSV of labels, for anyone's own data.

The CSV has a header with at least the columns `path, person, gaze_pitch, gaze_yaw,
head_pitch, head_yaw` (radians, MODEL.md convention); `path` is relative to the CSV's folder
(absolute paths work too). Images are square normalized face patches in any format OpenCV
reads; they are read lazily with OpenCV and converted BGR -> RGB. Rows with an empty or NaN
label are skipped and counted. `write` makes such a folder (PNGs and labels.csv).
"""

import csv
import math
import os
import shutil

import cv2
import numpy as np

from tfredirect import fileio
from tfredirect.data.index import IndexBuilder, finite_rows, report_skipped

PATTERNS = ("*.csv",)
COLUMNS = ("path", "person", "gaze_pitch", "gaze_yaw", "head_pitch", "head_yaw")


def read_image(path, row=None):
    """uint8 RGB image at `path` (square); `row` (the CSV line listing it) is unused."""
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: cannot read image")
    if image.shape[0] != image.shape[1]:
        raise ValueError(f"{path}: image is {image.shape[1]}x{image.shape[0]}, expected a square face patch")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _number(text, fname, line, column):
    text = text.strip()
    if text.lower() in ("", "nan"):
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{fname}: line {line}: column '{column}' is not a number: {text!r}") from None


def _read_csv(fname, with_gaze):
    needed = [c for c in COLUMNS if with_gaze or not c.startswith("gaze")]
    with open(fname, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in needed if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{fname}: missing column(s) {missing}; expected header {','.join(COLUMNS)}")
        rows = []
        for rec in reader:
            line = reader.line_num
            if not rec["path"] or not rec["person"]:
                raise ValueError(f"{fname}: line {line}: empty 'path' or 'person'")
            values = [_number(rec[c], fname, line, c) for c in needed[2:]]
            rows.append((rec["path"], rec["person"], values, line))
    return rows


def _index_file(builder, fname, with_gaze):
    rows = _read_csv(fname, with_gaze)
    if not rows:
        return
    values = np.array([r[2] for r in rows], np.float32)
    fields = {"head_pitch/head_yaw": values[:, -2:]}
    if with_gaze:
        fields = {"gaze_pitch/gaze_yaw": values[:, :2], **fields}
    ok = finite_rows(fname, **fields)
    base = os.path.dirname(os.path.abspath(fname))
    missing = []
    for i in np.flatnonzero(ok):
        path = os.path.join(base, rows[i][0])
        if not os.path.isfile(path):
            missing.append(rows[i][0])
            continue
        builder.add(path, rows[i][1], [rows[i][3]], values[i : i + 1, :2] if with_gaze else None,
                    values[i : i + 1, -2:], origin=fname)
    if missing:
        raise ValueError(f"{fname}: column 'path': {len(missing)} image(s) not found, e.g. {missing[0]!r}")
    report_skipped(fname, len(ok) - int(ok.sum()), len(ok))


def build_index(paths, with_gaze=True):
    """SampleIndex over CSV files (a list of paths); with_gaze=False makes the gaze
    columns optional and ignores them (inference)."""
    builder = IndexBuilder(read_image, has_gaze=with_gaze)
    for fname in paths:
        _index_file(builder, fname, with_gaze)
    return builder.build(", ".join(paths))


def _cells(values):
    """CSV cells of one column (n,): floats with 9 significant digits (float32 exactly)."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        return [f"{v:.9g}" for v in values]
    return [str(v) for v in values.tolist()]


def write(folder, blocks, overwrite=False):
    """Write a folder dataset, the one writer of the layout: PNGs under `images/` and
    `labels.csv`. `blocks`: an iterable of dicts of per-row values: `name` (file names under
    images/), `image` (n, S, S, 3) uint8 RGB, `person`, `gaze`, `head` (n, 2) radians, then
    any extra columns in order, (n,) or (n, 2) (written as <key>_pitch, <key>_yaw); every block
    has the same keys. The folder is built beside `folder` and renamed in; an existing one is
    kept unless `overwrite`. Returns samples written."""
    folder = os.fspath(folder)
    fileio.refuse_existing(folder, overwrite, flag="overwrite=True")
    tmp = fileio.temp_path(folder)
    samples = 0
    try:
        os.makedirs(os.path.join(tmp, "images"))
        with open(os.path.join(tmp, "labels.csv"), "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            header = None
            for block in blocks:
                keys = [k for k in block if k not in ("name", "image")]
                columns = [np.asarray(block[k]) for k in keys]
                if header is None:
                    if keys[:3] != ["person", "gaze", "head"]:
                        raise ValueError(f"{folder}: blocks start with person, gaze, head; got {keys[:3]}")
                    header = keys
                    writer.writerow(["path"] + [name for k, c in zip(keys, columns) for name in
                                                ((f"{k}_pitch", f"{k}_yaw") if c.ndim == 2 else (k,))])
                elif keys != header:
                    raise ValueError(f"{folder}: every block has the columns {header}, got {keys}")
                cells = [_cells(c) if c.ndim == 1 else [*zip(_cells(c[:, 0]), _cells(c[:, 1]))] for c in columns]
                for i, (name, image) in enumerate(zip(block["name"], np.asarray(block["image"]))):
                    rel = f"images/{name}"
                    if not cv2.imwrite(os.path.join(tmp, rel), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
                        raise OSError(f"{os.path.join(folder, rel)}: cannot write image")
                    row = [rel]
                    for c in cells:
                        row += list(c[i]) if isinstance(c[i], tuple) else [c[i]]
                    writer.writerow(row)
                    samples += 1
            if header is None:
                writer.writerow(COLUMNS)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite and os.path.lexists(folder):
            shutil.rmtree(folder) if os.path.isdir(folder) and not os.path.islink(folder) else os.remove(folder)
        os.replace(tmp, folder)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
    return samples
