import os

import cv2
import numpy as np
import pytest
from skimage import data


REALDATA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "realdata", "mpii-example")


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_redirector_file):
    root = tmp_path_factory.mktemp("photos")
    os.symlink(tiny_redirector_file, root / "redirector.keras")
    cv2.imwrite(str(root / "astronaut.png"), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(root / "coffee.png"), cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR))
    return root


def test_astronaut_detect_normalize_redirect_paste_back(tool, files, tmp_path):
    res = tool("redirect", "--model", str(files / "redirector.keras"), "--image", str(files / "astronaut.png"),
               "--gaze", "0", "-20", "--head", "0", "15", "--paste-back", "--sweep", "--out_dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    normalized = cv2.imread(str(tmp_path / "astronaut_normalized.png"))
    assert normalized.shape[1] > normalized.shape[0]  # input | redirected side by side
    pasted = cv2.cvtColor(cv2.imread(str(tmp_path / "astronaut_pasted.png")), cv2.COLOR_BGR2RGB)
    original = data.astronaut()
    assert pasted.shape == original.shape
    changed = np.any(pasted != original, axis=-1)
    ys, xs = np.nonzero(changed)
    # only the face region (MTCNN box about x 182..265, y 64..171) changes
    assert changed.any() and xs.min() > 150 and xs.max() < 300 and ys.min() > 30 and ys.max() < 210
    assert (tmp_path / "astronaut_sweep.png").exists()
    assert "wrote" in res.stdout and "head pose from the landmarks" in res.stdout
    again = tool("redirect", "--model", str(files / "redirector.keras"), "--image", str(files / "astronaut.png"),
                 "--gaze", "0", "-20", "--out_dir", str(tmp_path))
    assert again.returncode != 0 and "overwrite" in again.stderr


def test_no_face_fails_and_writes_nothing(tool, files, tmp_path):
    out = tmp_path / "out"
    res = tool("redirect", "--model", str(files / "redirector.keras"), "--image", str(files / "coffee.png"),
               "--gaze", "0", "10", "--paste-back", "--out_dir", str(out))
    assert res.returncode != 0 and "no face" in res.stderr and "coffee.png" in res.stderr
    assert not out.exists()


def test_manual_landmarks_and_calibration_on_the_real_frame(tool, files, tmp_path):
    res = tool("redirect", "--model", str(files / "redirector.keras"), "--image", os.path.join(REALDATA, "day01_0087.jpg"),
               "--landmarks", os.path.join(REALDATA, "annotation.json"), "--calibration",
               os.path.join(REALDATA, "cameraCalib.xml"), "--head", "0", "10", "--out_dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "day01_0087_normalized.png").exists()


@pytest.mark.parametrize("args, message", [
    (["--gaze", "0", "400"], "--gaze"),
    (["--landmarks", "1,2,3"], "5 or 6 points"),
    (["--calibration", "/nonexistent.xml"], "calibration"),
])
def test_bad_arguments(tool, files, tmp_path, args, message):
    res = tool("redirect", "--model", str(files / "redirector.keras"), "--image", str(files / "astronaut.png"),
               *args, "--out_dir", str(tmp_path / "o"))
    assert res.returncode != 0 and message in res.stderr, res.stderr
    assert not (tmp_path / "o").exists()
