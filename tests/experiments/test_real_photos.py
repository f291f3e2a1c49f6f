"""The real-photo benchmark on skimage's astronaut: the judges' calibration (a geometric
move of her own eye pixels) and the shipped model through the user's path."""

import numpy as np
import pytest

from tfredirect import geometry
from tfredirect.experiments import real_photos


@pytest.fixture(scope="module")
def astronaut():
    return [c for c in real_photos.packaged_photos() if c.name == "astronaut"]


def test_geometric_shift_of_a_real_eyeball():
    assert real_photos.geometric_shift(20.0) == pytest.approx(2 * 12 * np.sin(np.radians(20)) / 30)
    assert real_photos.geometric_shift(20.0) == pytest.approx(0.2736, abs=1e-4)


def test_eye_targets_change_one_angle_and_keep_the_other():
    # eyes at eye-in-head (-10, 5) deg under a head at (-15, 10): a yaw test keeps the pitch -10,
    # a pitch test the yaw 5; without an estimate both stay at 0
    head = np.radians([-15.0, 10.0])
    gaze = np.asarray(geometry.gaze_from_eye_in_head(np.radians([[-10.0, 5.0]]).astype("float32"),
                                                     head[None].astype("float32")))[0]
    kept = real_photos.eye_targets(20.0, 15.0, gaze, head)
    np.testing.assert_allclose([kept[k] for k in ("left", "right", "up", "down")],
                               [(-10, 20), (-10, -20), (15, 5), (-15, 5)], atol=1e-3)
    assert real_photos.eye_targets(20.0, 15.0) == {"left": (0, 20), "right": (0, -20), "up": (15, 0), "down": (-15, 0)}


def test_reference_move_reads_as_a_right_way_gaze_change_that_leaves_the_face(astronaut):
    rows, summary, sheet = real_photos.run(real_photos.ReferenceMove(), astronaut)
    r = rows[0]
    # the judge reads most of the geometric 0.27 eye widths, the right way; outside the eyes the
    # photo is the original, and the mesh moves less than 1% of the inter-ocular distance
    assert r["right_way"] and 0.15 < r["iris_shift_yaw"] < 0.35
    assert r["rest_psnr"] == pytest.approx(100.0) and r["mesh_drift"] < 0.012 and r["iris_colour_diff"] < 8
    assert summary["cases"] == 1 and summary["right_way"] == 1.0
    assert sheet.shape == (real_photos.SHEET_CELL, 5 * real_photos.SHEET_CELL + 8, 3)


def test_shipped_model_on_the_astronaut_moves_her_eyes_the_right_way_and_keeps_the_rest(astronaut):
    from tfredirect.serving.checkpoints import load_generator

    model = load_generator("synthgaze-64")
    eyes, _, _ = real_photos.run(model, astronaut, keep="auto")
    face, _, _ = real_photos.run(model, astronaut, keep="face")
    assert eyes[0]["right_way"] and eyes[0]["iris_shift_yaw"] > 0.05
    # keeping all but the eyes: the rest of the face is the original and the mesh moves less
    # than when the whole face is repainted
    assert eyes[0]["rest_psnr"] == pytest.approx(100.0) and face[0]["rest_psnr"] < 30
    assert eyes[0]["mesh_drift"] < 0.05 and eyes[0]["mesh_drift"] < face[0]["mesh_drift"]
    table = real_photos.format_table(eyes, real_photos.summarize(eyes, 20.0, 15.0))
    assert "| astronaut |" in table and "| target | 0.274" in table
