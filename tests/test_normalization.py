"""Data normalization (ETRA 2018) on the real MPIIFaceGaze-style frame and on exact synthetic
geometry; paste-back. The real frame is read from ../shared/realdata (never copied here); its
tests skip without it."""

import json
import os

import cv2
import numpy as np
import pytest

from tfredirect import face, normalization
from tfredirect.normalization import Camera

@pytest.fixture(scope="module")
def real(shared_path):
    root = shared_path("mpii-example")
    with open(os.path.join(root, "annotation.json")) as f:
        ann = json.load(f)
    return {
        "image": face.load_photo(os.path.join(root, ann["image"])),
        "camera": face.read_camera_xml(os.path.join(root, "cameraCalib.xml")),
        "model": np.loadtxt(os.path.join(root, "faceModelGeneric.txt")).T,  # (6, 3) mm
        "landmarks": np.array(ann["landmarks_2d_px"], np.float64),
        "target": np.array(ann["gaze_target_3d_mm"], np.float64),
    }


@pytest.fixture(scope="module")
def real_face(real):
    return normalization.normalize(real["image"], real["landmarks"], real["model"], real["camera"], 224,
                                   gaze_target=real["target"])


def test_real_frame_gaze_label_matches_its_3d_target(real, real_face):
    # by hand, following the ETRA 2018 reference procedure step by step
    cam = real["camera"]
    _, rvec, tvec = cv2.solvePnP(real["model"], real["landmarks"], cam.matrix, cam.distortion, flags=cv2.SOLVEPNP_EPNP)
    _, rvec, tvec = cv2.solvePnP(real["model"], real["landmarks"], cam.matrix, cam.distortion, rvec, tvec, True)
    head = cv2.Rodrigues(rvec)[0]
    centre = (real["model"] @ head.T + tvec.ravel()).mean(axis=0)  # mean of the six 3-D landmarks
    z = centre / np.linalg.norm(centre)
    y = np.cross(z, head[:, 0])
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    rot = np.stack([x, y, z])
    g = rot @ (real["target"] - centre)
    g /= np.linalg.norm(g)
    np.testing.assert_allclose(real_face.face_centre, centre, atol=1e-6)
    np.testing.assert_allclose(real_face.rotation, rot, atol=1e-9)
    np.testing.assert_allclose(real_face.gaze_vector, g, atol=1e-9)
    np.testing.assert_allclose(real_face.gaze, [np.arcsin(-g[1]), np.arctan2(-g[0], -g[2])], atol=1e-6)
    # rotation keeps the angle between the gaze and the line of sight to the camera
    sight = np.degrees(np.arccos(np.dot(real["target"] - centre, -centre)
                                 / np.linalg.norm(real["target"] - centre) / np.linalg.norm(centre)))
    assert np.degrees(np.arccos(-real_face.gaze_vector[2])) == pytest.approx(sight, abs=1e-6)
    # the numbers: she looks ~16 deg to the camera's left (positive yaw), level; head near frontal
    np.testing.assert_allclose(np.degrees(real_face.gaze), [0.46, 15.94], atol=0.02)
    np.testing.assert_allclose(np.degrees(real_face.head), [1.71, 6.71], atol=0.02)
    assert real_face.patch.shape == (224, 224, 3) and real_face.patch.dtype == np.uint8


def test_real_frame_patch_landmarks_land_where_the_normalized_camera_predicts(real, real_face):
    rvec, tvec = normalization.estimate_head_pose(real["landmarks"], real["model"], real["camera"])
    points = real["model"] @ cv2.Rodrigues(rvec)[0].T + tvec
    cam_space = points @ real_face.rotation.T
    cam_space[:, 2] *= 600.0 / np.linalg.norm(real_face.face_centre)  # S: move to 600 mm
    predicted = cam_space @ real_face.normalized_camera.T
    predicted = predicted[:, :2] / predicted[:, 2:]
    # warped 2-D landmarks vs projected 3-D model: only the PnP residual (<2 px in the photo) remains
    assert np.abs(real_face.landmarks - predicted).max() < 1.5
    # the face centre projects to the patch centre
    assert predicted.mean(axis=0) == pytest.approx([112.0, 112.0], abs=1.0)
    # and the picture agrees: MTCNN on the patch finds eyes and mouth corners there
    _, _, found = face.detect_face(real_face.patch)
    expected = np.array([predicted[0:2].mean(0), predicted[2:4].mean(0), predicted[4], predicted[5]])
    assert np.abs(found[[0, 1, 3, 4]] - expected).max() < 8.0
    # the warp (with the lens model inside) matches the reference undistort + warpPerspective
    ref = cv2.warpPerspective(cv2.undistort(real["image"], real["camera"].matrix, real["camera"].distortion),
                              real_face.warp, (224, 224))
    assert np.abs(ref.astype(int) - real_face.patch).mean() < 1.0


def test_real_frame_paste_back_of_the_unaltered_patch(real, real_face):
    back = normalization.paste_back(real["image"], real_face, real_face.patch)
    changed = (back != real["image"]).any(axis=2)
    err = back.astype(float)[changed] - real["image"][changed]
    assert 10 * np.log10(255**2 / np.mean(err**2)) > 40
    ys, xs = np.nonzero(changed)  # only inside the face: eye corners span x 551..755, y 393..566
    assert xs.min() > 450 and xs.max() < 860 and ys.min() > 250 and ys.max() < 720


MODEL = face.FACE_MODEL_6 - face.FACE_MODEL_6.mean(axis=0)  # centred: the face centre is the position


def _synthetic_view(rotation, position, camera):
    """Exact 2-D landmarks of MODEL posed at (rotation, position)."""
    pts = cv2.projectPoints(MODEL, cv2.Rodrigues(rotation)[0], np.asarray(position, float), camera.matrix,
                            camera.distortion)[0]
    return pts.reshape(-1, 2)


def _looking_along(direction, up=(0.0, 1.0, 0.0)):
    """Head rotation whose face points along `direction` (head z axis = -direction), upright."""
    z = -np.asarray(direction, float) / np.linalg.norm(direction)
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


CAM = Camera([[800.0, 0, 320], [0, 800.0, 240], [0, 0, 1]], [0.05, -0.1, 0.001, 0.0, 0.02])
IMAGE = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
POSITION = np.array([120.0, -60.0, 650.0])


def test_head_zero_means_the_face_looks_at_the_camera():
    lm = _synthetic_view(_looking_along(-POSITION), POSITION, CAM)
    out = normalization.normalize(IMAGE, lm, MODEL, CAM, 64)
    np.testing.assert_allclose(out.face_centre, POSITION, atol=1e-3)  # solvePnP is exact here
    np.testing.assert_allclose(out.head, [0.0, 0.0], atol=1e-5)
    # gaze at the camera is (0, 0) too
    out = normalization.normalize(IMAGE, lm, MODEL, CAM, 64, gaze_target=[0.0, 0.0, 0.0])
    np.testing.assert_allclose(out.gaze, [0.0, 0.0], atol=1e-6)


@pytest.mark.parametrize("turn, sign", [((0.4, 0.0, 0.0), (0, -1)), ((0.0, 0.3, 0.0), (-1, 0)),
                                        ((-0.3, -0.2, 0.0), (1, 1))])
def test_head_angles_follow_the_gaze_convention(turn, sign):
    direction = -POSITION / np.linalg.norm(POSITION) + np.array(turn)  # towards +x: camera right; +y: down
    lm = _synthetic_view(_looking_along(direction), POSITION, CAM)
    out = normalization.normalize(IMAGE, lm, MODEL, CAM, 64, gaze_target=POSITION + 300 * direction)
    # looking where the face points: gaze and head have the same (pitch, yaw)
    np.testing.assert_allclose(out.gaze, out.head, atol=1e-5)
    for axis in (0, 1):
        if sign[axis]:
            assert np.sign(out.head[axis]) == sign[axis] and abs(out.head[axis]) > np.radians(10)
        else:
            assert abs(out.head[axis]) < np.radians(1)


def test_roll_is_cancelled():
    base = _looking_along(-POSITION)
    outs = []
    for roll_deg in (0.0, 20.0):
        r = cv2.Rodrigues(-base[:, 2] * np.radians(roll_deg))[0] @ base  # about the face's own axis
        outs.append(normalization.normalize(IMAGE, _synthetic_view(r, POSITION, CAM), MODEL, CAM, 96))
        np.testing.assert_allclose(outs[-1].head, [0.0, 0.0], atol=1e-4)
    lm = outs[1].landmarks
    np.testing.assert_allclose(lm, outs[0].landmarks, atol=1e-3)  # the roll is gone from the patch
    right, left = lm[[0, 1, 4]], lm[[3, 2, 5]]  # mirrored pairs: eye corners and mouth corners
    np.testing.assert_allclose(right[:, 0] + left[:, 0], 96.0, atol=1e-3)  # symmetric about the centre line
    np.testing.assert_allclose(right[:, 1], left[:, 1], atol=1e-3)  # and level
    assert lm.mean(axis=0) == pytest.approx([48.0, 48.0], abs=0.05)  # face centre in the middle


def test_camera_distortion_round_trip_and_validation():
    pts = np.random.default_rng(1).uniform([0, 0], [640, 480], (50, 2))
    np.testing.assert_allclose(CAM.distort_points(CAM.undistort_points(pts)), pts, atol=1e-3)
    with pytest.raises(ValueError, match="3x3"):
        Camera(np.eye(2))
    with pytest.raises(ValueError, match="coefficients"):
        Camera(np.eye(3), [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="K >= 4"):
        normalization.normalize(IMAGE, np.zeros((6, 2)), np.zeros((5, 3)), CAM)
    with pytest.raises(ValueError, match="uint8"):
        normalization.normalize(IMAGE.astype(np.float32), np.zeros((6, 2)), face.FACE_MODEL_6, CAM)


def test_paste_back_only_touches_the_face_and_handles_other_patch_sizes():
    position = np.array([0.0, 0.0, 700.0])
    lm = _synthetic_view(_looking_along(-position), position, CAM)
    out = normalization.normalize(IMAGE, lm, MODEL, CAM, 64)
    for size in (64, 128):
        white = np.full((size, size, 3), 255, np.uint8)
        back = normalization.paste_back(IMAGE, out, white)
        changed = (back != IMAGE).any(axis=2)
        ys, xs = np.nonzero(changed)
        # the mask spans ~0.84 x 0.96 of the patch: about 0.84 * 64 * magnification photo pixels wide
        width = 0.84 * 64 * out.magnification
        assert abs((xs.max() - xs.min()) - width) < 0.15 * width
        c = np.round(lm.mean(axis=0)).astype(int)
        assert (back[c[1] - 5 : c[1] + 5, c[0] - 5 : c[0] + 5] == 255).all()  # fully replaced at the centre
        assert not changed[:, : xs.min()].any() and not changed[: ys.min()].any()
    with pytest.raises(ValueError, match="photo"):
        normalization.paste_back(IMAGE[:10], out, out.patch)
    assert normalization.face_mask(32)[0].max() == 0 and normalization.face_mask(32)[16, 16] == 1


def test_paste_moved_composes_the_decoder_output_from_the_photos_own_pixels():
    position = np.array([0.0, 0.0, 700.0])
    lm = _synthetic_view(_looking_along(-position), position, CAM)
    ramp = np.broadcast_to((np.arange(640) * 0.35)[None, :, None], (480, 640, 3)).round().astype(np.uint8).copy()
    out = normalization.normalize(ramp, lm, MODEL, CAM, 64)
    mask = normalization.face_mask(64)
    still, one = np.zeros((64, 64, 2), np.float32), np.ones((64, 64), np.float32)
    grey = np.full((64, 64, 3), 100, np.uint8)
    c = np.round(lm.mean(axis=0)).astype(int)
    centre = np.s_[c[1] - 5:c[1] + 5, c[0] - 5:c[0] + 5]

    kept = normalization.paste_moved(ramp, out, still, one, grey, mask)
    assert np.abs(kept.astype(int) - ramp).max() <= 1  # no flow, all moved: the photo itself
    # the mask's zeros keep the photo exactly
    outside = normalization.paste_back(ramp, out, grey, mask=mask).astype(int) == ramp
    assert np.array_equal(kept[outside.all(-1)], ramp[outside.all(-1)])

    # a flow of 8 patch pixels to the right samples the photo 8 * magnification pixels further
    shifted = normalization.paste_moved(ramp, out, still + [8.0, 0.0], one, grey, mask)
    expect = 0.35 * 8 * out.magnification
    assert abs(np.mean(shifted[centre].astype(float) - ramp[centre]) - expect) < 0.1 * expect

    painted = normalization.paste_moved(ramp, out, still, 0 * one, grey, mask)
    assert np.array_equal(painted[centre], np.full_like(painted[centre], 100))
    # a gain of 2 doubles (value + 1) in the model's [-1, 1] range, i.e. the 0-255 level: 100 -> 200
    relit = normalization.paste_moved(ramp, out, still, 0 * one, grey, mask, gain=2 * one)
    assert np.array_equal(relit[centre], np.full_like(relit[centre], 200))
    with pytest.raises(ValueError, match="patch's size"):
        normalization.paste_moved(ramp, out, still[:32], one, grey, mask)
