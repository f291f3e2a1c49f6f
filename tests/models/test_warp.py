"""The warp op and the warping decoder outputs (warp and refine; move, with the colour held
to the source's colours and a brightness gain): exact copies, known shifts and values,
gradients, and parity of tiny models exported to TFLite (float and int8) and ONNX."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfredirect.config import preset
from tfredirect.models.redirector import Redirector
from tfredirect.models.warp import warp
from tfredirect.serving import export_lib, parity

RNG = np.random.default_rng(0)
IMAGE = RNG.random((2, 8, 10, 3)).astype("float32")


def test_identity_flow_returns_the_source_exactly():
    out = np.asarray(warp(IMAGE, np.zeros((2, 8, 10, 2), "float32")))
    np.testing.assert_array_equal(out, IMAGE)


@pytest.mark.parametrize("dx, dy", [(1, 0), (0, 2), (-3, 1)])
def test_integer_flow_shifts_by_that_many_pixels(dx, dy):
    flow = np.zeros((2, 8, 10, 2), "float32")
    flow[..., 0], flow[..., 1] = dx, dy
    out = np.asarray(warp(IMAGE, flow))
    ys, xs = slice(max(0, -dy), 8 - max(0, dy)), slice(max(0, -dx), 10 - max(0, dx))
    shifted = IMAGE[:, max(0, dy):8 + min(0, dy), max(0, dx):10 + min(0, dx)]
    np.testing.assert_allclose(out[:, ys, xs], shifted, atol=1e-6)


def test_half_pixel_flow_averages_neighbours_and_border_repeats():
    flow = np.zeros((2, 8, 10, 2), "float32")
    flow[..., 0] = 0.5
    out = np.asarray(warp(IMAGE, flow))
    np.testing.assert_allclose(out[:, :, :-1], (IMAGE[:, :, :-1] + IMAGE[:, :, 1:]) / 2, atol=1e-6)
    np.testing.assert_allclose(out[:, :, -1], IMAGE[:, :, -1], atol=1e-6)  # clamped at the right edge


WARPING = ["warp", "move"]


def _warp_model(seed=0, decoder="warp", gaze_flow_mm=0.0, eyeball="added"):
    """A tiny warping redirector whose flow, mask (and gain, eyeball map) heads have random
    weights (a zero flow would make every warp check trivial)."""
    keras.utils.set_random_seed(seed)
    model = Redirector(preset("tiny", decoder=decoder, gaze_flow_mm=gaze_flow_mm, eyeball=eyeball))
    model.build()
    dec = model.decoder
    rng = np.random.default_rng(seed)
    heads = [(dec.to_flow, 0.05), (dec.to_mask, 0.05)] + ([(dec.to_gain, 0.05)] if decoder == "move" else [])
    heads += [(dec.to_eye, 0.5)] if gaze_flow_mm else []
    for conv, scale in heads:
        kernel = conv.kernel
        kernel.assign(rng.normal(0, scale, kernel.shape).astype("float32"))
    return model


@pytest.mark.parametrize("decoder", WARPING)
def test_initial_warp_model_copies_its_input(decoder):
    keras.utils.set_random_seed(0)
    model = Redirector(preset("tiny", decoder=decoder))
    model.build()
    x = tf.constant(RNG.uniform(-1, 1, (3, 32, 32, 3)).astype("float32"))
    f = model.encode(x)
    parts = model.synthesize(f, x, f, return_parts=True)
    np.testing.assert_array_equal(np.asarray(parts["flow"]), 0.0)
    np.testing.assert_allclose(np.asarray(parts["warped"]), np.asarray(x), atol=1e-6)
    np.testing.assert_allclose(np.asarray(parts["mask"]), 0.88, atol=1e-5)
    if decoder == "move":
        np.testing.assert_array_equal(np.asarray(parts["gain"]), 1.0)


def test_move_colour_stays_in_the_source_colour_range():
    """The move decoder's colour is mean + std * tanh(.) of the source per channel: a
    uniform source can only be painted in its own colour, and any colour lies within one
    standard deviation of the source's mean."""
    from tfredirect.models.decoder import source_anchored

    flat = np.broadcast_to(np.array([0.5, -0.2, 0.1], "float32"), (2, 8, 8, 3))
    wild = RNG.uniform(-1, 1, (2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(source_anchored(flat, wild)), flat, atol=2e-3)
    src = RNG.uniform(-1, 0, (2, 8, 8, 3)).astype("float32")
    out = np.asarray(source_anchored(src, np.ones_like(wild)))
    np.testing.assert_allclose(out, np.broadcast_to(src.mean((1, 2), keepdims=True) + src.std((1, 2), keepdims=True),
                                                    out.shape), atol=1e-4)
    model = _warp_model(decoder="move")
    x = tf.constant(RNG.uniform(-1, 1, (2, 32, 32, 3)).astype("float32"))
    f = model.encode(x)
    parts = model.synthesize(f, x, f, return_parts=True)
    gain = np.asarray(parts["gain"])
    assert gain.shape == (2, 32, 32, 1) and 0.5 <= gain.min() < gain.max() <= 2.0 and gain.std() > 1e-4
    blend = np.asarray(parts["mask"]) * np.asarray(parts["warped"]) + (1 - np.asarray(parts["mask"])) * np.asarray(parts["rgb"])
    np.testing.assert_allclose(np.asarray(parts["image"]), np.clip((blend + 1) * gain - 1, -1, 1), atol=1e-5)


@pytest.mark.parametrize("decoder", WARPING)
def test_gradients_reach_flow_mask_and_colour_heads(decoder):
    model = _warp_model(decoder=decoder)
    x = tf.constant(RNG.uniform(-1, 1, (2, 32, 32, 3)).astype("float32"))
    target = tf.constant(RNG.uniform(-1, 1, (2, 32, 32, 3)).astype("float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.abs(model(x) - target))
    dec = model.decoder
    heads = [dec.to_flow.kernel, dec.to_mask.kernel, dec.to_rgb.kernel] + ([dec.to_gain.kernel] if decoder == "move" else [])
    grads = tape.gradient(loss, heads)
    for var, grad in zip(heads, grads):
        assert grad is not None and float(tf.reduce_max(tf.abs(grad))) > 1e-6, var.path


def test_flow_is_coarse_and_bounded():
    model = _warp_model()
    x = tf.constant(RNG.uniform(-1, 1, (2, 32, 32, 3)).astype("float32"))
    f = model.encode(x)
    parts = model.synthesize(f, x, f, return_parts=True)
    assert parts["coarse_flow"].shape == (2, 16, 16, 2)  # flow_stride 2
    assert 0.05 < float(np.abs(parts["coarse_flow"]).max()) <= 32 / 4
    # the full-resolution flow the warp uses is the coarse one upsampled
    assert parts["flow"].shape == (2, 32, 32, 2)
    up = tf.image.resize(parts["coarse_flow"], (32, 32), method="bilinear")
    np.testing.assert_allclose(np.asarray(parts["flow"]), np.asarray(up), atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("decoder, gaze_flow_mm, eyeball",
                         [("warp", 0.0, "added"), ("move", 0.0, "added"), ("move", 13.5, "added"), ("move", 13.5, "own")])
def test_tiny_warp_model_exports_within_parity_budgets(tmp_path, decoder, gaze_flow_mm, eyeball):
    model = _warp_model(decoder=decoder, gaze_flow_mm=gaze_flow_mm, eyeball=eyeball)
    check = parity.held_out_inputs(32, count=8)
    calib = parity.held_out_inputs(32, count=32, seed=3)[0]
    out = str(tmp_path / "warp")
    export_lib.export(model, out, formats="tflite,onnx", quantize="none,int8", representative=calib, check=check)
    report = json.load(open(os.path.join(out, "export.json")))["parity"]
    assert set(report) == {"tflite_none", "tflite_int8", "onnx_redirect"}
    assert report["tflite_none"]["max_abs"] < 1e-4 and report["onnx_redirect"]["max_abs"] < 1e-4
    assert report["tflite_int8"]["psnr_db"] >= 30.0
    assert all(r["ok"] for r in report.values())
