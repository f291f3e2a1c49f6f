"""tfredirect.augmentation: target draws, counts, labels, provenance, resume, refusals, layouts.

A seeded, untrained tiny (32x32) Redirector is enough: labels and provenance do not depend
on the weights, and pixels are compared with the backend's own output."""

import collections
import hashlib
import os
import sys

import h5py
import numpy as np
import pytest

from tfredirect import augmentation
from tfredirect.augmentation import KerasBackend, LiteBackend, TargetSampler
from tfredirect.data import sources

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "data"))
from h5_builders import random_sted_file  # noqa: E402

COUNTS = {"p00": 5, "p01": 7, "p02": 4}  # 16 sources
N = sum(COUNTS.values())


@pytest.fixture(scope="module")
def model(tiny_redirector):
    return tiny_redirector


@pytest.fixture(scope="module")
def backend(model):
    return KerasBackend(model)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = random_sted_file(tmp_path_factory.mktemp("data") / "train.h5", COUNTS, 32)
    return path, sources.build_index("sted", path)


def _rows(path):
    """All rows of a ST-ED output, sorted by (source_index, copy), with the group name."""
    cols = collections.defaultdict(list)
    with h5py.File(path, "r") as f:
        for name in f:
            g = f[name]
            for key in ("pixels", "labels", *augmentation.PROVENANCE):
                cols[key].append(g[key][()])
            cols["person"].append(np.array([name] * len(g["labels"])))
    cols = {k: np.concatenate(v) for k, v in cols.items()}
    order = np.lexsort((cols["copy"], cols["source_index"]))
    return {k: v[order] for k, v in cols.items()}


def _expected(sampler, index, per_image):
    """(kinds, target gaze, target head) of every (source, copy), sorted by source then copy."""
    draws = [sampler.draw(np.arange(len(index)), k, index.gaze, index.head) for k in range(per_image)]
    stack = lambda i: np.stack([d[i] for d in draws], axis=1).reshape((len(index) * per_image,) + draws[0][i].shape[1:])
    return stack(0), stack(1), stack(2)


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


# ----------------------------------------------------------------------------- targets
def test_sampler_kinds_keep_the_unchanged_label_and_are_deterministic():
    rng = np.random.default_rng(0)
    gaze = rng.uniform(-0.3, 0.3, (200, 2)).astype(np.float32)
    head = rng.uniform(-0.2, 0.2, (200, 2)).astype(np.float32)
    ids = np.arange(200)
    lim_g, lim_h = np.radians([20.0, 25.0]), np.radians([15.0, 30.0])
    for kind, codes in augmentation.KIND_CHOICES.items():
        s = TargetSampler(kind=kind, gaze_range_deg=(20, 25), head_range_deg=(15, 30), seed=5)
        kinds, tg, th = s.draw(ids, 1, gaze, head)
        assert set(kinds.tolist()) == set(codes)  # 200 draws hit every allowed kind
        changed_g, changed_h = np.any(tg != gaze, 1), np.any(th != head, 1)
        assert np.array_equal(changed_g, np.isin(kinds, (0, 2)))  # gaze: head label kept, etc.
        assert np.array_equal(changed_h, np.isin(kinds, (1, 2)))
        assert np.all(np.abs(tg[changed_g]) <= lim_g + 1e-6) and np.all(np.abs(th[changed_h]) <= lim_h + 1e-6)
        if changed_g.any():  # spread over the ranges
            assert np.abs(tg[changed_g]).max(0) == pytest.approx(lim_g, abs=0.03)
    s = TargetSampler(kind="mixed", seed=5)
    whole = s.draw(ids, 2, gaze, head)
    parts = [s.draw(ids[a:b], 2, gaze, head) for a, b in ((0, 7), (7, 150), (150, 200))]
    for i in range(3):
        assert np.array_equal(whole[i], np.concatenate([p[i] for p in parts]))  # independent of chunking
        assert np.array_equal(whole[i], s.draw(ids, 2, gaze, head)[i])
    assert not np.array_equal(whole[1], s.draw(ids, 3, gaze, head)[1])
    assert not np.array_equal(whole[1], TargetSampler(kind="mixed", seed=6).draw(ids, 2, gaze, head)[1])
    with pytest.raises(ValueError, match="kind"):
        TargetSampler(kind="eyes")
    with pytest.raises(ValueError, match="gaze_range_deg"):
        TargetSampler(gaze_range_deg=(0, 50))


def test_kde_targets_lie_within_the_ranges_and_near_dataset_labels():
    rng = np.random.default_rng(1)
    centres = np.radians([[10.0, -20.0], [-5.0, 15.0], [0.0, 0.0]])
    gaze = (centres[rng.integers(0, 3, 300)] + rng.normal(0, 0.01, (300, 2))).astype(np.float32)
    head = (0.5 * gaze + rng.normal(0, 0.01, (300, 2))).astype(np.float32)
    bw = 1.5
    s = TargetSampler(kind="both", mode="kde", gaze_range_deg=(15, 18), head_range_deg=(10, 12), bandwidth_deg=bw,
                      seed=2)
    _, tg, th = s.draw(np.arange(300), 0, gaze, head)
    assert np.all(np.abs(tg) <= np.radians([15, 18]) + 1e-6) and np.all(np.abs(th) <= np.radians([10, 12]) + 1e-6)
    assert np.isclose(np.abs(tg[:, 1]).max(), np.radians(18), atol=1e-6)  # some draws are clipped at the range
    # the gaze AND head of each target are close to one dataset sample (joint draw)
    dist = np.maximum(np.abs(tg[:, None] - gaze[None]).max(-1), np.abs(th[:, None] - head[None]).max(-1)).min(1)
    assert np.degrees(dist).max() < 4 * bw and np.degrees(dist).mean() < 2 * bw
    far = np.degrees(np.abs(tg[:, None] - centres[None]).max(-1).min(1))
    assert far.max() < 4 * bw + 2  # nothing lands between the clusters, unlike uniform targets:
    _, ug, uh = TargetSampler(kind="both", gaze_range_deg=(15, 18), head_range_deg=(10, 12), seed=2).draw(
        np.arange(300), 0, gaze, head)
    udist = np.maximum(np.abs(ug[:, None] - gaze[None]).max(-1), np.abs(uh[:, None] - head[None]).max(-1)).min(1)
    assert np.degrees(udist).mean() > 3 * np.degrees(dist).mean()
    # Scott's rule when no bandwidth is given
    g_bw, h_bw = TargetSampler(mode="kde").bandwidth(gaze, head)
    assert np.allclose(g_bw, gaze.std(0) * 300 ** (-1 / 6)) and np.allclose(h_bw, head.std(0) * 300 ** (-1 / 6))


# ------------------------------------------------------------------------------ the job
def test_counts_labels_provenance_and_pixels(backend, data, tmp_path):
    path, index = data
    sampler = TargetSampler(kind="mixed", seed=3)
    seen = []
    info = augmentation.augment(index, backend, tmp_path / "aug.h5", 3, sampler, chunk=5,
                                progress=lambda d, t: seen.append((d, t)))
    assert info["complete"] and info["written"] == info["new_images"] == N * 3 and info["persons"] == 3
    assert seen == [(0, N), (5, N), (10, N), (15, N), (16, N)]
    assert sorted(os.listdir(tmp_path)) == ["aug.h5"]  # staging folder removed
    r = _rows(tmp_path / "aug.h5")
    assert len(r["labels"]) == N * 3
    with h5py.File(tmp_path / "aug.h5", "r") as f:
        assert {name: len(f[name]["labels"]) for name in f} == {p: 3 * n for p, n in COUNTS.items()}
        assert f.attrs["layout"] == "ST-ED" and f.attrs["per_image"] == 3
    # every source exactly K times, (source_index, copy) unique
    assert collections.Counter(r["source_index"].tolist()) == {i: 3 for i in range(N)}
    assert len(set(zip(r["source_index"].tolist(), r["copy"].tolist()))) == N * 3
    src = r["source_index"]
    assert np.array_equal(r["person"], np.array(index.persons)[index.person[src]])
    assert np.array_equal(r["source_gaze"], index.gaze[src]) and np.array_equal(r["source_head"], index.head[src])
    # labels are exactly the requested targets; what is not redirected keeps the source label
    kinds, tg, th = _expected(sampler, index, 3)
    assert np.array_equal(r["kind"], kinds) and set(kinds.tolist()) == {0, 1, 2}
    assert np.array_equal(r["labels"][:, 0:2], tg) and np.array_equal(r["labels"][:, 2:4], th)
    assert np.array_equal(r["labels"][:, 4:6], tg) and np.array_equal(r["labels"][:, 6:8], tg)
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
    a, b = _rows(tmp_path / "full.h5"), _rows(out)
    assert len(set(zip(b["source_index"].tolist(), b["copy"].tolist()))) == 2 * N
    for key in ("labels", "person", *augmentation.PROVENANCE):
        assert np.array_equal(a[key], b[key]), key
    assert np.abs(a["pixels"].astype(int) - b["pixels"]).max() <= 1


def test_a_staging_folder_of_other_parameters_is_refused_or_discarded(backend, data, tmp_path):
    _, index = data
    out = tmp_path / "aug.h5"
    sampler = TargetSampler(seed=1)
    augmentation.augment(index, backend, out, 2, sampler, chunk=4, stop_after=4)
    for args, message in [((3, sampler), "per_image 2 there, 3 now"),
                          ((2, TargetSampler(seed=2)), "sampler.seed 1 there, 2 now"),
                          ((2, TargetSampler(kind="both", seed=1)), "sampler.kind 'random' there, 'both' now")]:
        with pytest.raises(ValueError, match=message):
            augmentation.augment(index, backend, out, *args, chunk=4)
    other = KerasBackend(backend.model)
    other.identity = "keras:another"
    with pytest.raises(ValueError, match=r"checkpoint \(another model\).*--overwrite"):
        augmentation.augment(index, other, out, 2, sampler, chunk=4)
    assert augmentation.staging_progress(out) == 4 and not out.exists()
    lock = augmentation._Lock(augmentation.staging_path(out))  # another run is writing this output
    with pytest.raises(ValueError, match="another augmentation run is writing this output"):
        augmentation.augment(index, backend, out, 2, sampler, chunk=4)
    lock.release()
    messages = []
    info = augmentation.augment(index, backend, out, 3, sampler, chunk=4, overwrite=True, log=messages.append)
    assert info["complete"] and info["resumed_from"] == 0 and info["written"] == 3 * N
    assert any("discarding" in m for m in messages)


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
    assert info["written"] == 6 and _rows(tmp_path / "aug.h5")["pixels"].shape == (6, 32, 32, 3)


# ---------------------------------------------------------------------------- layouts
@pytest.fixture(scope="module")
def lite_file(model, tmp_path_factory):
    from tfredirect.serving import export_lib

    out = str(tmp_path_factory.mktemp("export") / "tiny")
    return export_lib.export(model, out, formats="tflite", quantize="none")["tflite_none"]


def test_tflite_backend_and_xgaze_layout(lite_file, backend, data, tmp_path):
    from tfredirect.lite import LiteRedirector

    _, index = data
    lite = LiteBackend(LiteRedirector(lite_file, num_threads=2))
    assert lite.image_size == 32 and lite.identity.startswith("tflite:")
    sampler = TargetSampler(kind="mixed", seed=7)
    out = tmp_path / "xgaze"
    info = augmentation.augment(index, lite, out, 2, sampler, layout="xgaze", chunk=6)
    assert info["complete"] and info["persons"] == 3
    assert sorted(os.listdir(out)) == ["augmentation.json", *[f"{p}.h5" for p in COUNTS]]
    back = sources.build_index("xgaze", str(out))
    assert len(back) == 2 * N and set(back.persons) == set(COUNTS)
    src, copy = [], []
    for name in sorted(n for n in os.listdir(out) if n.endswith(".h5")):
        with h5py.File(out / name, "r") as f:
            src.append(f["source_index"][()])
            copy.append(f["copy"][()])
            assert f["face_patch"].shape[1:] == (32, 32, 3)
    src, copy = np.concatenate(src), np.concatenate(copy)  # same file order as the index
    order = np.lexsort((copy, src))
    kinds, tg, th = _expected(sampler, index, 2)
    assert np.array_equal(back.gaze[order], tg) and np.array_equal(back.head[order], th)
    assert np.array_equal(np.array(back.persons)[back.person[order]],
                          np.array(index.persons)[index.person[src[order]]])
    # pixels come back RGB and are the TFLite model's redirection of their source
    s = src[order]
    direct = lite(index.read(s, 32), index.gaze[s], index.head[s], tg, th, kinds)
    assert np.abs(direct.astype(int) - back.read(order, 32)).max() <= 1
    # from the known source labels (signature redirect_labeled), as the Keras backend does
    keras_out = backend(index.read(s, 32), index.gaze[s], index.head[s], tg, th, kinds)
    assert np.abs(direct.astype(int) - keras_out.astype(int)).max() <= 1


def test_folder_layout_reads_back_with_exact_labels(backend, data, tmp_path):
    _, index = data
    sampler = TargetSampler(kind="random", seed=8)
    augmentation.augment(index, backend, tmp_path / "ref.h5", 2, sampler, chunk=8)
    out = tmp_path / "pngs"
    info = augmentation.augment(index, backend, out, 2, sampler, layout="folder", chunk=8)
    assert info["complete"] and sorted(os.listdir(out)) == ["augmentation.json", "images", "labels.csv"]
    back = sources.build_index("folder", str(out / "labels.csv"))
    ref = _rows(tmp_path / "ref.h5")
    import csv

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


def test_kde_over_reference_labels_draws_joint_reference_pairs_deterministically():
    ref_g = np.radians([[30.0, -40.0], [-20.0, 10.0], [5.0, 45.0]])
    ref_h = np.radians([[20.0, -30.0], [-10.0, 0.0], [0.0, 40.0]])
    src_g, src_h = np.zeros((4, 2), np.float32), np.full((4, 2), 0.1, np.float32)
    sampler = TargetSampler(kind="both", mode="kde", bandwidth_deg=1e-6, seed=1, reference_gaze=ref_g,
                            reference_head=ref_h)
    kinds, tg, th = sampler.draw(np.arange(4), 0, src_g, src_h)
    assert np.all(kinds == 2)
    for g, h in zip(tg, th):  # every target is one reference (gaze, head) combination
        j = int(np.argmin(np.abs(ref_g - g).sum(1)))
        assert np.allclose(g, ref_g[j], atol=1e-5) and np.allclose(h, ref_h[j], atol=1e-5)
    again = sampler.draw(np.arange(4), 0, src_g, src_h)
    assert np.array_equal(tg, again[1]) and not np.array_equal(tg, sampler.draw(np.arange(4), 1, src_g, src_h)[1])

    kinds, tg, th = TargetSampler(kind="gaze", mode="kde", seed=1, reference_gaze=ref_g,
                                   reference_head=ref_h).draw(np.arange(4), 0, src_g, src_h)
    assert np.all(kinds == 0) and np.array_equal(th, src_h)  # head kept
    assert np.all(np.degrees(np.abs(tg)) <= [40.0 + 1e-4, 50.0 + 1e-4])  # clipped to the ranges
    with pytest.raises(ValueError, match="together"):
        TargetSampler(mode="kde", reference_gaze=ref_g)
    with pytest.raises(ValueError, match="reference labels"):
        TargetSampler(mode="kde", reference_gaze=ref_g[:, :1], reference_head=ref_h[:, :1])
