import io
import json
import os
import re

import keras
import numpy as np
import onnxruntime as ort
import pytest
import tensorflow as tf

from tfredirect import imaging
from tfredirect.config import GanSchedule, LossConfig, preset
from tfredirect.data.synthgaze import SynthGaze
from tfredirect.lite import LiteRedirector
from tfredirect.serving import export_lib
from tfredirect.training import RedirectionGAN

# every test uses the `trained` fixture: a few training steps and an export in every format (minutes)
pytestmark = pytest.mark.slow

SYNTH = SynthGaze(size=32, seed=7, nuisance="person")
PROGRESS = {}  # the progress lines the `trained` export wrote


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny generator trained for a few steps (realistic weight and activation ranges),
    exported in every format and quantization."""
    keras.utils.set_random_seed(0)
    gan = RedirectionGAN(preset("tiny"), LossConfig(), seed=0, gan_schedule=GanSchedule(warmup=20))
    gan.compile(g_optimizer=keras.optimizers.Adam(2e-3), d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    gan.fit(SYNTH.pairs("train", 16, seed=0), steps_per_epoch=60, epochs=1, verbose=0, shuffle=False)
    calib = SYNTH.render_samples(SYNTH.persons("train")[:64], np.arange(64))[0]
    out = str(tmp_path_factory.mktemp("export") / "tiny")
    log = io.StringIO()
    written = export_lib.export(gan.generator, out, formats="saved_model,tflite,onnx",
                                quantize="none,fp16,dynamic,int8", representative=calib, check=_held_out(),
                                verbose=2, stream=log)
    PROGRESS["export"] = log.getvalue()
    return gan.generator, out, written


def _held_out(n=16):
    images, gaze, head = SYNTH.render_samples(SYNTH.persons("test")[:n], np.arange(n) + 100)
    rng = np.random.default_rng(1)
    return images, rng.uniform(-0.5, 0.5, (n, 2)).astype("float32"), rng.uniform(-0.4, 0.4, (n, 2)).astype("float32")


def _keras_reference(model, images, tg, th):
    x = imaging.to_model_range(images)
    f = model.encode(x)
    r = model.rotate(f, target_gaze=tg, target_head=th)
    out = np.asarray(model.synthesize(r, x, f))
    return out, np.asarray(f["gaze"]), np.asarray(f["head"])


def test_written_files_and_metadata(trained):
    _, out, written = trained
    names = sorted(os.listdir(out))
    assert names == sorted(["saved_model", "export.json", "estimate.onnx", "redirect.onnx", "redirect_labeled.onnx",
                            "redirector_float32.tflite", "redirector_float16.tflite", "redirector_dynamic_int8.tflite",
                            "redirector_int8.tflite"])
    meta = json.load(open(os.path.join(out, "export.json")))
    assert meta["image_size"] == 32 and meta["signatures"]["redirect"] == ["image", "target_gaze", "target_head"]
    assert meta["signatures"]["redirect_labeled"] == ["image", "source_gaze", "source_head", "target_gaze",
                                                      "target_head"]
    assert not [p for p in os.listdir(os.path.dirname(out)) if p.startswith(".export-")]


def test_progress_is_a_line_per_artifact_converted_and_checked(trained):
    lines = PROGRESS["export"].splitlines()
    steps = [re.match(r"export: (\w+) (\S+) in [0-9.]+ s(?: \(.*: (ok|MISSED)\))?: (\d+)/14 steps", line)
             for line in lines[:-1]]
    assert all(steps) and "\r" not in PROGRESS["export"], lines
    assert [int(m[4]) for m in steps] == list(range(1, 15))
    converted = ["saved_model"] + [export_lib.tflite_filename(m) for m in ("none", "fp16", "dynamic", "int8")] + \
        ["estimate.onnx", "redirect.onnx", "redirect_labeled.onnx"]
    assert [(m[1], m[2]) for m in steps[:8]] == [("wrote", "saved_model")] + [("converted", c) for c in converted[1:]]
    assert [(m[1], m[2], m[3]) for m in steps[8:]] == [("checked", c, "ok") for c in converted[:5] + ["redirect.onnx"]]
    assert lines[-1].startswith("export: 14/14 steps 100.0%")


@pytest.mark.parametrize("batch", [16, 1])
def test_saved_model_signatures_and_parity(trained, batch):
    model, out, _ = trained
    images, tg, th = (a[:batch] for a in _held_out())
    loaded = tf.saved_model.load(os.path.join(out, "saved_model"))
    red = loaded.signatures["redirect"]
    assert sorted(red.structured_input_signature[1]) == ["image", "target_gaze", "target_head"]
    assert red.structured_input_signature[1]["image"].dtype == tf.uint8
    res = red(image=tf.constant(images), target_gaze=tf.constant(tg), target_head=tf.constant(th))
    assert sorted(res) == ["redirected", "redirected_float"] and res["redirected"].dtype == tf.uint8
    ref, gaze, head = _keras_reference(model, images, tg, th)
    assert np.abs(res["redirected_float"].numpy() - ref).max() < 1e-4
    est = loaded.signatures["estimate"](image=tf.constant(images))
    assert np.abs(est["gaze"].numpy() - gaze).max() < 1e-4 and np.abs(est["head"].numpy() - head).max() < 1e-4


def _lite_float(path, images, tg, th):
    lite = LiteRedirector(path)
    return lite._redirect(image=images, target_gaze=tg, target_head=th)["redirected_float"], lite


@pytest.mark.parametrize("batch", [16, 3])
def test_tflite_float32_parity_and_batch_resize(trained, batch):
    model, out, _ = trained
    images, tg, th = (a[:batch] for a in _held_out())
    ref, gaze, _ = _keras_reference(model, images, tg, th)
    got, lite = _lite_float(os.path.join(out, "redirector_float32.tflite"), images, tg, th)
    assert got.shape == ref.shape and np.abs(got - ref).max() < 1e-4
    assert np.abs(lite.estimate(images)[0] - gaze).max() < 1e-4
    u8 = lite.redirect(images, tg, th)
    assert u8.dtype == np.uint8 and np.abs(u8.astype(int) - np.asarray(imaging.to_uint8(ref)).astype(int)).max() <= 1


def test_labeled_redirect_matches_keras_from_known_labels(trained):
    model, out, _ = trained
    images, tg, th = _held_out()
    sg, sh = th[::-1].copy(), tg[::-1].copy()  # any known source labels
    ref = np.asarray(model.redirect(images, target_gaze=tg, target_head=None, source_gaze=sg, source_head=sh))
    lite = LiteRedirector(os.path.join(out, "redirector_float32.tflite"))
    assert lite.takes_source_labels
    got = lite.redirect(images, tg, None, source_gaze=sg, source_head=sh)
    assert np.abs(got.astype(int) - ref.astype(int)).max() <= 1
    sess = ort.InferenceSession(os.path.join(out, "redirect_labeled.onnx"))
    assert [i.name for i in sess.get_inputs()] == ["image", "source_gaze", "source_head", "target_gaze", "target_head"]
    feed = {"image": images, "source_gaze": sg, "source_head": sh, "target_gaze": tg, "target_head": sh}
    res = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feed)))
    assert np.abs(res["redirected"].astype(int) - ref.astype(int)).max() <= 1


def test_tflite_quantized_variants_meet_their_budgets(trained):
    model, out, _ = trained
    images, tg, th = _held_out()
    ref, _, _ = _keras_reference(model, images, tg, th)
    fp16, _ = _lite_float(os.path.join(out, "redirector_float16.tflite"), images, tg, th)
    assert np.abs(fp16 - ref).mean() < 2 / 255
    for name in ("redirector_dynamic_int8.tflite", "redirector_int8.tflite"):
        got = LiteRedirector(os.path.join(out, name)).redirect(images, tg, th)
        ref_u8 = np.asarray(imaging.to_uint8(ref)).astype(float)
        mse = np.mean((got.astype(float) - ref_u8) ** 2) / 255.0**2
        assert 10 * np.log10(1 / mse) >= 30.0, name


@pytest.mark.parametrize("batch", [16, 2])
def test_onnx_parity(trained, batch):
    model, out, _ = trained
    images, tg, th = (a[:batch] for a in _held_out())
    ref, gaze, head = _keras_reference(model, images, tg, th)
    sess = ort.InferenceSession(os.path.join(out, "redirect.onnx"))
    # exactly the documented signature, in order (positional callers rely on it)
    assert [(i.name, i.type) for i in sess.get_inputs()] == [
        ("image", "tensor(uint8)"), ("target_gaze", "tensor(float)"), ("target_head", "tensor(float)")]
    assert [i.shape[1:] for i in sess.get_inputs()] == [[32, 32, 3], [2], [2]]
    res = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"image": images, "target_gaze": tg, "target_head": th})))
    assert np.abs(res["redirected_float"] - ref).max() < 1e-4
    est = ort.InferenceSession(os.path.join(out, "estimate.onnx"))
    assert [i.name for i in est.get_inputs()] == ["image"]
    res = dict(zip([o.name for o in est.get_outputs()], est.run(None, {"image": images})))
    assert np.abs(res["gaze"] - gaze).max() < 1e-4 and np.abs(res["head"] - head).max() < 1e-4


def test_parity_report_in_metadata_matches_an_independent_measurement(trained):
    model, out, _ = trained
    meta = json.load(open(os.path.join(out, "export.json")))
    report = meta["parity"]
    assert meta["parity_images"] == 16
    assert set(report) == {"saved_model", "tflite_none", "tflite_fp16", "tflite_dynamic", "tflite_int8",
                           "onnx_redirect"}
    assert all(r["ok"] for r in report.values()), report
    images, tg, th = _held_out()
    ref, _, _ = _keras_reference(model, images, tg, th)
    got, _ = _lite_float(os.path.join(out, "redirector_int8.tflite"), images, tg, th)
    psnr = 10 * np.log10(4.0 / np.mean((got.astype(np.float64) - ref) ** 2))
    assert report["tflite_int8"]["psnr_db"] == pytest.approx(psnr, abs=0.01)
    assert report["tflite_none"]["max_abs"] < 1e-4 and report["onnx_redirect"]["max_abs"] < 1e-4


def test_export_errors_leave_nothing_behind(trained, tmp_path, monkeypatch):
    model, _, _ = trained
    target = tmp_path / "out"
    with pytest.raises(ValueError, match="unknown format"):
        export_lib.export(model, str(target), formats="saved_model,coreml")
    with pytest.raises(ValueError, match="representative"):
        export_lib.export(model, str(target), formats="tflite", quantize="int8")
    with pytest.raises(ValueError, match="unknown quantization"):
        export_lib.export(model, str(target), formats="tflite", quantize="int4")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt("interrupted")

    monkeypatch.setattr(export_lib, "convert_onnx", boom)
    with pytest.raises(KeyboardInterrupt):
        export_lib.export(model, str(target), formats="saved_model,onnx")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_overwrite(trained, tmp_path):
    model, _, _ = trained
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="overwrite"):
        export_lib.export(model, str(target), formats="saved_model")
    assert (target / "keep.txt").read_text() == "x"
    export_lib.export(model, str(target), formats="saved_model", overwrite=True)
    assert sorted(os.listdir(target)) == ["export.json", "saved_model"]
