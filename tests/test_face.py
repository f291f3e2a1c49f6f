"""In-the-wild photos: MTCNN detection, normalization and paste-back on a real photo
(skimage.data.astronaut), manual landmarks, no-face errors, calibration files."""

import os

import numpy as np
import pytest
from skimage import data

from tfredirect import face, normalization

REAL_CALIB = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "realdata", "mpii-example",
                          "cameraCalib.xml")


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()


@pytest.fixture(scope="module")
def astro_face(astronaut):
    return face.prepare_photo(astronaut, 64)


def test_detects_the_astronaut_face_and_landmarks(astronaut):
    box, confidence, lm = face.detect_face(astronaut)
    x, y, w, h = box
    assert confidence > 0.99 and 160 < x < 200 and 50 < y < 80 and 60 < w < 110 and 80 < h < 130
    # person's right eye is on the image left; eyes above nose above mouth, all inside the box
    assert lm[0, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0]
    assert lm[:2, 1].max() < lm[2, 1] < lm[3:, 1].min()
    assert ((lm >= box[:2]) & (lm <= box[:2] + box[2:])).all()


def test_prepare_photo_gives_a_centred_normalized_face(astro_face):
    f = astro_face
    assert f.patch.shape == (64, 64, 3) and f.patch.dtype == np.uint8 and f.head.dtype == np.float32
    assert abs(f.head[1]) < np.radians(15)  # facing the camera (pitch is biased by her smile: 5 points)
    eyes = f.landmarks[:2]
    assert abs(eyes[:, 0].mean() - 32) < 2 and abs(eyes[0, 1] - eyes[1, 1]) < 1.5  # centred, level
    assert 15 < eyes[1, 0] - eyes[0, 0] < 45
    assert f.gaze is None and f.image_shape == (512, 512)
    # skin at the face centre, not background
    assert f.patch[28:36, 28:36].mean(axis=(0, 1))[0] > f.patch[28:36, 28:36].mean(axis=(0, 1))[2]


def test_paste_back_reproduces_the_photo_and_touches_only_the_face(astronaut, astro_face):
    box, _, _ = face.detect_face(astronaut)
    x, y, w, h = box
    near = np.zeros(astronaut.shape[:2], bool)
    near[int(y - 0.3 * h) : int(y + 1.3 * h), int(x - 0.3 * w) : int(x + 1.3 * w)] = True

    same = normalization.paste_back(astronaut, astro_face, astro_face.patch)
    changed = (same != astronaut).any(axis=2)
    err = same.astype(float)[changed] - astronaut[changed]
    assert 10 * np.log10(255**2 / np.mean(err**2)) > 28  # 64 px patch of an ~80 px face
    assert not changed[~near].any()

    altered = astro_face.patch.copy()
    altered[16:48, 16:48] = (0, 255, 0)
    green = normalization.paste_back(astronaut, astro_face, altered)
    changed = (green != astronaut).any(axis=2)
    assert not changed[~near].any() and changed.sum() > 0.25 * w * h
    cx, cy = int(x + w / 2), int(y + h / 2)
    assert (green[cy, cx] == (0, 255, 0)).all()


def test_manual_landmarks_bypass_detection(astronaut, astro_face, monkeypatch):
    _, _, lm5 = face.detect_face(astronaut)

    def no_detector():
        raise AssertionError("detector must not run with manual landmarks")

    monkeypatch.setattr(face, "_detector", no_detector)
    f5 = face.prepare_photo(astronaut, 64, landmarks=lm5)
    np.testing.assert_allclose(f5.head, astro_face.head, atol=1e-6)
    eyes, mouth = lm5[:2], lm5[3:]
    six = np.array([eyes[0] - (8, 0), eyes[0] + (8, 0), eyes[1] - (8, 0), eyes[1] + (8, 0), mouth[0], mouth[1]])
    f6 = face.prepare_photo(astronaut, 32, landmarks=six)
    assert f6.patch.shape == (32, 32, 3) and abs(f6.head[1]) < np.radians(20)
    with pytest.raises(ValueError, match="5 or 6 points"):
        face.prepare_photo(astronaut, 32, landmarks=lm5[:4])


def test_no_face_raises_naming_the_file(tmp_path):
    y, x = np.mgrid[:240, :320]
    blank = np.stack([x % 256, y % 256, np.full_like(x, 128)], -1).astype(np.uint8)
    with pytest.raises(face.NoFaceError, match="holiday.jpg: no face found"):
        face.prepare_photo(blank, 64, source="holiday.jpg")
    assert issubclass(face.NoFaceError, ValueError)
    with pytest.raises(ValueError, match="missing.png: cannot read image"):
        face.load_photo(tmp_path / "missing.png")


def test_cameras_default_and_from_calibration_file(tmp_path):
    cam = face.default_camera(480, 640)
    np.testing.assert_allclose(cam.matrix, [[640, 0, 320], [0, 640, 240], [0, 0, 1]])
    assert not cam.distorted
    if os.path.exists(REAL_CALIB):
        real = face.read_camera_xml(REAL_CALIB)
        assert real.matrix[0, 0] == pytest.approx(994.735, abs=1e-3) and real.distortion.shape == (5,)
    bad = tmp_path / "calib.xml"
    bad.write_text('<?xml version="1.0"?>\n<opencv_storage>\n<camera_matrix type_id="opencv-matrix">'
                   "<rows>3</rows><cols>3</cols><dt>d</dt><data>1000. 0. 320. 0. 1000. 240. 0. 0. 1.</data>"
                   "</camera_matrix>\n</opencv_storage>\n")
    with pytest.raises(ValueError, match="calib.xml: missing matrix 'cam_distortion'"):
        face.read_camera_xml(bad)
    with pytest.raises(FileNotFoundError, match="nope.xml"):
        face.prepare_photo(data.astronaut(), 32, camera=str(tmp_path / "nope.xml"))
