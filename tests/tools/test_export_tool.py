"""tools/export.py and the standalone export/redirect_image.py on photos: skimage's astronaut
(always) and the real MPIIFaceGaze frame in ../shared (skipped without it)."""

import json
import os
import re
import subprocess
import sys

import cv2
import pytest
import tensorflow as tf
from skimage import data

from tfredirect.config import preset
from tfredirect.training import RedirectionGAN

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "export", "redirect_image.py")


@pytest.fixture(scope="module")
def tiny_model(tiny_redirector_file):
    return str(tiny_redirector_file)


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory):
    """tools/export.py run once: (its CompletedProcess, the output folder)."""
    out = tmp_path_factory.mktemp("export") / "exp"
    cmd = [sys.executable, os.path.join(ROOT, "tools", "export.py"), f"--model={tiny_model}", f"--out_dir={out}",
           "--formats=tflite", "--quantize=none,dynamic"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT), out


def _redirect_image(model, image, crop, out, gaze="-20"):
    cmd = [sys.executable, SCRIPT, "--model", str(model), "--image", str(image),
           "--crop", *(str(v) for v in crop), "--gaze_deg", "5", gaze, "--head_deg", "0", "10", "--out", str(out)]
    return subprocess.run(cmd, capture_output=True, text=True)


@pytest.mark.slow
def test_export_cli_writes_tflite_files_with_parity(exported):
    res, out = exported
    assert res.returncode == 0, res.stderr
    assert "redirector_float32.tflite" in res.stdout and "MB" in res.stdout
    assert sorted(os.listdir(out)) == ["export.json", "redirector_dynamic_int8.tflite", "redirector_float32.tflite"]
    assert "parity with the Keras model on 16 held-out SynthGaze images" in res.stdout
    assert "tflite_none" in res.stdout and "MISSED" not in res.stdout
    assert set(json.load(open(out / "export.json"))["parity"]) == {"tflite_none", "tflite_dynamic"}


@pytest.mark.slow
def test_export_reports_each_artifact_with_its_time_in_plain_lines(exported, tool, tiny_model, tmp_path):
    res, _ = exported  # --verbose=1 (the default) with stderr redirected: lines, no carriage returns
    assert "\r" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.startswith("export")]
    steps = [re.match(r"export: (.*) in [0-9.]+ s(?: \((.*)\))?: (\d)/5 steps", line) for line in lines[:-1]]
    assert all(steps), lines
    assert [(m[1], m[3]) for m in steps] == [
        ("wrote saved_model", "1"), ("converted redirector_float32.tflite", "2"),
        ("converted redirector_dynamic_int8.tflite", "3"), ("checked redirector_float32.tflite", "4"),
        ("checked redirector_dynamic_int8.tflite", "5")]
    assert steps[3][2] == "max_abs < 0.0001: ok" and steps[4][2] == "psnr_db >= 30: ok"
    assert lines[-1].startswith("export: 5/5 steps 100.0%")
    quiet = tool("export", f"--checkpoint={tiny_model}", f"--out_dir={tmp_path / 'q'}", "--formats=saved_model",
                 "--check_images=0", "--verbose=0")  # --checkpoint: the old name of --model
    assert quiet.returncode == 0, quiet.stderr
    assert not [line for line in quiet.stderr.splitlines() if line.startswith("export")], quiet.stderr
    assert "saved_model" in quiet.stdout


@pytest.mark.slow
def test_standalone_script_on_the_astronaut_photo(exported, tmp_path):
    res, out = exported
    assert res.returncode == 0, res.stderr
    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    crop = (170, 55, 110, 110)  # around MTCNN's face box (x 182..265, y 64..171)
    png = tmp_path / "redirected.png"
    res = _redirect_image(out / "redirector_float32.tflite", photo, crop, png)
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stdout
    assert cv2.imread(str(png)).shape == (32, 64, 3)  # input | redirected, 32 px each
    res = _redirect_image(out / "redirector_float32.tflite", photo, crop, png)
    assert res.returncode != 0 and "exists" in res.stderr
    res = _redirect_image(out / "redirector_float32.tflite", photo, crop, tmp_path / "x.png", gaze="400")
    assert res.returncode != 0 and "gaze_deg" in res.stderr and not (tmp_path / "x.png").exists()
    res = _redirect_image(out / "redirector_float32.tflite", photo, (400, 400, 200, 200), tmp_path / "y.png")
    assert res.returncode != 0 and "outside" in res.stderr and not (tmp_path / "y.png").exists()


@pytest.mark.slow
def test_standalone_script_on_the_real_frame(exported, tmp_path, shared_path):
    root = shared_path("mpii-example")
    res, out = exported
    assert res.returncode == 0, res.stderr
    ann = json.load(open(os.path.join(root, "annotation.json")))
    xs = [p[0] for p in ann["landmarks_2d_px"]]
    ys = [p[1] for p in ann["landmarks_2d_px"]]
    cx, cy, half = (min(xs) + max(xs)) // 2, (min(ys) + max(ys)) // 2, int(0.8 * (max(xs) - min(xs)))
    png = tmp_path / "redirected.png"
    res = _redirect_image(out / "redirector_float32.tflite", os.path.join(root, "day01_0087.jpg"),
                          (cx - half, cy - half, 2 * half, 2 * half), png)
    assert res.returncode == 0, res.stderr
    assert cv2.imread(str(png)).shape == (32, 64, 3)


@pytest.mark.parametrize(
    "args, message",
    [
        pytest.param(["--model={missing}"], "no such", marks=pytest.mark.slow),
        (["--model={model}", "--formats=tflite,coreml"], "flag --formats=tflite,coreml: expected a comma"),
        pytest.param(["--model={model}", "--formats=tflite", "--quantize=int8"], "representative", marks=pytest.mark.slow),
        (["--model={model}", "--formats=tflite", "--quantize=int3"], "flag --quantize=int3: expected a comma"),
        pytest.param(["--checkpoint={mismatched}"], "does not match", marks=pytest.mark.slow),  # the old name
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
