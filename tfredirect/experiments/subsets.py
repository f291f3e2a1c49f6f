"""The data of the downstream experiment (experiments/downstream.py): the narrow subset, the
optional full-range arm, the held-out test batches and the full-range reference labels of
the kde targets, from SynthGaze (rendered to ST-ED h5 files) or a real dataset (read
through its index, held-out persons as tools/train.py splits them)."""

import dataclasses
import os
import time

import numpy as np

from tfredirect.progress import Progress


def gaze_extent_deg(gaze):
    """max(|pitch|, |yaw|) in degrees of (n, 2) radians: what the narrow filter bounds."""
    return np.degrees(np.abs(np.asarray(gaze, np.float64))).max(axis=1)


def subset_index(index, ids, description):
    """A SampleIndex of the samples `ids` of `index` (persons kept as they are)."""
    ids = np.asarray(ids, np.int64)
    return dataclasses.replace(index, gaze=index.gaze[ids], head=index.head[ids], person=index.person[ids],
                               location=index.location[ids], row=index.row[ids], description=description)


def _write_synth_h5(path, synth, keys, verbose, chunk=256):
    """Render the SynthGaze samples `keys` (person ids, sample indices) to an ST-ED h5 file."""
    from tfredirect.data import sted

    pid, idx = keys
    name = os.path.basename(path)

    def records():
        with Progress(len(pid), f"rendering {name}", "images", verbose) as progress:
            for s in range(0, len(pid), chunk):
                images, gaze, head = synth.render_samples(pid[s : s + chunk], idx[s : s + chunk])
                progress.update(len(images))
                yield {"image": images, "gaze": gaze, "head": head,
                       "person": [f"{p:06d}" for p in pid[s : s + chunk]]}

    return sted.write_h5(path, records())


@dataclasses.dataclass
class Experiment:
    """What the arms train and test on."""

    narrow: object  # SampleIndex of the narrow subset
    full: object  # SampleIndex of the full-range arm, or None
    test: list  # NumPy sample-record batches of held-out persons at full range
    ref_gaze: np.ndarray  # full-range reference labels for the kde targets
    ref_head: np.ndarray
    description: str
    files: dict


def write_index_h5(path, index, size, verbose, chunk=256):
    """Write the samples of a SampleIndex (pixels resized to `size`, labels, persons) to an
    ST-ED h5 file, so a trainer that reads files can train on exactly that subset."""
    from tfredirect.data import sted

    name = os.path.basename(path)

    def records():
        with Progress(len(index), f"writing {name}", "images", verbose) as progress:
            for s in range(0, len(index), chunk):
                ids = np.arange(s, min(s + chunk, len(index)))
                progress.update(len(ids))
                yield {"image": index.read(ids, size), "gaze": index.gaze[ids], "head": index.head[ids],
                       "person": [index.persons[p] for p in index.person[ids]]}

    return sted.write_h5(path, records())


def synthgaze_experiment(cfg, size, log=print):
    """Render the narrow subset (and the full-range arm) of SynthGaze training persons to
    ST-ED h5 files in cfg.out_dir; test batches are SynthGaze test persons at full range."""
    from tfredirect.data import sources
    from tfredirect.data.synthgaze import SynthGaze
    from tfredirect.training.estimation import synthgaze_test_batches

    synth = SynthGaze(size=size, seed=cfg.seed, nuisance="person")
    rng = np.random.default_rng([cfg.seed, 2024])
    files = {"narrow": os.path.join(cfg.out_dir, "narrow.h5")}
    start = time.perf_counter()
    _write_synth_h5(files["narrow"], synth, synth.sample_keys("train", cfg.samples, rng, max_gaze_deg=cfg.max_gaze_deg),
                    cfg.verbose)
    log(f"rendered {cfg.samples} narrow SynthGaze samples (|gaze| < {cfg.max_gaze_deg:g} deg) to {files['narrow']} "
        f"in {time.perf_counter() - start:.0f} s")
    full = None
    if cfg.with_full:
        files["full"] = os.path.join(cfg.out_dir, "full.h5")
        _write_synth_h5(files["full"], synth, synth.sample_keys("train", cfg.samples, rng), cfg.verbose)
        full = sources.build_index("sted", files["full"])
        log(f"rendered {cfg.samples} full-range samples to {files['full']}")
    ref_gaze, ref_head = synth.labels(*synth.sample_keys("train", 20000, np.random.default_rng([cfg.seed, 77])))
    test = synthgaze_test_batches(size, count=cfg.test_samples, seed=cfg.seed)
    return Experiment(sources.build_index("sted", files["narrow"]), full, test, ref_gaze, ref_head,
                      f"SynthGaze {size}x{size} (seed {cfg.seed}): {cfg.samples} narrow training samples, "
                      f"{cfg.test_samples} test-person samples", files)


def real_experiment(cfg, size, log=print):
    """Narrow subset of the training persons of a real dataset and full-range batches of its
    held-out persons (split_index), read through the index."""
    from tfredirect.data import sources
    from tfredirect.training.data import split_index

    index = sources.build_index(cfg.data, cfg.data_path)
    train, held_out = split_index(index, "train"), split_index(index, "val")
    if len(held_out) == 0 or len(train) == 0:
        raise ValueError(f"{index.description}: too few persons to hold some out for testing "
                         f"({len(index.persons)} persons)")
    rng = np.random.default_rng([cfg.seed, 2024])
    narrow_ids = np.flatnonzero(gaze_extent_deg(train.gaze) < cfg.max_gaze_deg)
    if len(narrow_ids) == 0:
        raise ValueError(f"{index.description}: no training sample has |gaze| < {cfg.max_gaze_deg:g} deg")
    if len(narrow_ids) > cfg.samples:
        narrow_ids = np.sort(rng.choice(narrow_ids, cfg.samples, replace=False))
    narrow = subset_index(train, narrow_ids, f"{train.description} |gaze| < {cfg.max_gaze_deg:g} deg")
    full = None
    if cfg.with_full:
        full_ids = np.sort(rng.choice(len(train), min(len(narrow_ids), len(train)), replace=False))
        full = subset_index(train, full_ids, f"{train.description} full range")
    test_ids = np.arange(len(held_out))
    if len(test_ids) > cfg.test_samples:
        test_ids = np.sort(rng.choice(test_ids, cfg.test_samples, replace=False))
    test = [{"image": held_out.read(test_ids[s : s + 64], size), "gaze": held_out.gaze[test_ids[s : s + 64]],
             "head": held_out.head[test_ids[s : s + 64]]} for s in range(0, len(test_ids), 64)]
    log(f"{cfg.data} data at {cfg.data_path}: {len(narrow)} narrow training samples (|gaze| < "
        f"{cfg.max_gaze_deg:g} deg) of {len(train)}; {len(test_ids)} test samples of "
        f"{len(held_out.persons)} held-out persons")
    return Experiment(narrow, full, test, train.gaze, train.head,
                      f"{cfg.data} data at {cfg.data_path}: {len(narrow)} narrow training samples, "
                      f"{len(test_ids)} samples of {len(held_out.persons)} held-out persons", {})


def extent_summary(gaze):
    """Max, median and the fraction above 10 deg of the gaze extent (deg) of (n, 2) radians."""
    e = gaze_extent_deg(gaze)
    return {"max": float(e.max()), "median": float(np.median(e)), "fraction_above_10": float(np.mean(e > 10))}
