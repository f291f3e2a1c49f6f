"""tools/redirect.py on photos: skimage's astronaut (always) and the real MPIIFaceGaze frame in
../shared (skipped without it)."""

import os
import re

import cv2
import numpy as np
import pytest
from skimage import data

ASTRONAUT_LANDMARKS = [[204, 100], [245, 102], [224, 126], [202, 139], [244, 140]]  # MTCNN's, 5-point order


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_redirector_file):
    root = tmp_path_factory.mktemp("photos")
    os.symlink(tiny_redirector_file, root / "redirector.keras")
    cv2.imwrite(str(root / "astronaut.png"), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(root / "coffee.png"), cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR))
    return root


@pytest.mark.slow
def test_astronaut_detect_normalize_redirect_paste_back(tool, files, tmp_path):
    res = tool("redirect", "--model", str(files / "redirector.keras"), "--image", str(files / "astronaut.png"),
               "--gaze_deg=0,-30", "--head_deg=0,15", "--paste_back", "--sweep", "--out_dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    # gaze 30 deg right under a head turned 15 deg left: eyes turned 45 deg in the head
    assert "warning: these targets turn the eyes (" in res.stderr and ", -45.0) deg in the head" in res.stderr
    normalized = cv2.imread(str(tmp_path / "astronaut_normalized.png"))
    assert normalized.shape[1] > normalized.shape[0]  # input | redirected side by side
    pasted = cv2.cvtColor(cv2.imread(str(tmp_path / "astronaut_pasted.png")), cv2.COLOR_BGR2RGB)
    original = data.astronaut()
    assert pasted.shape == original.shape
    changed = np.any(pasted != original, axis=-1)
    ys, xs = np.nonzero(changed)
    # only the face region (MTCNN box about x 182..265, y 64..171) changes
    assert changed.any() and xs.min() > 150 and xs.max() < 300 and ys.min() > 30 and ys.max() < 210
    assert sorted(os.listdir(tmp_path)) == ["astronaut_normalized.png", "astronaut_pasted.png", "astronaut_sweep.png"]
    assert "wrote" in res.stdout and "head pose from the landmarks" in res.stdout
    again = tool("redirect", "--model", str(files / "redirector.keras"), "--image", str(files / "astronaut.png"),
                 "--gaze_deg=0,-20", "--out_dir", str(tmp_path))
    assert again.returncode != 0 and "overwrite" in again.stderr


@pytest.mark.slow
def test_no_face_fails_and_writes_nothing(tool, files, tmp_path):
    out = tmp_path / "out"
    res = tool("redirect", "--model", str(files / "redirector.keras"), "--image", str(files / "coffee.png"),
               "--gaze_deg=0,10", "--paste-back", "--out_dir", str(out))  # the old name is an alias
    assert res.returncode != 0 and "no face" in res.stderr and "coffee.png" in res.stderr
    assert not out.exists()


def _printed_head_pose(stdout):
    match = re.search(r"head pose from the landmarks \(([-+][0-9.]+), ([-+][0-9.]+)\) deg", stdout)
    assert match, stdout
    return np.array([float(match[1]), float(match[2])])


@pytest.mark.slow
def test_manual_landmarks_calibration_and_face_model_on_the_astronaut(tool, files, tmp_path):
    from tfredirect import face
    from tfredirect.normalization import Camera

    camera = Camera([[700.0, 0, 250], [0, 700.0, 260], [0, 0, 1]], [0.02, -0.05, 0.0, 0.0, 0.0])
    calib = tmp_path / "calib.xml"
    fs = cv2.FileStorage(str(calib), cv2.FILE_STORAGE_WRITE)
    fs.write("camera_matrix", camera.matrix)
    fs.write("cam_distortion", camera.distortion.reshape(1, -1))
    fs.release()
    model = face.FACE_MODEL_5 * 1.05
    model[2] += (0.0, -10.0, -6.0)  # the nose tip 10 mm higher: about 6 deg more pitch
    np.savetxt(tmp_path / "model.txt", model.T)  # 3 x K
    landmarks = ",".join(f"{v}" for p in ASTRONAUT_LANDMARKS for v in p)
    base = ["--model", str(files / "redirector.keras"), "--image", str(files / "astronaut.png"),
            "--landmarks", landmarks, "--calibration", str(calib), "--head_deg=0,10"]
    res = tool("redirect", *base, "--face_model", str(tmp_path / "model.txt"), "--out_dir", str(tmp_path / "a"))
    assert res.returncode == 0, res.stderr
    expected = face.prepare_photo(data.astronaut(), 32, camera=camera, landmarks=ASTRONAUT_LANDMARKS,
                                  face_model=model).head
    np.testing.assert_allclose(_printed_head_pose(res.stdout), np.degrees(expected), atol=0.051)
    generic = face.prepare_photo(data.astronaut(), 32, camera=camera, landmarks=ASTRONAUT_LANDMARKS).head
    assert np.abs(np.degrees(generic - expected)).max() > 3.0  # the face model made a difference
    assert (tmp_path / "a" / "astronaut_normalized.png").exists()
    # a model that does not fit the landmarks is refused before the redirector is loaded
    np.savetxt(tmp_path / "six.txt", face.FACE_MODEL_6)
    res = tool("redirect", *base, "--face_model", str(tmp_path / "six.txt"), "--out_dir", str(tmp_path / "b"))
    assert res.returncode == 1 and "six.txt has 6 points but --landmarks gives 5" in res.stderr, res.stderr
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("image, message", [("missing.jpg", "missing.jpg: not found"),
                                            ("notes.png", "notes.png: cannot read image"),
                                            ("cut.png", "cut.png: a damaged PNG file that cannot be decoded")])
def test_bad_image_fails_before_the_model_loads(tool, tmp_path, image, message):
    (tmp_path / "notes.png").write_text("not an image")
    whole = cv2.imencode(".png", data.astronaut())[1].tobytes()
    (tmp_path / "cut.png").write_bytes(whole[:len(whole) // 2])
    # the model path does not exist either: the image is checked first
    res = tool("redirect", "--model", str(tmp_path / "no_model.keras"), "--image", str(tmp_path / image),
               "--out_dir", str(tmp_path / "o"))
    assert res.returncode == 1 and res.stderr.strip().endswith(f"redirect.py: error: {tmp_path / message}"), res.stderr
    assert res.stderr.count("redirect.py: error: ") == 1 and "no_model" not in res.stderr  # no model error
    assert "imread" not in res.stderr and "libpng" not in res.stderr  # no OpenCV or libpng message before it
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr  # nor TensorFlow's start-up lines
    assert not (tmp_path / "o").exists()


def test_an_existing_output_is_refused_before_the_model_loads_and_nothing_is_written(tool, files, tmp_path):
    (tmp_path / "astronaut_pasted.png").write_bytes(b"old")
    res = tool("redirect", "--model", str(tmp_path / "no_model.keras"), "--image", str(files / "astronaut.png"),
               "--paste_back", "--distance=500", f"--out_dir={tmp_path}")
    assert res.returncode == 1, res.stderr
    assert res.stderr.strip().endswith(f"redirect.py: error: {tmp_path / 'astronaut_pasted.png'} exists; pass "
                                       "--overwrite to replace it"), res.stderr
    assert os.listdir(tmp_path) == ["astronaut_pasted.png"] and (tmp_path / "astronaut_pasted.png").read_bytes() == b"old"


@pytest.mark.slow
def test_real_frame_with_its_landmarks_calibration_and_face_model(tool, files, tmp_path, shared_path):
    root = shared_path("mpii-example")
    base = ["--model", str(files / "redirector.keras"), "--image", os.path.join(root, "day01_0087.jpg"),
            "--landmarks", os.path.join(root, "annotation.json"), "--calibration",
            os.path.join(root, "cameraCalib.xml"), "--head_deg=0,10"]
    res = tool("redirect", *base, "--face_model", os.path.join(root, "faceModelGeneric.txt"),
               "--out_dir", str(tmp_path / "own"))
    assert res.returncode == 0, res.stderr
    np.testing.assert_allclose(_printed_head_pose(res.stdout), [1.7, 6.7], atol=0.051)  # the reference pose
    assert (tmp_path / "own" / "day01_0087_normalized.png").exists()
    # detected: the face mesh's eight points and the canonical face model, within 2 deg of the reference
    detected = [a for a in base if not a.startswith("--landmarks") and not a.endswith("annotation.json")]
    res = tool("redirect", *detected, "--out_dir", str(tmp_path / "mesh"))
    assert res.returncode == 0, res.stderr
    np.testing.assert_allclose(_printed_head_pose(res.stdout), [1.7, 6.7], atol=2.0)
    assert "face 0 of 1 found" in res.stdout
    # six annotated corners without their face model: a warning that the pose is ill-conditioned
    res = tool("redirect", *base, "--out_dir", str(tmp_path / "generic"))
    assert res.returncode == 0 and "warning: six landmarks and the generic corners" in res.stderr, res.stderr


@pytest.mark.parametrize("args, message", [
    (["--gaze_deg=0,400"], "--gaze_deg=0,400: expected pitch,yaw in degrees"),
    (["--head_deg=10"], "--head_deg=10: expected pitch,yaw"),
    (["--gaze_deg=0,up"], "--gaze_deg=0,up: expected"),
    (["--distance_mm=0"], "flag --distance_mm=0.0: expected a positive distance"),
    (["--landmarks", "1,2,3"], "5 or 6 points"),
    (["--calibration", "/nonexistent.xml"], "calibration"),
])
def test_bad_arguments(tool, files, tmp_path, args, message):
    res = tool("redirect", "--model", str(files / "redirector.keras"), "--image", str(files / "astronaut.png"),
               *args, "--out_dir", str(tmp_path / "o"))
    assert res.returncode != 0 and message in res.stderr, res.stderr
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def two_people(files):
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as im:
        grace = np.array(im.convert("RGB").resize((256, 300)))  # her face smaller than the astronaut's
    astro = data.astronaut()
    canvas = np.full((512, 512 + 256, 3), 255, np.uint8)
    canvas[:, :512], canvas[100:400, 512:] = astro, grace
    path = files / "two.png"
    cv2.imwrite(str(path), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    return path, canvas


@pytest.mark.slow
def test_a_photo_of_two_people_says_which_face_and_takes_face_flag(tool, files, two_people, tmp_path):
    path, canvas = two_people
    base = ["--model", str(files / "redirector.keras"), "--image", str(path), "--gaze_deg=0,-15", "--paste_back"]
    res = tool("redirect", *base, "--out_dir", str(tmp_path / "largest"))
    assert res.returncode == 0, res.stderr
    assert "face 0 of 2 found" in res.stdout and "face 1" not in res.stdout
    pasted = cv2.cvtColor(cv2.imread(str(tmp_path / "largest" / "two_pasted.png")), cv2.COLOR_BGR2RGB)
    changed = np.any(pasted != canvas, axis=-1)
    ys, xs = np.nonzero(changed)
    # a gaze change redraws only her eye regions (astronaut eyes near x 190..260, y 95..110)
    assert changed.any() and xs.min() > 170 and xs.max() < 280 and ys.min() > 70 and ys.max() < 130
    res = tool("redirect", *base, "--face=1", "--out_dir", str(tmp_path / "second"))
    assert res.returncode == 0 and "face 1 of 2 found" in res.stdout, res.stderr
    pasted = cv2.cvtColor(cv2.imread(str(tmp_path / "second" / "two_pasted.png")), cv2.COLOR_BGR2RGB)
    xs = np.nonzero(np.any(pasted != canvas, axis=-1))[1]
    assert xs.size and xs.min() > 512  # only Grace Hopper's eyes
    res = tool("redirect", *base, "--face=all", "--out_dir", str(tmp_path / "all"))
    assert res.returncode == 0 and "face 0 of 2" in res.stdout and "face 1 of 2" in res.stdout, res.stderr
    normalized = cv2.imread(str(tmp_path / "all" / "two_normalized.png"))
    assert normalized.shape[0] > normalized.shape[1] / 2 + 10  # two rows: input | redirected per face
    res = tool("redirect", *base, "--face=5", "--out_dir", str(tmp_path / "none"))
    assert res.returncode == 1 and "no face 5; 2 found" in res.stderr and not (tmp_path / "none").exists()
