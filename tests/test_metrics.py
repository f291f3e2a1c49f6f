import math

import numpy as np
import pytest
import tensorflow as tf

from tfredirect import metrics


def _two_samples():
    """Sample 0: one of 4 pixels off by 0.5 (MSE 0.0625); sample 1: all off by 0.1 (MSE 0.01)."""
    x = np.zeros((2, 2, 2, 1), np.float32)
    y = x.copy()
    y[0, 0, 0, 0] = 0.5
    y[1] = 0.1
    return x, y


def test_psnr_hand_computed_values():
    x, y = _two_samples()
    np.testing.assert_allclose(metrics.psnr(x, y), [10 * math.log10(1 / 0.0625), 20.0], atol=1e-4)
    # one number over the whole batch: MSE (0.0625 + 0.01) / 2
    assert float(metrics.psnr(x, y, per_sample=False)) == pytest.approx(10 * math.log10(1 / 0.03625), abs=1e-4)
    # [-1, 1] images (peak 2): a difference of 0.2 everywhere is MSE 0.04, 10 log10(4 / 0.04) = 20 dB
    assert float(metrics.psnr(x[:1], x[:1] + 0.2, peak=2.0)[0]) == pytest.approx(20.0, abs=1e-4)
    # uint8 (peak 255): black against white is 0 dB; identical images are capped, finite
    black, white = np.zeros((1, 4, 4, 3), np.uint8), np.full((1, 4, 4, 3), 255, np.uint8)
    assert float(metrics.psnr(black, white, peak=255.0)[0]) == pytest.approx(0.0, abs=1e-4)
    assert float(metrics.psnr(white, white, peak=255.0)[0]) == pytest.approx(metrics.MAX_PSNR_DB)


def test_psnr_inside_a_traced_function_matches_numpy():
    x, y = _two_samples()
    traced = tf.function(lambda a, b: metrics.psnr(a, b, peak=2.0))(tf.constant(x), tf.constant(y))
    np.testing.assert_allclose(traced.numpy(), metrics.psnr(x, y, peak=2.0), atol=1e-5)
    np.testing.assert_allclose(traced.numpy(), [10 * math.log10(4 / 0.0625), 10 * math.log10(4 / 0.01)], atol=1e-4)


def test_mean_abs_error_hand_computed_values():
    x, y = _two_samples()
    np.testing.assert_allclose(metrics.mean_abs_error(x, y), [0.5 / 4, 0.1], atol=1e-6)
    a = np.zeros((1, 2, 2, 3), np.uint8)
    b = a.copy()
    b[..., 0] = 30  # one channel of three off by 30 grey levels
    assert float(metrics.mean_abs_error(a, b, scale=255.0)[0]) == pytest.approx(30 / 255 / 3, rel=1e-6)


def test_ssim_of_constant_images_is_the_luminance_term():
    a, b = np.full((1, 16, 16, 3), 100, np.uint8), np.full((1, 16, 16, 3), 150, np.uint8)
    c1 = (0.01 * 255) ** 2  # no variance, so the contrast-structure term is C2 / C2 = 1
    expected = (2 * 100 * 150 + c1) / (100**2 + 150**2 + c1)
    assert float(metrics.ssim(a, b, peak=255.0)[0]) == pytest.approx(expected, abs=2e-4)  # float32 window sums
    assert float(metrics.ssim(a, a, peak=255.0)[0]) == pytest.approx(1.0, abs=1e-6)
    assert metrics.ssim_filter_size(64) == 11 and metrics.ssim_filter_size(16) == 7 and metrics.ssim_filter_size(8) == 3


def test_pixel_metrics_of_uint8_batches():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    b = np.clip(a.astype(np.int32) + 10, 0, 255).astype(np.uint8)
    m = metrics.pixel_metrics(a, b)
    diff = b.astype(np.float64) - a
    np.testing.assert_allclose(m["l1"], np.abs(diff).mean(axis=(1, 2, 3)) / 255, rtol=1e-5)
    np.testing.assert_allclose(m["psnr"], 10 * np.log10(255**2 / (diff**2).mean(axis=(1, 2, 3))), atol=1e-3)
    assert m["ssim"].shape == (3,) and np.all(m["ssim"] < 1.0)
    assert np.all(metrics.pixel_metrics(a, a)["ssim"] == pytest.approx(1.0, abs=1e-6))


def test_angular_error_hand_computed_values():
    a = np.array([[0.0, 0.0], [0.1, 0.0], [0.3, -0.2]])
    b = np.array([[0.0, math.pi / 2], [0.0, 0.0], [0.3, -0.2]])
    got = metrics.angular_error_deg(a, b)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, [90.0, math.degrees(0.1), 0.0], atol=2e-2)


def test_estimator_judge_reads_and_scores_images():
    from tfredirect.training.estimation import build_estimator

    est = build_estimator(32)
    for layer, value in ((est.gaze_out, (0.0, 0.1)), (est.head_out, (0.0, -0.2))):  # constant readings
        layer.kernel.assign(np.zeros(layer.kernel.shape, "float32"))
        layer.bias.assign(np.array(value, "float32"))
    judge = metrics.EstimatorJudge(est, batch_size=2)
    images = np.zeros((3, 32, 32, 3), np.uint8)
    gaze, head = judge(images)
    np.testing.assert_allclose(gaze, [[0.0, 0.1]] * 3, atol=1e-6)
    np.testing.assert_allclose(head, [[0.0, -0.2]] * 3, atol=1e-6)
    g_err, h_err = judge.errors(images, np.zeros((3, 2)), np.array([[0.0, -0.2], [0.0, 0.0], [0.0, 0.1]]))
    np.testing.assert_allclose(g_err, [math.degrees(0.1)] * 3, atol=2e-2)
    np.testing.assert_allclose(h_err, [0.0, math.degrees(0.2), math.degrees(0.3)], atol=2e-2)


def _eyes(iris_x):
    """A 24x24 grey face with two 8x4 white eye openings (the mask) and a dark 2x2 iris at
    column iris_x[k] of eye k; returns (uint8 image, coverage mask)."""
    image = np.full((24, 24, 3), 120, np.uint8)
    mask = np.zeros((24, 24), np.float32)
    for left, x in zip((2, 14), iris_x):
        image[10:14, left:left + 8] = 230
        mask[10:14, left:left + 8] = 1.0
        image[11:13, left + x:left + x + 2] = 20
    return image, mask


def test_eye_metrics_hand_computed_values():
    truth, mask = _eyes((3, 3))
    moved, _ = _eyes((5, 1))  # irises 2 px right in one eye, 2 px left in the other
    out = metrics.eye_metrics(np.stack([truth, moved]), np.stack([truth, truth]), np.stack([mask, mask]))
    np.testing.assert_allclose(out["iris_error_px"], [0.0, 2.0], atol=1e-6)
    assert out["eye_psnr"][0] == pytest.approx(metrics.MAX_PSNR_DB)
    # 16 of the 64 eye pixels differ by 210 grey levels in all channels
    assert out["eye_psnr"][1] == pytest.approx(10 * np.log10(255.0**2 / (16 / 64 * 210.0**2)), rel=1e-9)
    assert "source_iris_error_px" not in out
    assert np.all(out["rest_psnr"] == metrics.MAX_PSNR_DB)  # nothing differs outside the eyes
    # the sources' distance to the same truth, measured in the same eyes
    with_source = metrics.eye_metrics(np.stack([truth, truth]), np.stack([truth, truth]), np.stack([mask, mask]),
                                      source=np.stack([moved, truth]))
    np.testing.assert_allclose(with_source["source_iris_error_px"], [2.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(with_source["iris_error_px"], [0.0, 0.0], atol=1e-6)


def test_rest_psnr_leaves_out_the_eyes_and_a_margin():
    truth, mask = _eyes((3, 3))
    pred = truth.copy()
    pred[10:14, 8:18] = 0  # the inner eye corners (cols 2-9, 14-21) and the margin between them: not counted
    assert metrics.eye_metrics(pred[None], truth[None], mask[None])["rest_psnr"][0] == metrics.MAX_PSNR_DB
    pred[0, 0] = truth[0, 0] + 30  # one pixel far from the eyes, 30 grey levels in all channels
    rest = 24 * 24 - 8 * 24  # with the margin the two 4x8 eyes grow into one band, rows 8-15
    got = metrics.eye_metrics(pred[None], truth[None], mask[None])["rest_psnr"][0]
    assert got == pytest.approx(10 * np.log10(255.0**2 / (30.0**2 / rest)), rel=1e-9)


def test_eye_metrics_are_nan_without_eyes_and_ignore_specks():
    truth, mask = _eyes((3, 3))
    speck = np.zeros_like(mask)
    speck[0, 0] = 1.0  # one pixel is below min_pixels: not an eye
    out = metrics.eye_metrics(np.stack([truth, truth]), np.stack([truth, truth]), np.stack([speck, mask * 0.4]))
    assert np.all(np.isnan(out["iris_error_px"])) and np.all(np.isnan(out["eye_psnr"]))
