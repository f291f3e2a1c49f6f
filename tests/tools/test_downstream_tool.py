import json
import math
import os

import cv2
import h5py
import numpy as np
import pytest

from tfredirect.training.downstream import PANEL_SIZE


def _rows(path):
    with h5py.File(path, "r") as f:
        return np.concatenate([f[name]["labels"][()] for name in f])


def test_downstream_tool_end_to_end_on_tiny_synthgaze(tool, tiny_redirector_file, tmp_path):
    out = tmp_path / "ds"
    args = [f"--checkpoint={tiny_redirector_file}", f"--out_dir={out}", "--samples=160", "--max_gaze_deg=10", "--per_image=1",
            "--steps=20", "--batch_size=16", "--test_samples=128", "--seed=3"]
    res = tool("downstream", *args)
    assert res.returncode == 0, res.stderr
    assert "full-range gaze error, augmented vs narrow" in res.stdout and "wrote" in res.stdout

    results = json.load(open(out / "results.json"))
    assert set(results["arms"]) == {"narrow", "augmented"}
    assert results["arms"]["narrow"]["train_samples"] == 160 and results["arms"]["augmented"]["train_samples"] == 320
    for arm in results["arms"].values():
        assert math.isfinite(arm["gaze_error_deg"]) and math.isfinite(arm["head_error_deg"])
        bins = arm["gaze_error_by_bin"]
        assert list(bins) == ["0-10", "10-20", "20-30", "30+"] and sum(b["n"] for b in bins.values()) == 128
        assert os.path.exists(arm["model"])
    red = results["relative_reduction"]
    assert red == pytest.approx(1 - results["arms"]["augmented"]["gaze_error_deg"]
                                / results["arms"]["narrow"]["gaze_error_deg"])
    assert results["target_met"] == (red >= 0.3)

    png = cv2.imread(str(out / "downstream.png"))
    assert png.shape == (PANEL_SIZE[1], 2 * PANEL_SIZE[0], 3)
    assert cv2.imread(str(out / "examples.png")) is not None

    narrow = _rows(out / "narrow.h5")
    assert len(narrow) == 160 and np.degrees(np.abs(narrow[:, :2])).max() < 10
    augmented = _rows(out / "augmented.h5")
    assert len(augmented) == 160  # N * K
    assert np.degrees(np.abs(augmented[:, :2])).max() > 20  # spread beyond the subset

    before = (out / "results.json").read_text()
    res = tool("downstream", *args)
    assert res.returncode != 0 and "--overwrite" in res.stderr
    assert (out / "results.json").read_text() == before


def test_downstream_tool_rejects_bad_settings(tool, tiny_redirector_file, tmp_path):
    out = tmp_path / "ds"
    res = tool("downstream", f"--checkpoint={tiny_redirector_file}", f"--out_dir={out}", "--size=64")
    assert res.returncode != 0 and "32x32" in res.stderr
    assert not out.exists()
