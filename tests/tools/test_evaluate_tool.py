import json
import os

import cv2
import numpy as np
import pytest

from tfredirect.experiments import evaluation
from tfredirect.data.synthgaze import SynthGaze
from tfredirect.training.estimation import build_estimator

JUDGED_GAZE, JUDGED_HEAD = (0.1, -0.2), (-0.05, 0.15)  # what the constant judge reads on every image


def _constant_estimator(size):
    """A judge whose output heads ignore the image: zero kernels, the readings as biases."""
    est = build_estimator(size)
    for layer, value in ((est.gaze_out, JUDGED_GAZE), (est.head_out, JUDGED_HEAD)):
        layer.kernel.assign(np.zeros(layer.kernel.shape, "float32"))
        layer.bias.assign(np.array(value, "float32"))
    return est


def _angle_deg(pitchyaw, labels):
    """Angles (deg) between the direction of one (pitch, yaw) and those of (n, 2) labels."""
    def vectors(py):
        p, y = np.asarray(py, np.float64)[..., 0], np.asarray(py, np.float64)[..., 1]
        return np.stack([np.cos(p) * np.sin(y), np.sin(p), np.cos(p) * np.cos(y)], -1)
    return np.degrees(np.arccos(np.clip(vectors(labels) @ vectors(pitchyaw), -1.0, 1.0)))


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_redirector_file):
    root = tmp_path_factory.mktemp("eval")
    os.symlink(tiny_redirector_file, root / "redirector.keras")
    _constant_estimator(32).save(str(root / "constant32.keras"))
    build_estimator(64).save(str(root / "estimator64.keras"))
    return root


@pytest.mark.slow
def test_synthgaze_protocol_writes_json_table_and_examples(tool, models, tmp_path):
    out = tmp_path / "eval.json"
    args = [f"--model={models / 'redirector.keras'}", f"--estimator={models / 'constant32.keras'}",
            "--persons=4", "--pairs_per_person=2", "--examples=3", f"--out={out}"]
    res = tool("evaluate", *args)
    assert res.returncode == 0, res.stderr
    assert "gaze shift" in res.stdout and "ref gaze" in res.stdout and "floor" in res.stdout and f"wrote {out}" in res.stdout
    assert "judging pairs: 8/8 pairs" in res.stderr and "\r" not in res.stderr  # progress as plain lines
    result = json.load(open(out))
    assert result["pairs"] == 8 and result["image_size"] == 32
    for mode in ("gaze", "head", "both"):
        assert {"gaze_error_deg", "head_error_deg", "l1", "psnr", "ssim"} <= set(result["redirection"][mode])
    # the judge reads the same on every image, so every error is known from the labels alone:
    # the angle between its reading and the labels the image should show, over the 8 pairs
    pairs = list(evaluation.synthgaze_batches(SynthGaze(size=32, seed=0, nuisance="person"), "test", 4, 2, 0)[0])
    labels = {k: np.concatenate([p[k] for p in pairs]) for k in ("gaze_a", "head_a", "gaze_b", "head_b")}
    assert len(labels["gaze_a"]) == 8
    for mode in ("gaze", "head", "both"):
        way = evaluation.way_targets(mode, labels["gaze_a"], labels["head_a"], labels["gaze_b"], labels["head_b"])
        used = way["excluded"] == ""
        got = result["redirection"][mode]
        assert got["pairs"] == int(used.sum()) and got["drawn_pairs"] == 8, mode
        want_g, want_h = way["want_gaze"][used], way["want_head"][used]
        assert got["gaze_error_deg"] == pytest.approx(_angle_deg(JUDGED_GAZE, want_g).mean(), abs=0.01), mode
        assert got["head_error_deg"] == pytest.approx(_angle_deg(JUDGED_HEAD, want_h).mean(), abs=0.01), mode
        # the exact renders are judged against the same labels: the same errors, nothing above the floor
        assert got["reference_gaze_error_deg"] == pytest.approx(got["gaze_error_deg"], abs=1e-6), mode
        assert got["reference_head_error_deg"] == pytest.approx(got["head_error_deg"], abs=1e-6), mode
        assert got["gaze_error_minus_floor_deg"] == pytest.approx(0.0, abs=1e-6), mode
        assert {"ci95", "by_change", "excluded_fraction"} <= set(got), mode
    assert result["redirection"]["both"]["pairs"] == 8
    assert result["judge_floor"]["gaze_error_deg"] == pytest.approx(_angle_deg(JUDGED_GAZE, labels["gaze_a"]).mean(),
                                                                    abs=0.01)
    assert result["judge_floor"]["head_error_deg"] == pytest.approx(_angle_deg(JUDGED_HEAD, labels["head_a"]).mean(),
                                                                    abs=0.01)
    # and it never moves: no judged shift
    assert result["redirection"]["head"]["judged_gaze_shift_deg"] == pytest.approx(0.0, abs=0.01)
    assert result["redirection"]["gaze"]["judged_head_shift_deg"] == pytest.approx(0.0, abs=0.01)
    gaze_way, head_way = result["redirection"]["gaze"], result["redirection"]["head"]
    assert max(abs(gaze_way[k] - head_way[k]) for k in ("gaze_error_deg", "head_error_deg")) > 0.5  # ways differ
    png = cv2.imread(str(tmp_path / "eval.png"))
    assert png.shape == (2 * (3 * 34 - 2), 2 * (5 * 34 - 2), 3)  # 3 rows x 5 columns of 32 px, gap 2, scale 2
    again = tool("evaluate", *args)
    assert again.returncode == 1 and "exists" in again.stderr


@pytest.mark.slow
def test_real_layout_file_and_bad_inputs(tool, models, tmp_path):
    h5 = tmp_path / "sted.h5"
    SynthGaze(size=32, seed=1, num_persons=6, samples_per_person=6, val_fraction=0.0,
              test_fraction=0.0).write_h5(str(h5), "train")
    res = tool("evaluate", f"--model={models / 'redirector.keras'}", "--data=sted", f"--data_path={h5}",
               "--pairs=16", f"--out={tmp_path / 'real.json'}")
    assert res.returncode == 0, res.stderr
    result = json.load(open(tmp_path / "real.json"))
    assert result["pairs"] == 16 and "sted.h5" in result["data"]
    # no judge; image b as reference, and the source against it (doing nothing)
    both, gaze = result["redirection"]["both"], result["redirection"]["gaze"]
    assert {"l1", "psnr", "ssim", "source_psnr", "source_ssim"} <= set(both) and both["pairs"] == 16
    assert not {"gaze_error_deg", "psnr"} & set(gaze)  # no judge, no reference for the gaze way
    assert result["targets"] == "per_way" and gaze["pairs"] + sum(gaze["excluded"].values()) == 16

    bad = tool("evaluate", f"--model={models / 'redirector.keras'}", f"--estimator={models / 'estimator64.keras'}",
               f"--out={tmp_path / 'bad.json'}")
    assert bad.returncode == 1 and "estimator64.keras" in bad.stderr and "64x64" in bad.stderr
    assert not (tmp_path / "bad.json").exists()
    bad = tool("evaluate", f"--model={models / 'redirector.keras'}", "--data=sted")
    assert bad.returncode == 1 and "--data_path" in bad.stderr
