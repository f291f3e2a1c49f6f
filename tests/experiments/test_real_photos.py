"""The real-photo benchmark on skimage's astronaut: the judges' calibration (a geometric
move of her own eye pixels) and the shipped model through the user's path."""

import numpy as np
import pytest

from tfredirect.experiments import real_photos


@pytest.fixture(scope="module")
def astronaut():
    return [c for c in real_photos.packaged_photos() if c.name == "astronaut"]


def test_geometric_shift_of_a_real_eyeball():
    assert real_photos.geometric_shift(20.0) == pytest.approx(2 * 12 * np.sin(np.radians(20)) / 30)
    assert real_photos.geometric_shift(20.0) == pytest.approx(0.2736, abs=1e-4)


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
