"""tfredirect.augmentation.targets: kinds, ranges, kernel density, and draws that depend only on
(seed, source index, copy)."""

import numpy as np
import pytest

from tfredirect import augmentation
from tfredirect.augmentation import TargetSampler


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


def test_targets_keep_the_eyes_within_their_range_in_the_head():
    from tfredirect import geometry

    rng = np.random.default_rng(3)
    gaze = rng.uniform(-0.6, 0.6, (300, 2)).astype(np.float32)
    head = np.clip(gaze + rng.uniform(-0.5, 0.5, (300, 2)), -0.5, 0.5).astype(np.float32)
    ids = np.arange(300)
    limit = np.radians([35.0, 35.0])
    head = np.where(geometry.within_eye_range(gaze, head, limit)[:, None], head, gaze * 0.8).astype(np.float32)
    for kind in ("gaze", "head", "mixed"):
        kinds, tg, th = TargetSampler(kind=kind, seed=4).draw(ids, 0, gaze, head)
        assert geometry.within_eye_range(tg, th, limit).all(), kind
        free_kinds, fg, fh = TargetSampler(kind=kind, seed=4, max_eye_in_head_deg=0).draw(ids, 0, gaze, head)
        np.testing.assert_array_equal(kinds, free_kinds)
        assert geometry.within_eye_range(fg, fh, limit).mean() < 0.85, kind  # unlimited draws often are not
        kept = np.all(tg == fg, 1) & np.all(th == fh, 1)
        assert kept.mean() > 0.3  # the first candidate stays wherever it was plausible
    # no candidate can do it (gaze 50 deg right, head within +/- 10 deg): the nearest, head far right
    _, tg, th = TargetSampler(kind="head", head_range_deg=(10, 10), seed=1).draw(
        np.arange(20), 0, np.radians(np.tile([[0.0, 50.0]], (20, 1))).astype(np.float32), np.zeros((20, 2), np.float32))
    assert np.all(th[:, 1] > 0) and np.degrees(th[:, 1]).mean() > 8.0
    with pytest.raises(ValueError, match="max_eye_in_head_deg"):
        TargetSampler(max_eye_in_head_deg=float("nan"))
