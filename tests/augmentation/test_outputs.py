"""tfredirect.augmentation.outputs: every layout reads back with exact labels and provenance; the
ST-ED layout marks its per-eye labels as not available."""

import csv
import os

import numpy as np

from aug_helpers import N, sted_rows
from tfredirect import augmentation
from tfredirect.augmentation import TargetSampler
from tfredirect.data import sources


def test_folder_layout_reads_back_with_exact_labels(backend, data, tmp_path):
    _, index = data
    sampler = TargetSampler(kind="random", seed=8)
    augmentation.augment(index, backend, tmp_path / "ref.h5", 2, sampler, chunk=8)
    out = tmp_path / "pngs"
    info = augmentation.augment(index, backend, out, 2, sampler, layout="folder", chunk=8)
    assert info["complete"] and sorted(os.listdir(out)) == ["augmentation.json", "images", "labels.csv"]
    back = sources.build_index("folder", str(out / "labels.csv"))
    ref = sted_rows(tmp_path / "ref.h5")
    with open(out / "labels.csv") as fh:
        rows = list(csv.DictReader(fh))
    key = np.array([int(r["source_index"]) * 2 + int(r["copy"]) for r in rows])
    assert sorted(key.tolist()) == list(range(2 * N))
    order = np.argsort(key)
    assert np.array_equal(back.gaze[order], ref["labels"][:, 0:2])  # 9 significant digits: exact float32
    assert np.array_equal(back.head[order], ref["labels"][:, 2:4])
    assert [rows[i]["kind"] for i in order] == [augmentation.KINDS[k] for k in ref["kind"]]
    assert np.array_equal(np.array(back.persons)[back.person[order]], ref["person"])
    assert np.array_equal(back.read(order, 32), ref["pixels"])  # PNG is lossless
