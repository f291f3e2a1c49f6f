"""In-the-wild photos: face-mesh and MTCNN detection, normalization and paste-back on a real
photo (skimage.data.astronaut), manual landmarks, no-face errors, calibration and face model
files, and the generic face models against the real MPIIFaceGaze frame in ../shared (skipped
without)."""

import json
import os

import cv2
import numpy as np
import pytest
from skimage import data

from tfredirect import face, facemesh, normalization


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
    assert abs(f.head[1]) < np.radians(10) and abs(f.head[0]) < np.radians(20)  # facing the camera, chin up
    assert f.landmarks.shape == (8, 2)  # the face mesh's eye and mouth corners, nose tip and bridge
    eyes = np.stack([f.landmarks[:2].mean(0), f.landmarks[2:4].mean(0)])
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
    mtcnn = face.prepare_photo(astronaut, 64, detector="mtcnn")

    def no_detector():
        raise AssertionError("detector must not run with manual landmarks")

    monkeypatch.setattr(face, "_detector", no_detector)
    monkeypatch.setattr(facemesh, "_models", no_detector)
    f5 = face.prepare_photo(astronaut, 64, landmarks=lm5)
    np.testing.assert_allclose(f5.head, mtcnn.head, atol=1e-6)
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


def test_load_photo_says_not_found_or_not_an_image(tmp_path, capfd):
    with pytest.raises(FileNotFoundError, match=r"missing\.png: not found$"):
        face.load_photo(tmp_path / "missing.png")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"notes\.png: cannot read image$"):
        face.load_photo(tmp_path / "notes.png")
    assert "imread" not in capfd.readouterr().err  # no OpenCV warning on top of the error


@pytest.mark.parametrize("ext, fmt", [(".png", "PNG"), (".jpg", "JPEG")])
def test_load_photo_refuses_a_cut_file_without_a_decoder_message(tmp_path, capfd, astronaut, ext, fmt):
    ok, encoded = cv2.imencode(ext, cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    whole, cut = tmp_path / f"whole{ext}", tmp_path / f"cut{ext}"
    whole.write_bytes(encoded.tobytes())
    cut.write_bytes(encoded.tobytes()[:len(encoded) // 2])
    with pytest.raises(ValueError, match=rf"cut\{ext}: a damaged {fmt} file that cannot be decoded$"):
        face.load_photo(cut)
    # the whole file decodes as OpenCV decodes it (the PNG is lossless: the astronaut itself)
    expected = astronaut if ext == ".png" else cv2.cvtColor(cv2.imread(str(whole)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(face.load_photo(whole), expected)
    assert capfd.readouterr().err == ""  # no "libpng error: Read Error", no "Premature end of JPEG file"


def test_cameras_default_and_from_calibration_file(tmp_path):
    cam = face.default_camera(480, 640)
    np.testing.assert_allclose(cam.matrix, [[640, 0, 320], [0, 640, 240], [0, 0, 1]])
    assert not cam.distorted
    bad = tmp_path / "calib.xml"
    bad.write_text('<?xml version="1.0"?>\n<opencv_storage>\n<camera_matrix type_id="opencv-matrix">'
                   "<rows>3</rows><cols>3</cols><dt>d</dt><data>1000. 0. 320. 0. 1000. 240. 0. 0. 1.</data>"
                   "</camera_matrix>\n</opencv_storage>\n")
    with pytest.raises(ValueError, match="calib.xml: missing matrix 'cam_distortion'"):
        face.read_camera_xml(bad)
    with pytest.raises(FileNotFoundError, match="nope.xml"):
        face.prepare_photo(data.astronaut(), 32, camera=str(tmp_path / "nope.xml"))


def test_real_calibration_file(shared_path):
    real = face.read_camera_xml(shared_path("mpii-example", "cameraCalib.xml"))
    assert real.matrix[0, 0] == pytest.approx(994.735, abs=1e-3) and real.distortion.shape == (5,)


def test_face_model_files_in_both_layouts_and_their_errors(tmp_path, astronaut):
    model = face.FACE_MODEL_5 * 1.1
    model[2] += (0.0, -6.0, -8.0)  # a nose tip higher and further out: another head pose
    rows, columns = tmp_path / "rows.txt", tmp_path / "columns.txt"
    np.savetxt(rows, model)
    np.savetxt(columns, model.T)  # 3 x K, as MPIIFaceGaze's faceModelGeneric.txt
    (tmp_path / "commas.txt").write_text("\n".join(",".join(f"{v:.6f}" for v in row) for row in model))
    for path in (rows, columns, tmp_path / "commas.txt"):
        np.testing.assert_allclose(face.read_face_model(path), model, atol=1e-6)
    np.savetxt(tmp_path / "four.txt", model[:4])
    (tmp_path / "text.txt").write_text("a b c\n")
    (tmp_path / "ragged.txt").write_text("1 2 3\n4 5\n")
    for name, message in (("four.txt", "5 or 6 points"), ("text.txt", "must be numbers"),
                          ("ragged.txt", "same number")):
        with pytest.raises(ValueError, match=f"{name}: .*{message}"):
            face.read_face_model(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        face.read_face_model(tmp_path / "nope.txt")
    # a model file is used as given, and must have one row per landmark
    lm5 = np.array([[204.0, 100.0], [245.0, 102.0], [224.0, 126.0], [202.0, 139.0], [244.0, 140.0]])  # MTCNN's
    from_file = face.prepare_photo(astronaut, 32, landmarks=lm5, face_model=rows)
    direct = face.prepare_photo(astronaut, 32, landmarks=lm5, face_model=model)
    generic = face.prepare_photo(astronaut, 32, landmarks=lm5)
    np.testing.assert_allclose(from_file.head, direct.head, atol=1e-6)
    assert np.abs(from_file.head - generic.head).max() > 1e-3
    with pytest.raises(ValueError, match=r"face model has shape \(6, 3\) but there are 5 landmarks"):
        face.prepare_photo(astronaut, 32, landmarks=lm5, face_model=face.FACE_MODEL_6)


def test_five_and_six_point_models_share_frame_and_face_centre():
    m5, m6 = face.FACE_MODEL_5, face.FACE_MODEL_6
    centre5 = face.CENTRE_WEIGHTS[5] @ m5 / face.CENTRE_WEIGHTS[5].sum()
    centre6 = face.CENTRE_WEIGHTS[6] @ m6 / face.CENTRE_WEIGHTS[6].sum()
    np.testing.assert_allclose(centre5, centre6, atol=1e-9)  # the normalized patch is centred alike
    np.testing.assert_array_equal(m5[3:], m6[4:])  # the same mouth corners
    for eye, corners in ((m5[0], m6[:2]), (m5[1], m6[2:4])):
        np.testing.assert_allclose(eye[1:], corners[:, 1:].mean(0), atol=1e-9)  # on the eye-corner line
        assert corners[:, 0].min() < eye[0] < corners[:, 0].max()
    for m in (m5, m6):  # mirror-symmetric about x = 0
        mirrored = m[[1, 0, 2, 4, 3]] if len(m) == 5 else m[[3, 2, 1, 0, 5, 4]]
        np.testing.assert_allclose(mirrored * [-1, 1, 1], m, atol=1e-9)


@pytest.fixture(scope="module")
def mpii(shared_path):
    root = shared_path("mpii-example")
    with open(os.path.join(root, "annotation.json")) as fh:
        ann = json.load(fh)
    return {
        "image": face.load_photo(os.path.join(root, ann["image"])),
        "camera": face.read_camera_xml(os.path.join(root, "cameraCalib.xml")),
        "model": face.read_face_model(os.path.join(root, "faceModelGeneric.txt")),
        "landmarks": np.array(ann["landmarks_2d_px"], np.float64),
    }


def _head_pose_deg(m, landmarks, model):
    nf = face.prepare_photo(m["image"], 64, camera=m["camera"], landmarks=landmarks, face_model=model)
    rvec, tvec = normalization.estimate_head_pose(landmarks, model, m["camera"])
    projected = cv2.projectPoints(np.asarray(model, np.float64), rvec, tvec, m["camera"].matrix,
                                  m["camera"].distortion)[0].reshape(-1, 2)
    return np.degrees(nf.head), float(np.sqrt(np.mean(np.sum((projected - landmarks) ** 2, axis=1))))


def _angle_deg(a, b):
    from tfredirect import geometry

    return float(geometry.angular_error(np.radians([a]).astype(np.float32), np.radians([b]).astype(np.float32))[0])


def test_face_mesh_and_its_canonical_model_give_the_reference_head_pose_on_a_real_frame(mpii):
    reference, ref_rms = _head_pose_deg(mpii, mpii["landmarks"], mpii["model"])
    np.testing.assert_allclose(reference, [1.71, 6.71], atol=0.02)  # the example's annotations and own model
    mesh = face.prepare_photo(mpii["image"], 64, camera=mpii["camera"])  # detected: the mesh's 8 points
    got = np.degrees(mesh.head)
    assert np.abs(got - reference).max() < 2.0 and _angle_deg(got, reference) < 2.0, (got, reference)
    assert ref_rms < 1.5
    # the mesh's corners are the annotated ones within a few pixels (a 350 px face)
    points = facemesh.detect(mpii["image"])[0].corners6
    assert np.abs(points - mpii["landmarks"]).max() < 10


def test_mesh_model_is_mediapipes_canonical_face_in_this_modules_frame():
    m = face.FACE_MODEL_MESH
    np.testing.assert_array_equal(m[:6], face.FACE_MODEL_6)
    np.testing.assert_allclose(m[:4].mean(0), 0, atol=0.01)  # origin: the mean of the eye corners
    np.testing.assert_allclose(m[4:6, 2], 0, atol=0.01)  # the mouth corners in the eyes' z = 0 plane
    np.testing.assert_allclose(m[[3, 2, 1, 0, 5, 4]] * [-1, 1, 1], m[:6], atol=1e-9)  # mirror-symmetric
    assert np.all(m[6:, 2] < -20) and np.all(m[6:, 0] == 0)  # the nose points well in front, on the midline
    # the canonical model's outer eye corners 88.9 mm apart, mouth corners 70 mm below the eyes
    assert m[3, 0] - m[0, 0] == pytest.approx(88.92, abs=0.01) and m[4, 1] == pytest.approx(70.15, abs=0.01)
    assert tuple(face.MESH_POINTS) == (33, 133, 362, 263, 61, 291, 1, 6)


def test_generic_five_point_model_on_detected_landmarks_of_a_real_frame(mpii):
    _, _, lm5 = face.detect_face(mpii["image"])
    # MTCNN's eye centres lie between the annotated eye corners, its mouth corners on them
    np.testing.assert_allclose(lm5[[0, 1]], [mpii["landmarks"][0:2].mean(0), mpii["landmarks"][2:4].mean(0)], atol=6)
    np.testing.assert_allclose(lm5[[3, 4]], mpii["landmarks"][4:], atol=3)
    reference, _ = _head_pose_deg(mpii, mpii["landmarks"], mpii["model"])
    five, rms = _head_pose_deg(mpii, lm5, face.FACE_MODEL_5)
    # the fallback's five points are good to a few degrees (4.0 here), the mesh's eight to 2
    assert _angle_deg(five, reference) < 5.0 and rms < 3.0, (five, reference, rms)
