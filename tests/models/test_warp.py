"""The warp op and the warp-and-refine decoder output: exact copies, known shifts,
gradients, and parity of a tiny warp model exported to TFLite (float and int8) and ONNX."""

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


def _warp_model(seed=0):
    """A tiny warp redirector whose flow and mask heads have random weights (a zero flow
    would make every warp check trivial)."""
    keras.utils.set_random_seed(seed)
    model = Redirector(preset("tiny", decoder="warp"))
    model.build()
    dec = model.decoder
    rng = np.random.default_rng(seed)
    for conv, scale in ((dec.to_flow, 0.05), (dec.to_mask, 0.05)):
        kernel = conv.kernel
        kernel.assign(rng.normal(0, scale, kernel.shape).astype("float32"))
    return model


def test_initial_warp_model_copies_its_input():
    keras.utils.set_random_seed(0)
    model = Redirector(preset("tiny", decoder="warp"))
    model.build()
    x = tf.constant(RNG.uniform(-1, 1, (3, 32, 32, 3)).astype("float32"))
    f = model.encode(x)
    parts = model.synthesize(f, x, f, return_parts=True)
    np.testing.assert_array_equal(np.asarray(parts["flow"]), 0.0)
    np.testing.assert_allclose(np.asarray(parts["warped"]), np.asarray(x), atol=1e-6)
    np.testing.assert_allclose(np.asarray(parts["mask"]), 0.88, atol=1e-5)


def test_gradients_reach_flow_mask_and_colour_heads():
    model = _warp_model()
    x = tf.constant(RNG.uniform(-1, 1, (2, 32, 32, 3)).astype("float32"))
    target = tf.constant(RNG.uniform(-1, 1, (2, 32, 32, 3)).astype("float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.abs(model(x) - target))
    dec = model.decoder
    heads = [dec.to_flow.kernel, dec.to_mask.kernel, dec.to_rgb.kernel]
    grads = tape.gradient(loss, heads)
    for var, grad in zip(heads, grads):
        assert grad is not None and float(tf.reduce_max(tf.abs(grad))) > 1e-6, var.path


def test_flow_is_coarse_and_bounded():
    model = _warp_model()
    x = tf.constant(RNG.uniform(-1, 1, (2, 32, 32, 3)).astype("float32"))
    f = model.encode(x)
    parts = model.synthesize(f, x, f, return_parts=True)
    assert parts["flow"].shape == (2, 16, 16, 2)  # flow_stride 2
    assert 0.05 < float(np.abs(parts["flow"]).max()) <= 32 / 4


@pytest.mark.slow
def test_tiny_warp_model_exports_within_parity_budgets(tmp_path):
    model = _warp_model()
    check = parity.held_out_inputs(32, count=8)
    calib = parity.held_out_inputs(32, count=32, seed=3)[0]
    out = str(tmp_path / "warp")
    export_lib.export(model, out, formats="tflite,onnx", quantize="none,int8", representative=calib, check=check)
    report = json.load(open(os.path.join(out, "export.json")))["parity"]
    assert set(report) == {"tflite_none", "tflite_int8", "onnx_redirect"}
    assert report["tflite_none"]["max_abs"] < 1e-4 and report["onnx_redirect"]["max_abs"] < 1e-4
    assert report["tflite_int8"]["psnr_db"] >= 30.0
    assert all(r["ok"] for r in report.values())
