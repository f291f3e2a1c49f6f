"""Shared by the augmentation tests: the input's person counts, and outputs read back with every
row sorted by (source_index, copy)."""

import collections
import csv
import os

import h5py
import numpy as np

from tfredirect.augmentation import JUDGED, KINDS, PROVENANCE

COUNTS = {"p00": 5, "p01": 7, "p02": 4}  # persons of the `data` fixture: 16 sources
N = sum(COUNTS.values())


def sted_rows(*paths):
    """All rows of ST-ED outputs (e.g. the shards of one run), sorted by (source_index, copy),
    with the group name as `person`."""
    cols = collections.defaultdict(list)
    for path in paths:
        with h5py.File(path, "r") as f:
            for name in f:
                g = f[name]
                for key in ("pixels", "labels", *PROVENANCE, *(k for k in JUDGED if k in g)):
                    cols[key].append(g[key][()])
                cols["person"].append(np.array([name] * len(g["labels"])))
    cols = {k: np.concatenate(v) for k, v in cols.items()}
    order = np.lexsort((cols["copy"], cols["source_index"]))
    return {k: v[order] for k, v in cols.items()}


def xgaze_rows(*folders):
    """All rows of ETH-XGaze-layout outputs, sorted by (source_index, copy); pixels RGB."""
    cols = collections.defaultdict(list)
    for folder in folders:
        for name in sorted(n for n in os.listdir(folder) if n.endswith(".h5")):
            with h5py.File(os.path.join(folder, name), "r") as f:
                cols["pixels"].append(f["face_patch"][()][..., ::-1])
                cols["gaze"].append(f["face_gaze"][()])
                cols["head"].append(f["face_head_pose"][()])
                for key in (*PROVENANCE, *(k for k in JUDGED if k in f)):
                    cols[key].append(f[key][()])
                cols["person"].append(np.array([name[:-3]] * len(f["face_gaze"])))
    cols = {k: np.concatenate(v) for k, v in cols.items()}
    order = np.lexsort((cols["copy"], cols["source_index"]))
    return {k: v[order] for k, v in cols.items()}


def folder_rows(*folders):
    """All rows of folder-layout outputs as CSV dicts (kind as its code), sorted by (source_index, copy)."""
    rows = []
    for folder in folders:
        with open(os.path.join(folder, "labels.csv")) as fh:
            rows += [dict(r, folder=str(folder)) for r in csv.DictReader(fh)]
    rows.sort(key=lambda r: (int(r["source_index"]), int(r["copy"])))
    for r in rows:
        r["kind"] = KINDS.index(r["kind"])
    return rows


def expected(sampler, index, per_image, ids=None):
    """(kinds, target gaze, target head) of every (source, copy), sorted by source then copy."""
    ids = np.arange(len(index)) if ids is None else ids
    draws = [sampler.draw(ids, k, index.gaze, index.head) for k in range(per_image)]
    stack = lambda i: np.stack([d[i] for d in draws], axis=1).reshape((len(ids) * per_image,) + draws[0][i].shape[1:])
    return stack(0), stack(1), stack(2)
