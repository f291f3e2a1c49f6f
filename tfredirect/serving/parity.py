"""Parity of exported artifacts with the Keras model they came from.

Every artifact's `redirect` signature is run on the same held-out images and target angles
as the Keras model, and its float output (`redirected_float`, [-1, 1]) is compared with the
Keras one. Each artifact has a budget: the float formats must agree to rounding
(max abs < 1e-4), float16 weights to within 2/255 mean abs, the int8 variants to at least
30 dB PSNR (peak-to-peak 2, i.e. the PSNR of the images). A missed budget means a conversion
problem, or for int8 a calibration set unlike the inputs.
"""

import os

import numpy as np

from tfredirect import metrics
from tfredirect.serving import signatures

# artifact key (export_lib's names) -> (metric, limit, "below" | "above")
BUDGETS = {
    "saved_model": ("max_abs", 1e-4, "below"),
    "tflite_none": ("max_abs", 1e-4, "below"),
    "tflite_fp16": ("mean_abs", 2 / 255, "below"),
    "tflite_dynamic": ("psnr_db", 30.0, "above"),
    "tflite_int8": ("psnr_db", 30.0, "above"),
    "onnx_redirect": ("max_abs", 1e-4, "below"),
}


def held_out_inputs(size, count=16, seed=0):
    """`count` SynthGaze images of test persons (never trained on) and random target angles
    within +/-0.4 rad: uint8 (N,S,S,3), float32 (N,2), float32 (N,2)."""
    from tfredirect.data.synthgaze import SynthGaze

    synth = SynthGaze(size=size, seed=seed, nuisance="person")
    persons = np.resize(synth.persons("test"), count)
    images = synth.render_samples(persons, np.arange(count))[0]
    rng = np.random.default_rng([seed, 4])
    gaze, head = (rng.uniform(-0.4, 0.4, (count, 2)).astype(np.float32) for _ in range(2))
    return images, gaze, head


def _saved_model(path):
    import tensorflow as tf

    fn = tf.saved_model.load(path).signatures["redirect"]
    return lambda x, g, h: fn(image=tf.constant(x), target_gaze=tf.constant(g), target_head=tf.constant(h))


def _tflite(path):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=path, num_threads=2).get_signature_runner("redirect")
    return lambda x, g, h: runner(image=x, target_gaze=g, target_head=h)


def _onnx(path):
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return lambda x, g, h: dict(zip(names, sess.run(None, {"image": x, "target_gaze": g, "target_head": h})))


def _runner(key, path):
    if key == "saved_model":
        return _saved_model(path)
    if key.startswith("tflite_"):
        return _tflite(path)
    return _onnx(path)


def compare(reference, got):
    """max abs, mean abs and PSNR (dB, peak-to-peak 2, over the whole batch; identical arrays
    give metrics.MAX_PSNR_DB) of two [-1, 1] image arrays."""
    diff = np.asarray(got, np.float64) - np.asarray(reference, np.float64)
    return {"max_abs": float(np.abs(diff).max()), "mean_abs": float(np.abs(diff).mean()),
            "psnr_db": float(metrics.psnr(reference, got, peak=2.0, per_sample=False))}


def measure(redirector, out_dir, written, inputs):
    """{artifact key: metrics, budget, ok} for every artifact in `written` ({key: path relative
    to out_dir}) that has a budget; `inputs` is (images, target_gaze, target_head)."""
    images, gaze, head = inputs
    reference = signatures.endpoint_functions(redirector)["redirect"](images, gaze, head)[signatures.OUTPUT_FLOAT]
    report = {}
    for key, rel in written.items():
        if key not in BUDGETS:
            continue
        out = _runner(key, os.path.join(out_dir, rel))(images, gaze, head)
        row = compare(reference, np.asarray(out[signatures.OUTPUT_FLOAT]))
        metric, limit, side = BUDGETS[key]
        row["budget"] = f"{metric} {'<' if side == 'below' else '>='} {limit:.4g}"
        row["ok"] = bool(row[metric] < limit if side == "below" else row[metric] >= limit)
        report[key] = row
    return report


def format_report(report, count):
    """Lines of a parity table."""
    lines = [f"parity with the Keras model on {count} held-out SynthGaze images (redirect, [-1, 1] units):"]
    for key, r in report.items():
        lines.append(f"  {key:16s} max abs {r['max_abs']:.2e}  mean abs {r['mean_abs']:.2e}  "
                     f"PSNR {r['psnr_db']:6.1f} dB  budget {r['budget']}: {'ok' if r['ok'] else 'MISSED'}")
    return lines
