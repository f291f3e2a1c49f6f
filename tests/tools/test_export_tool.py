import json
import os

import cv2
import pytest
import tensorflow as tf

from tfredirect.config import preset
from tfredirect.training import RedirectionGAN

REALDATA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "realdata", "mpii-example")


@pytest.fixture(scope="module")
def tiny_model(tiny_redirector_file):
    return str(tiny_redirector_file)


def test_export_cli_and_standalone_script_on_a_real_photo(tool, tiny_model, tmp_path):
    out = tmp_path / "exp"
    res = tool("export", f"--checkpoint={tiny_model}", f"--out_dir={out}", "--formats=tflite", "--quantize=none,dynamic")
    assert res.returncode == 0, res.stderr
    assert "redirector_float32.tflite" in res.stdout and "MB" in res.stdout
    assert sorted(os.listdir(out)) == ["export.json", "redirector_dynamic_int8.tflite", "redirector_float32.tflite"]
    assert "parity with the Keras model on 16 held-out SynthGaze images" in res.stdout
    assert "tflite_none" in res.stdout and "MISSED" not in res.stdout
    assert set(json.load(open(out / "export.json"))["parity"]) == {"tflite_none", "tflite_dynamic"}

    ann = json.load(open(os.path.join(REALDATA, "annotation.json")))
    xs = [p[0] for p in ann["landmarks_2d_px"]]
    ys = [p[1] for p in ann["landmarks_2d_px"]]
    cx, cy, half = (min(xs) + max(xs)) // 2, (min(ys) + max(ys)) // 2, int(0.8 * (max(xs) - min(xs)))
    png = tmp_path / "redirected.png"
    import subprocess
    import sys

    cmd = [sys.executable, os.path.join(os.path.dirname(__file__), "..", "..", "export", "redirect_image.py"),
           "--model", str(out / "redirector_float32.tflite"), "--image", os.path.join(REALDATA, "day01_0087.jpg"),
           "--crop", str(cx - half), str(cy - half), str(2 * half), str(2 * half),
           "--gaze_deg", "5", "-20", "--head_deg", "0", "10", "--out", str(png)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stdout
    assert cv2.imread(str(png)).shape == (32, 64, 3)
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode != 0 and "exists" in res.stderr
    bad = cmd[:-2] + ["--out", str(tmp_path / "x.png")]
    bad[bad.index("--gaze_deg") + 2] = "400"
    res = subprocess.run(bad, capture_output=True, text=True)
    assert res.returncode != 0 and "gaze_deg" in res.stderr and not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--checkpoint={missing}"], "no such"),
        (["--checkpoint={model}", "--formats=tflite,coreml"], "unknown format"),
        (["--checkpoint={model}", "--formats=tflite", "--quantize=int8"], "representative"),
        (["--checkpoint={model}", "--formats=tflite", "--quantize=int3"], "unknown quantization"),
        (["--checkpoint={mismatched}"], "does not match"),
    ],
)
def test_export_cli_errors_leave_nothing(tool, tiny_model, tmp_path, args, message):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"preset": "demo", "seed": 0}))
    tf.train.Checkpoint(gan=RedirectionGAN(preset("tiny"))).save(str(run / "checkpoints" / "ckpt"))
    fill = dict(missing=tmp_path / "nope.keras", model=tiny_model, mismatched=run)
    out = tmp_path / "exp"
    res = tool("export", *[a.format(**fill) for a in args], f"--out_dir={out}")
    assert res.returncode != 0 and message in res.stderr, res.stderr
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".export-")]
