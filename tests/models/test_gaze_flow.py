"""The decoder's geometric gaze flow (ModelConfig.gaze_flow_mm): the pixels of its eyeball map
move by exactly the iris displacement of the requested gaze change, nothing moves without a
gaze change, the map learns, and the config refuses what cannot work."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfredirect import geometry
from tfredirect.config import ModelConfig, preset
from tfredirect.models.redirector import Redirector

RNG = np.random.default_rng(0)


def _model(gaze_flow_mm=13.5, eye_logit=None, eyeball="added"):
    keras.utils.set_random_seed(0)
    model = Redirector(preset("tiny", decoder="move", gaze_flow_mm=gaze_flow_mm, eyeball=eyeball))
    model.build()
    if eye_logit is not None:  # a constant eyeball map: every pixel counts as eyeball
        model.decoder.to_eye.bias.assign([eye_logit])
    return model


def test_radius_in_pixels_follows_the_normalized_camera():
    model = _model()
    # focal 960 px per 224 px of patch, faces at 720 mm: 13.5 mm is 2.57 px at 32 px
    assert model.iris_radius_px == pytest.approx(13.5 * 960 * 32 / 224 / 720)
    assert _model(gaze_flow_mm=0.0).iris_radius_px == 0.0


def test_eyeball_pixels_move_by_the_iris_displacement():
    """With the eyeball map at one everywhere, a gaze change from straight ahead to yaw Y
    shifts the warped source left by r*sin(Y) px (backward flow +r*sin(Y)); pitch P up."""
    model = _model(eye_logit=30.0)
    x = RNG.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    source = np.zeros((2, 2), "float32")
    target = np.array([[0.0, math.radians(25)], [math.radians(-20), 0.0]], "float32")
    parts = model.redirect(x, target_gaze=target, source_gaze=source, return_parts=True)
    learned = tf.image.resize(parts["coarse_flow"], (32, 32), method="bilinear")
    geometric = np.asarray(parts["flow"]) - np.asarray(learned)
    r = model.iris_radius_px
    expected = np.array([[r * math.sin(math.radians(25)), 0.0], [0.0, -r * math.sin(math.radians(20))]])
    np.testing.assert_allclose(geometric.reshape(2, -1, 2), np.broadcast_to(expected[:, None], (2, 32 * 32, 2)),
                               atol=1e-4)
    np.testing.assert_allclose(np.asarray(parts["eye"]), 1.0, atol=1e-6)


def test_no_gaze_change_means_no_geometric_flow():
    model = _model(eye_logit=30.0)
    x = RNG.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    gaze = RNG.uniform(-0.3, 0.3, (2, 2)).astype("float32")
    f = model.encode(x)
    for target in (model.rotate(f, target_gaze=gaze, source_gaze=gaze), f, model.rotate(f, target_head=gaze)):
        parts = model.synthesize(target, x, f, return_parts=True)
        learned = tf.image.resize(parts["coarse_flow"], (32, 32), method="bilinear")
        np.testing.assert_allclose(np.asarray(parts["flow"]), np.asarray(learned), atol=1e-5)


def test_initial_eyeball_map_is_small_and_learns_where_pixels_move():
    """At first the map is 0.12 everywhere. Trained alone to rebuild a source whose left half
    is shifted by the iris displacement, it rises there and falls on the still half."""
    model = _model()
    dec = model.decoder
    # smooth images (a 16 px period), so the loss tells which way pixels should move
    u = np.arange(32, dtype="float32")
    phase = RNG.uniform(0, 2 * math.pi, (4, 1, 1, 3)).astype("float32")
    x = tf.constant(np.sin(2 * math.pi * (u[None, :, None, None] + 2 * u[None, None, :, None]) / 16 + phase) * 0.8)
    source = np.zeros((4, 2), "float32")
    # the yaw whose iris displacement is exactly 2 px to the left
    target = np.tile(np.array([[0.0, math.asin(2.0 / model.iris_radius_px)]], "float32"), (4, 1))
    np.testing.assert_allclose(np.asarray(geometry.iris_shift(source, target, model.iris_radius_px)), [[-2.0, 0.0]] * 4,
                               atol=1e-5)
    f = model.encode(x)
    rotated = model.rotate(f, target_gaze=target, source_gaze=source)
    parts = model.synthesize(rotated, x, f, return_parts=True)
    np.testing.assert_allclose(np.asarray(parts["eye"]), 0.12, atol=1e-5)
    moved = np.asarray(tf.roll(x, shift=-2, axis=2))
    wanted = np.concatenate([moved[:, :, :16], np.asarray(x)[:, :, 16:]], axis=2)
    opt = keras.optimizers.Adam(1e-2)
    variables = dec.to_eye.trainable_variables + dec.stages[-1].trainable_variables
    for _ in range(60):
        with tf.GradientTape() as tape:
            out = model.synthesize(rotated, x, f, return_parts=True)
            loss = tf.reduce_mean(tf.abs(out["warped"][:, 4:-4, 4:-4] - wanted[:, 4:-4, 4:-4]))
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
    eye = np.asarray(model.synthesize(rotated, x, f, return_parts=True)["eye"])[..., 0]
    assert eye[:, 4:-4, 4:12].mean() > 0.5 > 0.2 > eye[:, 4:-4, 20:28].mean()


def _random_heads(model, seed=1):
    """Random flow, mask and gain heads: a learned flow that varies from pixel to pixel."""
    rng = np.random.default_rng(seed)
    dec = model.decoder
    for head in (dec.to_flow, dec.to_mask, dec.to_gain):
        head.kernel.assign(rng.normal(0, 0.3, head.kernel.shape).astype("float32"))


def _yaw_change(model, x, yaw_deg=25.0):
    source = np.zeros((len(x), 2), "float32")
    target = np.tile(np.array([[0.0, math.radians(yaw_deg)]], "float32"), (len(x), 1))
    return model.redirect(x, target_gaze=target, source_gaze=source, return_parts=True)


def test_rigid_eyeball_moves_with_the_face_around_it_plus_the_iris_displacement():
    """eyeball=rigid, the map at one: the flow is the learned flow averaged over a 4x4 window of
    its 16 px grid (a quarter of the 32 px image), upsampled, plus the iris displacement; the
    learned flow's own pixel-to-pixel pattern is gone."""
    model = _model(eye_logit=30.0, eyeball="rigid")
    _random_heads(model)
    x = RNG.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    parts = _yaw_change(model, x)
    coarse = np.asarray(parts["coarse_flow"])
    assert coarse.std() > 0.1  # a learned flow worth averaging
    around = tf.image.resize(tf.nn.avg_pool2d(coarse, 4, 1, "SAME"), (32, 32), method="bilinear")
    shift = model.iris_radius_px * math.sin(math.radians(25))
    np.testing.assert_allclose(np.asarray(parts["flow"]) - np.asarray(around),
                               np.broadcast_to([shift, 0.0], (2, 32, 32, 2)), atol=1e-4)


def test_own_eyeball_shows_its_moved_pixels_unpainted_and_unlit():
    """eyeball=own, the map at one: the image is the warped source itself (mask and gain one),
    whatever the colour, mask and gain heads say; with the map at zero they act again."""
    model = _model(eye_logit=30.0, eyeball="own")
    _random_heads(model)
    x = RNG.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    parts = _yaw_change(model, x)
    np.testing.assert_allclose(np.asarray(parts["mask"]), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(parts["gain"]), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(parts["image"]), np.asarray(parts["warped"]), atol=1e-5)
    model.decoder.to_eye.bias.assign([-30.0])
    parts = _yaw_change(model, x)
    assert np.abs(np.asarray(parts["gain"]) - 1.0).max() > 0.05
    assert np.abs(np.asarray(parts["image"]) - np.asarray(parts["warped"])).max() > 0.05


def test_config_refuses_bad_radius_and_colour_decoder():
    with pytest.raises(ValueError, match="gaze_flow_mm must be an eyeball radius"):
        ModelConfig(decoder="move", gaze_flow_mm=-1.0)
    with pytest.raises(ValueError, match="gaze_flow_mm must be an eyeball radius"):
        ModelConfig(decoder="move", gaze_flow_mm=120.0)
    with pytest.raises(ValueError, match="needs a warping decoder"):
        ModelConfig(decoder="rgb", gaze_flow_mm=12.0)
    with pytest.raises(ValueError, match="eyeball must be one of"):
        ModelConfig(decoder="move", gaze_flow_mm=12.0, eyeball="glued")
    with pytest.raises(ValueError, match="needs gaze_flow_mm > 0"):
        ModelConfig(decoder="move", eyeball="own")


@pytest.mark.parametrize("eyeball", ["added", "own"])
def test_gaze_flow_model_round_trips_through_a_keras_file(tmp_path, eyeball):
    model = _model(eyeball=eyeball)
    model.decoder.to_eye.kernel.assign(RNG.normal(0, 0.5, model.decoder.to_eye.kernel.shape).astype("float32"))
    x = RNG.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    gaze = np.array([[0.1, 0.3], [-0.2, -0.1]], "float32")
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.config.gaze_flow_mm == 13.5 and loaded.decoder.gaze_flow and loaded.decoder.eyeball == eyeball
    np.testing.assert_array_equal(np.asarray(loaded.redirect(x, target_gaze=gaze)), np.asarray(model.redirect(x, target_gaze=gaze)))
