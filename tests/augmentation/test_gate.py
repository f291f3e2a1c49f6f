"""tfredirect.augmentation.gate: every copy is judged, the errors are stored in every layout, the
threshold drops (and counts) exactly the copies above it, and a resumed run judges as one run."""

import json
import os

import h5py
import numpy as np
import pytest

from aug_helpers import N, folder_rows, sted_rows, xgaze_rows
from tfredirect import augmentation, geometry
from tfredirect.augmentation import JUDGED, TargetSampler, gate


def test_judge_errors_are_the_angles_between_its_readings_and_the_labels(tiny_judge):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    read_g, read_h = tiny_judge.read(images)
    gaze, head = rng.uniform(-0.5, 0.5, (2, 5, 2)).astype(np.float32)
    ge, he = tiny_judge.errors(images, gaze, head)
    assert ge.shape == he.shape == (5,) and ge.dtype == np.float32
    np.testing.assert_allclose(ge, geometry.angular_error(read_g, gaze), atol=1e-4)
    ge0, he0 = tiny_judge.errors(images, read_g, read_h)  # labels equal to its readings: no error
    assert ge0.max() < 0.05 and he0.max() < 0.05
    big = np.repeat(np.repeat(images, 2, axis=1), 2, axis=2)  # 64x64 copies are resized to the judge's 32x32
    np.testing.assert_allclose(tiny_judge.errors(big, gaze, head)[0], tiny_judge.errors(
        images, gaze, head)[0], atol=2.0)
    assert tiny_judge.identity.startswith("estimator:")


def test_keep_rule_and_threshold_checks(tiny_judge):
    cols = {JUDGED[0]: np.array([1.0, 5.0, 2.0, np.nan]), JUDGED[1]: np.array([1.0, 1.0, 4.0, 0.0])}
    assert gate.passes(cols, 3.0).tolist() == [True, False, False, False]  # max of the two; NaN never passes
    assert gate.passes(cols, None).tolist() == [True] * 4
    with pytest.raises(ValueError, match="needs a judge"):
        gate.check_threshold(5.0, None)
    with pytest.raises(ValueError, match="finite angle >= 0"):
        gate.check_threshold(-1.0, tiny_judge)


@pytest.mark.parametrize("layout", ["sted", "xgaze", "folder"])
def test_judged_errors_are_stored_and_the_gate_drops_and_counts(backend, data, tiny_judge, tmp_path, layout):
    _, index = data
    sampler = TargetSampler(kind="mixed", seed=11)
    ref = augmentation.augment(index, backend, tmp_path / "all.h5", 2, sampler, chunk=5, judge=tiny_judge)
    assert ref["judged"] and ref["dropped"] == 0 and ref["written"] == 2 * N
    everything = sted_rows(tmp_path / "all.h5")
    ge, he = everything[JUDGED[0]], everything[JUDGED[1]]
    # the stored errors are the judge's, on the stored copies against their labels
    again = tiny_judge.errors(everything["pixels"], everything["labels"][:, 0:2], everything["labels"][:, 2:4])
    np.testing.assert_allclose(ge, again[0], atol=1e-3)
    np.testing.assert_allclose(he, again[1], atol=1e-3)
    threshold = float(np.median(np.maximum(ge, he)))
    keep = np.maximum(ge, he) <= threshold
    assert 0 < keep.sum() < 2 * N
    out = tmp_path / ("gated.h5" if layout == "sted" else "gated")
    info = augmentation.augment(index, backend, out, 2, sampler, layout=layout, chunk=5, judge=tiny_judge,
                                max_judged_error_deg=threshold)
    assert info["dropped"] == 2 * N - keep.sum() and info["written"] == keep.sum()
    if layout == "sted":
        kept = sted_rows(out)
        with h5py.File(out, "r") as f:
            attrs = dict(f.attrs)
    elif layout == "xgaze":
        kept = xgaze_rows(out)
        attrs = json.load(open(os.path.join(out, "augmentation.json")))
    else:
        rows = folder_rows(out)
        kept = {k: np.array([float(r[k]) for r in rows]) for k in JUDGED}
        kept["source_index"] = np.array([int(r["source_index"]) for r in rows])
        kept["copy"] = np.array([int(r["copy"]) for r in rows])
        attrs = json.load(open(os.path.join(out, "augmentation.json")))
    assert attrs["dropped_by_gate"] == info["dropped"] and attrs["max_judged_error_deg"] == threshold
    assert attrs["judged_columns"] == ",".join(JUDGED)
    np.testing.assert_array_equal(kept["source_index"], everything["source_index"][keep])
    np.testing.assert_array_equal(kept["copy"], everything["copy"][keep])
    for k in JUDGED:
        np.testing.assert_array_equal(kept[k].astype(np.float32), everything[k][keep])


def test_a_resumed_judged_run_equals_one_run_and_refuses_another_judge(backend, data, tiny_judge, tmp_path):
    from tfredirect.training.estimation import build_estimator

    _, index = data
    sampler = TargetSampler(seed=12)
    one = augmentation.augment(index, backend, tmp_path / "one.h5", 2, sampler, chunk=4, judge=tiny_judge,
                               max_judged_error_deg=60.0)
    out = tmp_path / "two.h5"
    augmentation.augment(index, backend, out, 2, sampler, chunk=4, judge=tiny_judge, stop_after=6)
    with pytest.raises(ValueError, match=r"judge \(another judge\)"):
        augmentation.augment(index, backend, out, 2, sampler, chunk=4, judge=augmentation.Judge(build_estimator(32, 4)))
    with pytest.raises(ValueError, match=r"judge \(one there, none now\)"):
        augmentation.augment(index, backend, out, 2, sampler, chunk=4)
    # the threshold is applied when the output is assembled: another one resumes the same work
    two = augmentation.augment(index, backend, out, 2, sampler, chunk=4, judge=tiny_judge, max_judged_error_deg=60.0)
    assert two["resumed_from"] == 8 and (two["written"], two["dropped"]) == (one["written"], one["dropped"])
    a, b = sted_rows(tmp_path / "one.h5"), sted_rows(out)
    for key in ("source_index", "copy", *JUDGED):
        np.testing.assert_array_equal(a[key], b[key])
