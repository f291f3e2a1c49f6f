import numpy as np
import pytest

from tfredirect import metrics
from tfredirect.serving import parity


def test_compare_known_values():
    ref = np.zeros((2, 4, 4, 3), np.float32)
    got = ref.copy()
    got[0, 0, 0, 0] = 0.5
    got[1] = 0.1
    r = parity.compare(ref, got)
    n = ref.size
    assert r["max_abs"] == pytest.approx(0.5)
    assert r["mean_abs"] == pytest.approx((0.5 + 0.1 * n / 2) / n)
    mse = (0.25 + 0.01 * n / 2) / n
    assert r["psnr_db"] == pytest.approx(10 * np.log10(4.0 / mse), abs=1e-4)
    assert parity.compare(ref, ref)["psnr_db"] == pytest.approx(metrics.MAX_PSNR_DB)  # finite: JSON holds it


def test_held_out_inputs_are_test_persons_with_bounded_targets():
    images, gaze, head = parity.held_out_inputs(32, count=5, seed=2)
    assert images.shape == (5, 32, 32, 3) and images.dtype == np.uint8
    assert gaze.shape == head.shape == (5, 2) and np.abs(np.concatenate([gaze, head])).max() <= 0.4
    again = parity.held_out_inputs(32, count=5, seed=2)
    assert np.array_equal(images, again[0]) and np.array_equal(gaze, again[1])
