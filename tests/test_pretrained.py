"""The shipped models: load by name without training and redirect gaze the right way on the
SynthGaze appearance they were trained on."""

import numpy as np
import pytest

from tfredirect import metrics, pretrained
from tfredirect.data.synthgaze import SynthGaze

SHIPPED = "synthgaze-64"
APPEARANCE = {"synthgaze-64": "plain", "synthgaze-eyeflow-64": "textured"}  # what each was trained on


def test_every_shipped_model_is_known_and_carries_both_benchmarks():
    assert pretrained.names() == sorted(APPEARANCE)
    card = pretrained.card("synthgaze-eyeflow-64")
    assert card["train_config"]["synth_appearance"] == "textured" and card["model_config"]["decoder"] == "move"
    assert card["model_config"]["gaze_flow_mm"] == 13.5 and card["train_config"]["loss"]["eyeball"] > 0
    assert card["real_photos"]["summary"] and card["evaluation"]["redirection"]


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


def _iris_x_shifts(right, left, eye_masks):
    """Per face, the x shift (px) of the iris from `left` to `right`: the darkness-weighted
    iris centroid (metrics.iris_centroid) inside each eye opening of `eye_masks`, averaged
    over the eyes."""
    shifts = []
    for a, b, mask in zip(left, right, eye_masks):
        regions = metrics._eye_regions(mask, 3)
        shifts.append(np.mean([metrics.iris_centroid(b, r)[0] - metrics.iris_centroid(a, r)[0] for r in regions]))
    return np.array(shifts)


@pytest.fixture(scope="module", params=sorted(APPEARANCE))
def iris_shifts(request):
    """Iris x shifts from gaze yaw +30 to -30 deg on the 4 most frontal test faces: of a
    shipped model's outputs and of the exact renders, measured in the eye openings of both
    renders."""
    model = pretrained.load(request.param)
    assert model.image_size == 64
    synth = SynthGaze(size=64, seed=0, appearance=APPEARANCE[request.param])
    _, heads = synth.labels(synth.persons("test")[:64], np.zeros(64, int))
    frontal = synth.persons("test")[:64][np.argsort(np.abs(heads).sum(1))[:4]]
    idx = np.zeros(4, int)
    images, gaze, head = synth.render_samples(frontal, idx)
    left = np.tile(np.radians([[0.0, 30.0]]).astype("float32"), (len(images), 1))  # +yaw: the image's left
    truth_left, masks_left = synth.render_target(frontal, idx, gaze=left, return_masks=True)
    truth_right, masks_right = synth.render_target(frontal, idx, gaze=-left, return_masks=True)
    eyes = np.maximum(masks_left["eye"], masks_right["eye"])
    out_left = np.asarray(model.redirect(images, target_gaze=left, source_gaze=gaze, source_head=head))
    out_right = np.asarray(model.redirect(images, target_gaze=-left, source_gaze=gaze, source_head=head))
    return _iris_x_shifts(out_right, out_left, eyes), _iris_x_shifts(truth_right, truth_left, eyes), request.param


def test_shipped_model_moves_every_iris_the_right_way_by_at_least_two_pixels(iris_shifts):
    model, truth, _ = iris_shifts
    # the renders themselves: plain 3.9, 3.2, 4.0, 3.4 px; textured 3.9, 2.6, 3.7, 3.1 px
    assert np.all(truth >= 2.5), truth
    # synthgaze-64: 3.7, 3.0, 3.8, 3.1 px; synthgaze-eyeflow-64: 2.4, 2.1, 3.1, 2.5 px
    assert np.all(model >= 2.0), model


# how far each model's shift may fall from the render's: synthgaze-64 within 0.4 px,
# synthgaze-eyeflow-64 short by 0.6-1.5 px (it moves 62-83% of the render's shift)
SHIFT_TOLERANCE_PX = {"synthgaze-64": 0.75, "synthgaze-eyeflow-64": 1.75}


def test_shipped_model_moves_the_irises_as_far_as_the_exact_renders(iris_shifts):
    model, truth, name = iris_shifts
    np.testing.assert_allclose(model, truth, atol=SHIFT_TOLERANCE_PX[name])
