import math

import numpy as np
import pytest

from tfredirect import geometry


def _angles(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(-1.4, 1.4, n), rng.uniform(-3.1, 3.1, n)], -1).astype("float32")


def test_rotation_is_orthonormal_with_det_one():
    r = np.asarray(geometry.rotation_matrix(_angles()))
    eye = np.broadcast_to(np.eye(3), r.shape)
    np.testing.assert_allclose(r @ np.swapaxes(r, -1, -2), eye, atol=1e-5)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-5)


def test_rotation_known_values():
    r = np.asarray(geometry.rotation_matrix(np.array([[0.0, math.pi / 2]], "float32")))[0]
    np.testing.assert_allclose(r, [[0, 0, 1], [0, 1, 0], [-1, 0, 0]], atol=1e-6)
    r = np.asarray(geometry.rotation_matrix(np.array([[math.pi / 2, 0.0]], "float32")))[0]
    np.testing.assert_allclose(r, [[1, 0, 0], [0, 0, -1], [0, 1, 0]], atol=1e-6)
    # R = R_y(yaw) R_x(pitch): pitch applied first.
    p, y = 0.3, -0.7
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    r = np.asarray(geometry.rotation_matrix(np.array([p, y], "float32")))
    np.testing.assert_allclose(r, ry @ rx, atol=1e-6)


def test_relative_rotation_back_and_forth_is_identity():
    a, b = _angles(seed=1), _angles(seed=2)
    z = np.random.default_rng(3).normal(size=(64, 3, 5)).astype("float32")
    there = np.asarray(geometry.relative_rotation(b, a)) @ z
    back = np.asarray(geometry.relative_rotation(a, b)) @ there
    np.testing.assert_allclose(back, z, atol=1e-5)
    same = np.asarray(geometry.relative_rotation(a, a))
    np.testing.assert_allclose(same, np.broadcast_to(np.eye(3), same.shape), atol=1e-5)


def test_vector_convention_and_round_trip():
    np.testing.assert_allclose(geometry.pitchyaw_to_vector(np.zeros(2, "float32")), [0, 0, -1], atol=1e-7)
    # positive pitch looks up (-y), positive yaw looks to -x
    v = np.asarray(geometry.pitchyaw_to_vector(np.array([[0.5, 0.0], [0.0, 0.5]], "float32")))
    assert v[0, 1] < 0 and v[1, 0] < 0
    a = _angles(seed=4) * np.array([1.0, 0.99], "float32")
    back = np.asarray(geometry.vector_to_pitchyaw(geometry.pitchyaw_to_vector(a)))
    np.testing.assert_allclose(back, a, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(geometry.pitchyaw_to_vector(a), axis=-1), 1.0, atol=1e-6)


def test_angular_error_known_values():
    a = np.array([[0.0, 0.0], [0.0, 0.0], [0.2, 0.1]], "float32")
    b = np.array([[0.0, math.pi / 2], [math.radians(10), 0.0], [0.2, 0.1]], "float32")
    np.testing.assert_allclose(geometry.angular_error(a, b), [90.0, 10.0, 0.0], atol=2e-2)
    vecs = np.array([[1.0, 0, 0]], "float32"), np.array([[0.0, 2.0, 0]], "float32")
    np.testing.assert_allclose(geometry.angular_error(*vecs), [90.0], atol=1e-4)


@pytest.mark.parametrize(
    "value, message",
    [
        (np.zeros((4, 3)), "shape"),
        (np.array([[np.nan, 0.0]]), "NaN"),
        (np.array([[10.0, 30.0]]), "degrees"),
        (np.array([[2.0, 0.0]]), "pitch"),
    ],
)
def test_check_pitchyaw_rejects_bad_angles(value, message):
    with pytest.raises(ValueError, match=message) as err:
        geometry.check_pitchyaw(value, "target_gaze", source="test.h5")
    assert "target_gaze" in str(err.value) and "test.h5" in str(err.value)


def test_eye_in_head_known_values():
    rad = lambda *rows: np.radians(np.array(rows, "float32"))  # noqa: E731
    # looking where the head points: no eye rotation; head straight: the gaze itself
    np.testing.assert_allclose(geometry.eye_in_head(rad((10, 30), (-20, -40)), rad((10, 30), (-20, -40))), 0, atol=1e-5)
    np.testing.assert_allclose(geometry.eye_in_head(rad((10, 30)), rad((0, 0))), rad((10, 30)), atol=1e-6)
    # yaw-only at zero pitch: the yaw difference; pitch-only at zero yaw: the pitch difference
    np.testing.assert_allclose(geometry.eye_in_head(rad((0, 20), (15, 0)), rad((0, 5), (-10, 0))),
                               rad((0, 15), (25, 0)), atol=1e-6)
    # the head-to-camera rotation maps straight ahead onto the head's own direction
    head = _angles(16)
    ahead = np.asarray(geometry.head_to_camera(head)) @ np.array([0, 0, -1.0], "float32")
    np.testing.assert_allclose(ahead, geometry.pitchyaw_to_vector(head), atol=1e-5)


def test_eye_in_head_agrees_with_synthgaze_labels():
    from tfredirect.data.synthgaze import EYE_IN_HEAD_RANGE, sample_labels

    gaze, head = sample_labels(0, np.arange(500) % 20, np.arange(500))
    eye = np.abs(np.asarray(geometry.eye_in_head(gaze, head)))
    assert eye.max() <= EYE_IN_HEAD_RANGE[0] + 1e-4 and eye.max() > EYE_IN_HEAD_RANGE[0] - 0.02  # drawn up to the range
    assert geometry.within_eye_range(gaze, head, EYE_IN_HEAD_RANGE).all()
    # another sample's gaze under this head often is not a face that can exist
    swapped = geometry.within_eye_range(np.roll(gaze, 1, 0), head, EYE_IN_HEAD_RANGE)
    assert 0.3 < swapped.mean() < 0.8


def test_iris_shift_known_values():
    """An eyeball of radius r turned from straight ahead to yaw Y moves its iris r*sin(Y) to
    the image's left; to pitch P, r*sin(P) up; turning back undoes it."""
    zero = np.zeros((1, 2), "float32")
    yaw = np.array([[0.0, math.radians(20)]], "float32")
    pitch = np.array([[math.radians(15), 0.0]], "float32")
    np.testing.assert_allclose(np.asarray(geometry.iris_shift(zero, yaw, 4.0)), [[-4 * math.sin(math.radians(20)), 0]],
                               atol=1e-6)
    np.testing.assert_allclose(np.asarray(geometry.iris_shift(zero, pitch, 4.0)),
                               [[0, -4 * math.sin(math.radians(15))]], atol=1e-6)
    a, b = _angles(8, 1) / 3, _angles(8, 2) / 3
    there, back = np.asarray(geometry.iris_shift(a, b, 3.0)), np.asarray(geometry.iris_shift(b, a, 3.0))
    np.testing.assert_allclose(there, -back, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(geometry.iris_shift(a, a, 3.0)), 0.0)
