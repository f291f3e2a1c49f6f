"""One entry point from (source, path) to tf.data streams, for the tools.

source: "xgaze" (ETH-XGaze subject files), "sted" (ST-ED / faze_preprocess h5: GazeCapture,
MPIIFaceGaze) or "folder" (images + CSV). path: a file, a folder (its *.h5 / *.hdf5 or *.csv
files) or a glob. Records follow tfredirect.data (RGB uint8 at `size`, radians, person id).
"""

from tfredirect.data import folder, h5io, pairs, sted, xgaze

SOURCES = ("xgaze", "sted", "folder")
_MODULES = {"xgaze": xgaze, "sted": sted, "folder": folder}


def build_index(source, path, with_gaze=True, max_open_files=64):
    """The SampleIndex (labels and pixel locations, no pixels) of `path`."""
    if source not in _MODULES:
        raise ValueError(f"unknown data source {source!r}; expected one of {SOURCES}")
    module = _MODULES[source]
    paths = h5io.resolve_paths(path, module.PATTERNS)
    if source == "folder":
        return module.build_index(paths, with_gaze=with_gaze)
    return module.build_index(paths, with_gaze=with_gaze, max_open_files=max_open_files)


def make_pairs(source, path, size, batch_size, seed, min_angle_deg=0.0, infinite=True):
    """Batched pair records (tfredirect.data.PAIR_KEYS) of same-person, different-pose
    samples, shuffled by `seed`; endless, or one epoch when infinite=False (see
    pairs.pair_dataset). min_angle_deg: gaze or head differ by at least this much."""
    index = build_index(source, path)
    return pairs.pair_dataset(index, size, batch_size, seed=seed, min_angle_deg=min_angle_deg, infinite=infinite)


def make_samples(source, path, size, shuffle=False, seed=0, infinite=False, with_gaze=True):
    """Sample records (tfredirect.data.SAMPLE_KEYS), unbatched, in file order or shuffled.
    with_gaze=False reads unlabeled data (ETH-XGaze test split) for inference: records then
    have image, head and person only."""
    index = build_index(source, path, with_gaze=with_gaze)
    return pairs.sample_dataset(index, size, shuffle=shuffle, seed=seed, infinite=infinite)


def write_sted_h5(path, records, overwrite=False):
    """Write sample records in the ST-ED layout (see sted.write_h5); returns (persons, samples)."""
    return sted.write_h5(path, records, overwrite=overwrite)


def write_xgaze_h5(path, records, overwrite=False):
    """Write one person's sample records in the ETH-XGaze layout (see xgaze.write_h5)."""
    return xgaze.write_h5(path, records, overwrite=overwrite)
