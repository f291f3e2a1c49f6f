import logging

import numpy as np
import pytest

from h5_builders import coded_images, decode, grid_labels, sted_labels, write_sted
from tfredirect import geometry
from tfredirect.data import PAIR_KEYS, pairs, sources


@pytest.fixture
def dataset(tmp_path):
    """Two files; persons 0-2 usable, person 3 has one sample, person 4 one pose twice."""
    labels = {p: (grid_labels(n, offset_deg=p), grid_labels(n, step_deg=4, offset_deg=-p)) for p, n in
              ((0, 6), (1, 5), (2, 4), (3, 1))}
    same = np.tile(grid_labels(1), (2, 1))
    labels[4] = (same, same)
    groups = {p: (coded_images(p, len(g), 8), sted_labels(g, h)) for p, (g, h) in labels.items()}
    write_sted(tmp_path / "a.h5", {f"p{p}": groups[p] for p in (0, 1)})
    write_sted(tmp_path / "b.h5", {f"p{p}": groups[p] for p in (2, 3, 4)})
    return tmp_path, labels


def _pairs(ds):
    return [{k: v.numpy() for k, v in b.items()} for b in ds]


def test_pairs_same_person_different_pose_with_matching_labels(dataset, caplog):
    path, labels = dataset
    with caplog.at_level(logging.WARNING):
        batches = _pairs(sources.make_pairs("sted", str(path), 8, 4, seed=0).take(10))
    assert [r.getMessage().split(": ", 1)[1] for r in caplog.records] == [
        "skipped 2 of 5 persons: 1 with fewer than two usable samples, 1 with no two samples "
        "differing by >= 0.001 deg in gaze or head"]
    for b in batches:
        assert set(b) == set(PAIR_KEYS)
        assert b["image_a"].shape == (4, 8, 8, 3) and b["image_a"].dtype == np.uint8
        assert b["gaze_b"].shape == (4, 2) and b["gaze_b"].dtype == np.float32
        pa, ra = decode(b["image_a"])
        pb, rb = decode(b["image_b"])
        assert (pa == pb).all() and set(pa) <= {0, 1, 2}
        for side, p, r in (("a", pa, ra), ("b", pb, rb)):
            np.testing.assert_allclose(b[f"gaze_{side}"], [labels[i][0][j] for i, j in zip(p, r)])
            np.testing.assert_allclose(b[f"head_{side}"], [labels[i][1][j] for i, j in zip(p, r)])
        diff = np.maximum(geometry.angular_error(b["gaze_a"], b["gaze_b"]),
                          geometry.angular_error(b["head_a"], b["head_b"]))
        assert (np.asarray(diff) > 1e-3).all()


def test_min_angle_respected_and_exact_fallback(tmp_path):
    # one person: 10 samples within 1 deg of each other and a single far one
    g = np.radians(np.concatenate([np.random.default_rng(0).uniform(0, 1, (10, 2)), [[10.0, 10.0]]])).astype(np.float32)
    write_sted(tmp_path / "m.h5", {"x": (coded_images(0, 11, 8), sted_labels(g, np.zeros_like(g)))})
    (b,) = _pairs(sources.make_pairs("sted", str(tmp_path / "m.h5"), 8, 64, seed=1).take(1))
    assert (np.asarray(geometry.angular_error(b["gaze_a"], b["gaze_b"])) < 5.0).any()  # without the constraint
    b = _pairs(sources.make_pairs("sted", str(tmp_path / "m.h5"), 8, 64, seed=1, min_angle_deg=5.0).take(1))[0]
    rows_a, rows_b = decode(b["image_a"])[1], decode(b["image_b"])[1]
    assert ((rows_a == 10) ^ (rows_b == 10)).all()  # every pair uses the one far sample
    assert (np.asarray(geometry.angular_error(b["gaze_a"], b["gaze_b"])) >= 5.0).all()
    with pytest.raises(ValueError, match="no usable pairs"):
        sources.make_pairs("sted", str(tmp_path / "m.h5"), 8, 4, seed=1, min_angle_deg=30.0)


def test_seeded_epochs_and_one_epoch_flag(dataset):
    path, _ = dataset

    def firsts(seed, **kw):
        return [tuple(decode(b["image_a"])[1]) + tuple(decode(b["image_b"])[1])
                for b in _pairs(sources.make_pairs("sted", str(path), 8, 3, seed=seed, **kw).take(12))]

    assert firsts(5) == firsts(5) and firsts(5) != firsts(6)
    epoch = _pairs(sources.make_pairs("sted", str(path), 8, 3, seed=5, infinite=False))
    assert len(epoch) == 15 // 3  # 15 eligible samples of persons 0-2, each once as `a`
    a = np.concatenate([np.stack(decode(b["image_a"]), 1) for b in epoch])
    assert len({tuple(x) for x in a}) == 15
    with pytest.raises(ValueError, match="fewer than batch_size"):
        sources.make_pairs("sted", str(path), 8, 16, seed=5, infinite=False)
    assert len(_pairs(sources.make_pairs("sted", str(path), 8, 16, seed=5).take(3))) == 3  # endless crosses epochs


def test_pair_sampler_rejects_unlabeled_and_bad_arguments(dataset):
    path, _ = dataset
    with pytest.raises(ValueError, match="need gaze labels"):
        pairs.pair_dataset(sources.build_index("sted", str(path), with_gaze=False), 8, 2)
    index = sources.build_index("sted", str(path))
    with pytest.raises(ValueError, match="min_angle_deg"):
        pairs.pair_dataset(index, 8, 2, min_angle_deg=-1)
    with pytest.raises(ValueError, match="size"):
        pairs.pair_dataset(index, 4, 2)
    with pytest.raises(ValueError, match="unknown data source"):
        sources.make_pairs("mpii", str(path), 8, 2, seed=0)
