"""tfredirect.losses against values computed by hand: per-sample shapes, reductions and signs."""

import math

import numpy as np
import pytest
from keras import ops

from tfredirect import losses

LN2, LN4_3, LN4 = math.log(2.0), math.log(4.0 / 3.0), math.log(4.0)  # softplus(0), softplus(-ln 3), softplus(ln 3)
LN3 = math.log(3.0)


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def test_reconstruction_is_the_per_sample_mean_absolute_error():
    x = np.zeros((2, 1, 2, 2), np.float32)
    x[1] = 1.0
    x_hat = np.zeros_like(x)
    x_hat[0, 0] = [[1.0, -2.0], [0.5, 0.5]]  # |.| sums to 4 over 4 values
    x_hat[1, 0] = [[1.0, 1.0], [1.0, 3.0]]  # one value off by 2
    got = _np(losses.reconstruction(x_hat, x))
    assert got.shape == (2,)
    np.testing.assert_allclose(got, [1.0, 0.5], rtol=1e-6)
    np.testing.assert_allclose(_np(losses.reconstruction(x, x)), [0.0, 0.0])


def test_label_is_the_l1_over_pitch_and_yaw():
    pred = np.array([[0.1, -0.2], [0.5, 0.5], [-1.0, 2.0]], np.float32)
    true = np.array([[0.0, 0.1], [0.5, -0.5], [-1.0, 2.0]], np.float32)
    got = _np(losses.label(pred, true))
    assert got.shape == (3,)
    np.testing.assert_allclose(got, [0.4, 1.0, 0.0], rtol=1e-6, atol=1e-7)


def test_orthogonality_is_the_absolute_cosine_of_the_flattened_features():
    a = np.zeros((4, 2, 2), np.float32)
    b = np.zeros((4, 2, 2), np.float32)
    a[0, 0, 0], b[0, 0, 1] = 1.0, 1.0  # orthogonal
    a[1, 0], b[1, 0] = [3.0, 4.0], [4.0, 3.0]  # cos = 24 / 25
    a[2, 1], b[2, 1] = [1.0, 1.0], [-2.0, -2.0]  # anti-parallel: |cos| = 1
    a[3] = [[1.0, 2.0], [3.0, 4.0]]  # spread over both rows: dot 1 - 2 + 3 - 4 = -2, norms sqrt(30) and 2
    b[3] = [[1.0, -1.0], [1.0, -1.0]]
    got = _np(losses.orthogonality(a, b))
    assert got.shape == (4,)
    np.testing.assert_allclose(got, [0.0, 0.96, 1.0, 2.0 / (math.sqrt(30.0) * 2.0)], rtol=1e-5, atol=1e-6)
    # scale-invariant, and zero features give 0 rather than NaN
    np.testing.assert_allclose(_np(losses.orthogonality(10 * a, 0.1 * b)), got, rtol=1e-4)
    zero = _np(losses.orthogonality(np.zeros((1, 3), np.float32), np.ones((1, 3), np.float32)))
    assert zero.shape == (1,) and zero[0] == 0.0


def test_discriminator_loss_is_the_patch_mean_binary_cross_entropy():
    # logit l means D = sigmoid(l): l = 0 -> D = 1/2, l = ln 3 -> D = 3/4, l = -ln 3 -> D = 1/4
    real = np.array([[[[0.0], [0.0]]], [[[LN3], [-LN3]]]], np.float32)  # (2, 1, 2, 1) patches
    fake = np.array([[[[0.0], [0.0]]], [[[-LN3], [LN3]]]], np.float32)
    got = _np(losses.discriminator(real, fake))
    assert got.shape == (2,)
    # -log D(x): ln 2 | ln 4/3 and ln 4; -log(1 - D(x_hat)): ln 2 | ln 4/3 and ln 4
    np.testing.assert_allclose(got, [LN2 + LN2, (LN4_3 + LN4) / 2 + (LN4_3 + LN4) / 2], rtol=1e-6)
    confident = _np(losses.discriminator(np.full((1, 1), 100.0, np.float32), np.full((1, 1), -100.0, np.float32)))
    assert confident[0] == pytest.approx(0.0, abs=1e-6)  # a perfect discriminator costs nothing
    wrong = _np(losses.discriminator(np.full((1, 1), -100.0, np.float32), np.full((1, 1), 100.0, np.float32)))
    assert wrong[0] == pytest.approx(200.0, rel=1e-6)  # finite when completely wrong (no log(0))


def test_generator_adversarial_loss_is_minus_log_d_of_the_fakes():
    fake = np.array([[[0.0, 0.0]], [[LN3, -LN3]], [[LN3, LN3]]], np.float32)  # (3, 1, 2) patches
    got = _np(losses.generator_adversarial(fake))
    assert got.shape == (3,)
    np.testing.assert_allclose(got, [LN2, (LN4_3 + LN4) / 2, LN4_3], rtol=1e-6)
    fooled = _np(losses.generator_adversarial(np.array([[100.0], [-100.0]], np.float32)))
    np.testing.assert_allclose(fooled, [0.0, 100.0], atol=1e-6, rtol=1e-6)


def test_eye_reconstruction_is_the_weighted_mean_absolute_error():
    x = np.zeros((2, 2, 2, 2), np.float32)
    x_hat = np.zeros_like(x)
    x_hat[0, 0, 0], x_hat[0, 1, 1] = [1.0, 3.0], [4.0, 0.0]  # channel means 2 at two pixels, 0 elsewhere
    x_hat[1] = 0.5
    fixed = np.array([[3.0, 1.0], [0.0, 0.0]], np.float32)  # one (S, S) map for the batch
    got = _np(losses.eye_reconstruction(x_hat, x, fixed))
    assert got.shape == (2,)
    np.testing.assert_allclose(got, [(3 * 2.0 + 1 * 0.0) / 4, 0.5], rtol=1e-5)
    per_sample = np.array([[[0.5, 0.0], [0.0, 0.5]], np.zeros((2, 2))], np.float32)  # (B, S, S); an empty map
    np.testing.assert_allclose(_np(losses.eye_reconstruction(x_hat, x, per_sample)), [2.0, 0.0], rtol=1e-5)


def test_feature_matching_averages_the_layers_mean_absolute_differences():
    hat = [np.array([[1.0, 2.0], [0.0, 0.0]], np.float32),  # layer 1: (B, 2)
           np.stack([np.ones((1, 2, 2)), [[[2.0, 0.0], [0.0, 0.0]]]]).astype(np.float32)]  # layer 2: (B, 1, 2, 2)
    real = [np.zeros_like(hat[0]), np.zeros_like(hat[1])]
    got = _np(losses.feature_matching(hat, real))
    assert got.shape == (2,)
    # sample 0: layers 1.5 and 1; sample 1: layers 0 and 0.5
    np.testing.assert_allclose(got, [(1.5 + 1.0) / 2, (0.0 + 0.5) / 2], rtol=1e-6)


def test_flow_smoothness_is_the_mean_absolute_gradient_along_x_plus_along_y():
    flow = np.zeros((2, 2, 3, 2), np.float32)  # (B, H, W, (dx, dy))
    flow[0] = 7.0  # constant: smooth
    flow[1, :, :, 0] = np.arange(3)[None, :]  # x component grows by 1 per column
    flow[1, :, :, 1] = 3.0 * np.arange(2)[:, None]  # y component grows by 3 per row
    got = _np(losses.flow_smoothness(flow))
    assert got.shape == (2,)
    # along x: 2 x 2 x 2 differences, half of them 1 -> 0.5; along y: 1 x 3 x 2, half of them 3 -> 1.5
    np.testing.assert_allclose(got, [0.0, 0.5 + 1.5], rtol=1e-6)


def test_paint_share_is_the_mean_colour_share_of_the_blend():
    mask = np.ones((2, 4, 4, 1), np.float32)
    mask[1, :2] = 0.0  # half of image 1 painted
    mask[1, 2:] = 0.5  # the rest blended half and half
    np.testing.assert_allclose(_np(losses.paint_share(mask)), [0.0, 0.5 * 1.0 + 0.5 * 0.5], rtol=1e-6)


def test_eyeball_map_is_the_balanced_miss_and_false_mark():
    rendered = np.zeros((2, 4, 4), "float32")
    rendered[:, :2, :2] = 1.0  # 4 eye pixels, 12 others
    exact = _np(losses.eyeball_map(rendered, rendered))
    np.testing.assert_allclose(exact, 0.0, atol=1e-7)
    everywhere = _np(losses.eyeball_map(np.ones_like(rendered), rendered))
    np.testing.assert_allclose(everywhere, 0.5 * 12 / 13)  # marks all 12 others; +1 keeps empty masks finite
    nowhere = _np(losses.eyeball_map(np.zeros_like(rendered), rendered))
    np.testing.assert_allclose(nowhere, 0.5 * 4 / 5)
    assert everywhere.shape == (2,)
