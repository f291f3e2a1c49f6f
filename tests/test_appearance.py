"""Eye regions and keeping the input outside them."""

import numpy as np
import pytest

from tfredirect import appearance


def test_eye_region_is_one_near_the_eyes_zero_far_and_smooth_between():
    eyes = np.array([[[10, 20], [20, 20]], [[40, 20], [50, 20]]], np.float64)  # two 10 px eyes (corners)
    m = appearance.eye_region(64, eyes, grow=0.3, feather=0.3)
    assert m.shape == (64, 64) and m.dtype == np.float32
    assert m[20, 15] == pytest.approx(1.0) and m[20, 45] == pytest.approx(1.0)
    assert m[22, 15] == pytest.approx(1.0, abs=1e-3)  # 2 px = 0.2 eye widths away: inside the grown region
    assert m[20, 30] == 0 and m[40, 15] == 0 and m[20, 62] == 0  # between the eyes (10 px), below, far right
    ramp = m[20:30, 15]  # 0.3 widths grown, then 0.3 widths of feather: 1 up to 3 px, 0 from 6 px
    assert np.all(np.diff(ramp) <= 1e-6) and ramp[7] < 0.05 and 0.1 < ramp[4] < 0.95


def test_keep_outside_is_exact_outside_and_blends_inside():
    rng = np.random.default_rng(0)
    src = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    out = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    region = np.zeros((16, 16), np.float32)
    region[4:8, 4:8], region[10, 10] = 1.0, 0.5
    kept = appearance.keep_outside(src, out, region)
    outside = region == 0
    assert np.array_equal(kept[outside], src[outside]) and np.array_equal(kept[4:8, 4:8], out[4:8, 4:8])
    np.testing.assert_allclose(kept[10, 10], np.rint(0.5 * out[10, 10].astype(float) + 0.5 * src[10, 10]), atol=0)


def test_bad_outlines_and_shapes_are_refused():
    with pytest.raises(ValueError, match="outline points"):
        appearance.eye_region(32, np.zeros((2, 1, 2)))
    with pytest.raises(ValueError, match="zero width"):
        appearance.eye_region(32, np.zeros((1, 3, 2)))
    with pytest.raises(ValueError, match="region"):
        appearance.keep_outside(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8), np.zeros((4, 4)))
