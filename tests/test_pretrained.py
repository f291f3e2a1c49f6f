"""The shipped model: loads by name without training and redirects gaze the right way."""

import numpy as np
import pytest

from tfredirect import pretrained
from tfredirect.data.synthgaze import SynthGaze, eye_region_map

SHIPPED = "synthgaze-64"


def test_save_and_load_round_trip_in_float16(tmp_path, tiny_redirector):
    pretrained.save(tiny_redirector, "t", {"trained_on": "nothing"}, folder=str(tmp_path))
    assert pretrained.names(str(tmp_path)) == ["t"]
    copy = pretrained.load("t", folder=str(tmp_path))
    for a, b in zip(tiny_redirector.weights, copy.weights):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a).astype(np.float16).astype(np.float32), rtol=0, atol=0)
    assert pretrained.card("t", folder=str(tmp_path))["model_config"]["image_size"] == 32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json", "t.npz"]  # no temporary file left


def test_a_card_with_nan_is_refused_and_the_old_card_kept(tmp_path, tiny_redirector):
    pretrained.save(tiny_redirector, "t", {"score": 1.0}, folder=str(tmp_path))
    with pytest.raises(ValueError, match="JSON"):
        pretrained.save(tiny_redirector, "t", {"score": float("nan")}, folder=str(tmp_path))
    assert pretrained.card("t", folder=str(tmp_path))["score"] == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json", "t.npz"]


def test_unknown_name_lists_the_shipped_ones():
    with pytest.raises(ValueError, match="unknown pretrained model 'nope'.*" + SHIPPED):
        pretrained.load("nope")


def _iris_x(images, region):
    """x centroid of the darkest 4% of pixels inside the eye region, per image."""
    lum = images.astype(np.float32).mean(-1)
    out = []
    for img in lum:
        values = img[region]
        dark = region & (img <= np.quantile(values, 0.04))
        out.append(np.nonzero(dark)[1].mean())
    return np.array(out)


def _shifts(model):
    """Iris x shift (px) from gaze yaw +30 to -30 deg on the 4 most frontal test faces."""
    synth = SynthGaze(size=64, seed=0)
    _, heads = synth.labels(synth.persons("test")[:64], np.zeros(64, int))
    frontal = synth.persons("test")[:64][np.argsort(np.abs(heads).sum(1))[:4]]
    images, gaze, head = synth.render_samples(frontal, np.zeros(4, int))
    left = np.tile(np.radians([[0.0, 30.0]]).astype("float32"), (len(images), 1))  # +yaw: the image's left
    out_left = np.asarray(model.redirect(images, target_gaze=left, source_gaze=gaze, source_head=head))
    out_right = np.asarray(model.redirect(images, target_gaze=-left, source_gaze=gaze, source_head=head))
    region = eye_region_map(64) > 0.2
    return _iris_x(out_right, region) - _iris_x(out_left, region)


@pytest.fixture(scope="module")
def shipped_shifts():
    model = pretrained.load(SHIPPED)
    assert model.image_size == 64
    return _shifts(model)


@pytest.mark.slow  # the eye-region map renders 1,024 faces: about 30 s
def test_shipped_model_turns_the_eyes_the_right_way_on_average(shipped_shifts):
    assert shipped_shifts.mean() >= 1.0, shipped_shifts


@pytest.mark.slow  # the shipped model (both swap kind, eye and feature terms) moves them 13.6, 4.6, 2.2, 8.2 px
def test_shipped_model_moves_every_iris_at_least_two_pixels(shipped_shifts):
    assert np.all(shipped_shifts >= 2.0), shipped_shifts
