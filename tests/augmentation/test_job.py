"""tfredirect.augmentation.job: counts, labels, provenance, pixels, resume, refusals and sharding."""

import collections
import hashlib
import os

import h5py
import numpy as np
import pytest

from aug_helpers import COUNTS, N, expected, sted_rows
from h5_builders import random_sted_file  # on the path from conftest.py
from tfredirect import augmentation
from tfredirect.augmentation import TargetSampler
from tfredirect.data import sources


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_counts_labels_provenance_and_pixels(backend, data, tmp_path):
    path, index = data
    sampler = TargetSampler(kind="mixed", seed=3)
    seen = []
    info = augmentation.augment(index, backend, tmp_path / "aug.h5", 3, sampler, chunk=5,
                                progress=lambda d, t: seen.append((d, t)))
    assert info["complete"] and info["written"] == info["new_images"] == N * 3 and info["persons"] == 3
    assert seen == [(0, N), (5, N), (10, N), (15, N), (16, N)]
    assert sorted(os.listdir(tmp_path)) == ["aug.h5"]  # staging folder removed
    r = sted_rows(tmp_path / "aug.h5")
    assert len(r["labels"]) == N * 3
    with h5py.File(tmp_path / "aug.h5", "r") as f:
        assert {name: len(f[name]["labels"]) for name in f} == {p: 3 * n for p, n in COUNTS.items()}
        assert f.attrs["layout"] == "ST-ED" and f.attrs["per_image"] == 3
        assert f.attrs["eye_labels"] == "not available" and f.attrs["shard"] == "0/1"
    # every source exactly K times, (source_index, copy) unique
    assert collections.Counter(r["source_index"].tolist()) == {i: 3 for i in range(N)}
    assert len(set(zip(r["source_index"].tolist(), r["copy"].tolist()))) == N * 3
    src = r["source_index"]
    assert np.array_equal(r["person"], np.array(index.persons)[index.person[src]])
    assert np.array_equal(r["source_gaze"], index.gaze[src]) and np.array_equal(r["source_head"], index.head[src])
    # labels are exactly the requested targets; what is not redirected keeps the source label
    kinds, tg, th = expected(sampler, index, 3)
    assert np.array_equal(r["kind"], kinds) and set(kinds.tolist()) == {0, 1, 2}
    assert np.array_equal(r["labels"][:, 0:2], tg) and np.array_equal(r["labels"][:, 2:4], th)
    assert np.isnan(r["labels"][:, 4:8]).all()  # no per-eye labels for generated copies, and the file says so
    g_kept, h_kept = np.all(tg == index.gaze[src], 1), np.all(th == index.head[src], 1)
    assert np.array_equal(g_kept, kinds == 1) and np.array_equal(h_kept, kinds == 0)
    # each row is its source redirected to its targets
    direct = backend(index.read(src, 32), index.gaze[src], index.head[src], tg, th, kinds)
    assert np.abs(direct.astype(int) - r["pixels"]).max() <= 1


def test_interrupted_run_resumes_to_the_uninterrupted_result(backend, data, tmp_path):
    path, index = data
    sampler = TargetSampler(kind="random", mode="kde", seed=4)
    full = augmentation.augment(index, backend, tmp_path / "full.h5", 2, sampler, chunk=4)
    out = tmp_path / "resumed.h5"
    part = augmentation.augment(index, backend, out, 2, sampler, chunk=4, stop_after=5)
    assert not part["complete"] and part["done"] == 8 and part["written"] == 16 and not out.exists()
    staging = augmentation.staging_path(out)
    assert augmentation.staging_progress(out) == 8
    # a kill while writing the next chunk leaves a temporary file, or (power cut) a torn one
    open(os.path.join(staging, "chunk_0000000008_0000000012.h5.tmp"), "wb").write(b"partial")
    open(os.path.join(staging, "chunk_0000000008_0000000012.h5"), "wb").write(b"\x89HDF torn")
    messages = []
    info = augmentation.augment(index, backend, out, 2, sampler, chunk=4, log=messages.append)
    assert messages == [f"resuming from {staging}: 8 of {N} sources already done"]
    assert info["complete"] and info["resumed_from"] == 8 and info["new_images"] == 2 * (N - 8)
    assert info["written"] == full["written"] == 2 * N and not os.path.exists(staging)
    a, b = sted_rows(tmp_path / "full.h5"), sted_rows(out)
    assert len(set(zip(b["source_index"].tolist(), b["copy"].tolist()))) == 2 * N
    for key in ("labels", "person", *augmentation.PROVENANCE):
        assert np.array_equal(a[key], b[key], equal_nan=a[key].dtype.kind == "f"), key
    assert np.abs(a["pixels"].astype(int) - b["pixels"]).max() <= 1


def test_refuses_to_touch_the_input_or_an_existing_output(backend, data, tmp_path):
    path, index = data
    before = _sha(path)
    folder = os.path.dirname(path)
    link = tmp_path / "link.h5"
    os.symlink(path, link)
    sampler = TargetSampler()
    for out, kwargs, message in [(path, {"overwrite": True}, "is the input file"),
                                 (link, {"overwrite": True}, "is the input file"),
                                 (folder, {"overwrite": True}, "holding the input file"),
                                 (os.path.join(folder, "aug.h5"), {"protect": [folder]}, "inside the input folder"),
                                 (os.path.join(folder, ".", "train.h5"), {}, "is the input file")]:
        with pytest.raises(ValueError, match=message):
            augmentation.augment(index, backend, out, 2, sampler, **kwargs)
    assert _sha(path) == before and sorted(os.listdir(folder)) == ["train.h5"]
    existing = tmp_path / "old.h5"
    existing.write_bytes(b"old")
    with pytest.raises(ValueError, match="exists; pass --overwrite"):
        augmentation.augment(index, backend, existing, 2, sampler)
    with pytest.raises(ValueError, match="unknown layout 'tfrecord'"):
        augmentation.augment(index, backend, tmp_path / "x", 2, sampler, layout="tfrecord")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("not augmentation output")
    with pytest.raises(ValueError, match="not an augmentation output"):
        augmentation.augment(index, backend, mine, 2, sampler, layout="folder", overwrite=True)
    assert existing.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["link.h5", "mine", "old.h5"]
    assert os.listdir(mine) == ["notes.txt"]


def test_mismatched_image_size_needs_resize(backend, tmp_path):
    big = random_sted_file(tmp_path / "big.h5", {"a": 3}, 48)
    index = sources.build_index("sted", big)
    with pytest.raises(ValueError, match=r"big.h5: '/a/pixels' row 0: the data has 48x48 images, the model takes "
                                         r"32x32; pass --resize"):
        augmentation.augment(index, backend, tmp_path / "aug.h5", 2, TargetSampler())
    assert sorted(os.listdir(tmp_path)) == ["big.h5"]
    info = augmentation.augment(index, backend, tmp_path / "aug.h5", 2, TargetSampler(), resize=True)
    assert info["written"] == 6 and sted_rows(tmp_path / "aug.h5")["pixels"].shape == (6, 32, 32, 3)


# ---------------------------------------------------------------------------- layouts


def test_shard_ranges_names_and_globs():
    assert [augmentation.shard_range(16, i, 3) for i in range(3)] == [(0, 5), (5, 10), (10, 16)]
    assert augmentation.shard_range(16) == (0, 16)
    assert augmentation.shard_output_path("d/aug.h5", 1, 3) == "d/aug-00001-of-00003.h5"
    assert augmentation.shard_output_path("d/aug/", 2, 3, "xgaze") == "d/aug-00002-of-00003"
    assert augmentation.shard_glob("d/aug.h5", 3) == "d/aug-*-of-00003.h5"
    with pytest.raises(ValueError, match="shard_index must be in"):
        augmentation.shard_range(16, 3, 3)
    with pytest.raises(ValueError, match="num_shards 17 exceeds the 16 sources"):
        augmentation.shard_range(16, 0, 17)


@pytest.mark.parametrize("layout", ["sted", "xgaze", "folder"])
def test_the_union_of_three_shards_is_the_single_process_output(backend, data, tiny_judge, tmp_path, layout):
    """Sample for sample (sorted by (source_index, copy)): pixels, labels, provenance and judged
    errors bit-identical; one shard resumed after an interruption; the readers take the shard
    outputs together with the glob."""
    from aug_helpers import folder_rows, xgaze_rows

    _, index = data
    sampler = TargetSampler(kind="mixed", mode="kde", seed=13)
    kwargs = dict(layout=layout, chunk=3, judge=tiny_judge)
    single = tmp_path / ("single.h5" if layout == "sted" else "single")
    augmentation.augment(index, backend, single, 2, sampler, **kwargs)
    out = tmp_path / ("aug.h5" if layout == "sted" else "aug")
    shards = [augmentation.shard_output_path(out, i, 3, layout) for i in range(3)]
    part = augmentation.augment(index, backend, shards[1], 2, sampler, num_shards=3, shard_index=1, stop_after=2,
                                **kwargs)
    assert not part["complete"] and part["sources_range"] == [5, 10]
    assert augmentation.staging_progress(shards[1]) == 4  # chunks [5, 6) and [6, 9): the grid of one process
    for i, path in enumerate(shards):
        info = augmentation.augment(index, backend, path, 2, sampler, num_shards=3, shard_index=i, **kwargs)
        assert info["complete"] and info["sources"] == len(range(*augmentation.shard_range(N, i, 3)))
        assert info["resumed_from"] == (4 if i == 1 else 0)
    if layout == "folder":
        a, b = folder_rows(single), folder_rows(*shards)
        assert [{k: v for k, v in r.items() if k not in ("folder",)} for r in a] == \
            [{k: v for k, v in r.items() if k not in ("folder",)} for r in b]
        import cv2

        for ra, rb in zip(a, b):
            pa, pb = (cv2.imread(os.path.join(r["folder"], r["path"]), cv2.IMREAD_UNCHANGED) for r in (ra, rb))
            assert np.array_equal(pa, pb)
    else:
        read = (lambda *p: sted_rows(*p)) if layout == "sted" else (lambda *p: xgaze_rows(*p))
        a, b = read(single), read(*shards)
        assert set(a) == set(b) and len(a["copy"]) == 2 * N
        for key in a:
            assert np.array_equal(a[key], b[key], equal_nan=a[key].dtype.kind == "f"), key
    together = sources.build_index(layout, augmentation.shard_glob(out, 3, layout))
    alone = sources.build_index(layout, str(single))
    assert len(together) == len(alone) == 2 * N and set(together.persons) == set(alone.persons)
    assert sorted(map(tuple, together.gaze.tolist())) == sorted(map(tuple, alone.gaze.tolist()))
