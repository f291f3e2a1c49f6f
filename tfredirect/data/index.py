"""The sample index every reader builds: labels and pixel locations, never pixels.

Per usable sample an index keeps gaze and head (pitch, yaw) radians, a person and where the
pixels live (a *location* - (file, dataset key) for h5, an image path for folders - and a
row). That is ~30 bytes per sample however large the files, so readers stream: pixels are
read on demand by `SampleIndex.read` and resized to the requested size.
"""

import dataclasses
import logging
import re
from typing import Callable

import cv2
import numpy as np

from tfredirect import geometry

log = logging.getLogger(__name__)


def resize_square(image, size):
    """Resize a square uint8 image to (size, size): cv2.INTER_AREA when shrinking (no
    aliasing), INTER_CUBIC when enlarging."""
    if image.shape[0] == size:
        return image
    interp = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=interp)


class DataReadError(ValueError):
    """Pixel data that cannot be read; the message names the file, the group or CSV line
    and the row, on one line."""


_READ_ERROR = re.compile(r"DataReadError: ([^\n]*)")


def read_error_message(err):
    """The one-line message of a DataReadError, also when tf.data delivers it wrapped in
    an op error (the readers run inside `tf.numpy_function`); None for other errors."""
    if isinstance(err, DataReadError):
        return str(err)
    found = _READ_ERROR.search(str(getattr(err, "message", None) or err))
    return found.group(1).strip() if found else None


def tool_error_message(err, expected=(ValueError, OSError)):
    """The one line a command-line tool prints for `err`: the text of an `expected` error,
    or a reader's message unwrapped from a tf.data op error; None for anything else (a bug,
    to be raised with its traceback)."""
    return str(err) if isinstance(err, expected) else read_error_message(err)


def finite_rows(source, **fields):
    """Mask of the rows whose labels (each field an (n, 2) pitch/yaw array) are all finite.

    The finite rows must be radians: a ValueError naming `source` and the field is raised
    otherwise (e.g. degrees). NaN rows are the caller's to skip and count.
    """
    ok = np.ones(len(next(iter(fields.values()))), bool)
    for arr in fields.values():
        ok &= np.isfinite(arr).all(axis=1)
    for name, arr in fields.items():
        geometry.check_pitchyaw(arr[ok], name, source=source)
    return ok


def report_skipped(source, skipped, total):
    """The one log line per file about rows skipped for NaN labels."""
    if skipped:
        log.warning("%s: skipped %d of %d rows with NaN labels", source, skipped, total)


@dataclasses.dataclass(frozen=True)
class SampleIndex:
    """Labels and pixel locations of every usable sample of a dataset.

    gaze is NaN everywhere when the index was built without gaze (`has_gaze` False, e.g.
    the unlabeled ETH-XGaze test split); `reader(location, row)` returns uint8 RGB (S, S, 3).
    """

    gaze: np.ndarray  # (N, 2) float32 radians
    head: np.ndarray  # (N, 2) float32 radians
    person: np.ndarray  # (N,) int32 into `persons`
    persons: tuple  # person id strings
    location: np.ndarray  # (N,) int32 into `locations`
    locations: tuple
    row: np.ndarray  # (N,) int64
    reader: Callable
    has_gaze: bool
    description: str
    origins: tuple = ()  # per location: the CSV listing it (folder datasets; `row` is then its line)

    def __len__(self):
        return len(self.row)

    def where(self, i):
        """Where sample `i`'s pixels live, for messages: "<file>: '<dataset>' row <r>" (h5)
        or "<csv>: line <n>: <image>" (folder)."""
        loc, row = self.locations[self.location[i]], int(self.row[i])
        if isinstance(loc, tuple):
            return f"{loc[0]}: '/{loc[1].lstrip('/')}' row {row}"
        origin = self.origins[self.location[i]] if self.origins else None
        return f"{origin}: line {row}: {loc}" if origin else loc

    def read_image(self, i):
        """The stored uint8 RGB image of sample `i`, at its own size; DataReadError naming
        the file, group or CSV line and row when the pixels cannot be read."""
        try:
            image = self.reader(self.locations[self.location[i]], self.row[i])
        except DataReadError:
            raise
        except Exception as err:  # h5py OSError, cv2.error, reader ValueError: all unreadable pixels
            first = (str(err).strip().splitlines() or [""])[0][:300]
            loc = self.locations[self.location[i]]
            name = f"{loc if isinstance(loc, str) else loc[0]}: "
            detail = first[len(name):] if isinstance(err, ValueError) and first.startswith(name) else \
                f"cannot read pixel data ({type(err).__name__}: {first})"
            raise DataReadError(f"{self.where(i)}: {detail}") from err
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or image.shape[0] != image.shape[1]:
            raise DataReadError(f"{self.where(i)}: pixel data is {image.dtype} {image.shape}, "
                                "expected a square uint8 (S, S, 3) image")
        return image

    def read(self, ids, size):
        """uint8 RGB images (n, size, size, 3) of the samples `ids` (DataReadError as `read_image`)."""
        out = np.empty((len(ids), size, size, 3), np.uint8)
        for j, i in enumerate(np.asarray(ids)):
            out[j] = resize_square(self.read_image(i), size)
        return out

    def groups(self):
        """Samples grouped by person: (members, starts, counts) with the samples of person p
        at members[starts[p] : starts[p] + counts[p]]."""
        members = np.argsort(self.person, kind="stable")
        counts = np.bincount(self.person, minlength=len(self.persons))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        return members, starts, counts


class IndexBuilder:
    """Collects blocks of samples from one or more files into a SampleIndex. Persons with
    the same id in different files are the same person."""

    def __init__(self, reader, has_gaze=True):
        self.reader = reader
        self.has_gaze = has_gaze
        self._persons, self._locations = {}, {}
        self._origins = []
        self._blocks = []

    def add(self, location, person, rows, gaze, head, origin=None):
        """Samples `rows` (n,) of one `location` and one `person`; gaze may be None.
        `origin`: the file listing the location (a CSV, whose line numbers are the rows)."""
        loc = self._locations.setdefault(location, len(self._locations))
        if loc == len(self._origins):
            self._origins.append(origin)
        pid = self._persons.setdefault(str(person), len(self._persons))
        rows = np.asarray(rows, np.int64)
        n = len(rows)
        gaze = np.full((n, 2), np.nan, np.float32) if gaze is None else np.asarray(gaze, np.float32)
        head = np.asarray(head, np.float32)
        self._blocks.append((gaze, head, np.full(n, pid, np.int32), np.full(n, loc, np.int32), rows))

    def build(self, description):
        """The SampleIndex; raises ValueError when no usable sample was added."""
        total = sum(len(b[4]) for b in self._blocks)
        if total == 0:
            raise ValueError(f"{description}: empty dataset (no usable samples)")
        gaze, head, person, location, row = (np.concatenate(parts) for parts in zip(*self._blocks))
        return SampleIndex(
            gaze=gaze, head=head, person=person, persons=tuple(self._persons), location=location,
            locations=tuple(self._locations), row=row, reader=self.reader, has_gaze=self.has_gaze,
            description=description, origins=tuple(self._origins) if any(self._origins) else (),
        )
