import json
import math
import os

import cv2
import h5py
import keras
import numpy as np
import pytest

from tfredirect.training.estimation import synthgaze_test_batches
from tfredirect.visualize import PANEL_SIZE


def _rows(path):
    with h5py.File(path, "r") as f:
        return np.concatenate([f[name]["labels"][()] for name in f])


def _angle_deg(a, b):
    def vectors(py):
        p, y = np.asarray(py, np.float64)[:, 0], np.asarray(py, np.float64)[:, 1]
        return np.stack([np.cos(p) * np.sin(y), np.sin(p), np.cos(p) * np.cos(y)], -1)
    return np.degrees(np.arccos(np.clip(np.sum(vectors(a) * vectors(b), axis=1), -1.0, 1.0)))


def _measure(model_path, batches):
    """The arm's estimator re-read from its file and run here on the test images: its mean gaze
    and head errors (deg) and, per bin of the true gaze max(|pitch|, |yaw|), count and mean."""
    model = keras.saving.load_model(model_path)
    gaze_err, head_err, extent = [], [], []
    for batch in batches:
        out = model(np.asarray(batch["image"], np.float32) / 127.5 - 1.0)
        gaze_err.append(_angle_deg(np.asarray(out["gaze"]), batch["gaze"]))
        head_err.append(_angle_deg(np.asarray(out["head"]), batch["head"]))
        extent.append(np.degrees(np.abs(batch["gaze"])).max(axis=1))
    gaze_err, head_err, extent = (np.concatenate(v) for v in (gaze_err, head_err, extent))
    bins = {}
    for name, lo, hi in (("0-10", 0, 10), ("10-20", 10, 20), ("20-30", 20, 30), ("30+", 30, np.inf)):
        sel = (extent >= lo) & (extent < hi)
        bins[name] = (int(sel.sum()), float(gaze_err[sel].mean()) if sel.any() else None)
    return float(gaze_err.mean()), float(head_err.mean()), bins


@pytest.mark.slow
def test_downstream_tool_end_to_end_on_tiny_synthgaze(tool, tmp_path):
    """No --model: the tool trains its redirector on the rendered narrow subset (tiny recipe,
    a few steps), augments with it and reports every arm against a measurement made here."""
    out = tmp_path / "ds"
    args = [f"--out_dir={out}", "--samples=160", "--max_gaze_deg=10", "--per_image=1", "--redirector_preset=tiny",
            "--redirector_steps=4", "--steps=20", "--batch_size=16", "--test_samples=128", "--seed=3"]
    res = tool("downstream", *args)
    assert res.returncode == 0, res.stderr
    assert "full-range gaze error, augmented (narrow-only (trained here) generator) vs narrow" in res.stdout
    assert "wrote" in res.stdout
    assert f"redirector trained on the 160 narrow samples of {out}/narrow.h5 (4 steps" in res.stdout
    assert f"-> {out}/redirector/redirector.keras" in res.stdout
    # progress in plain lines (the output is not a terminal): rendered and redirected counts,
    # and each arm's estimator steps with the step time; never a carriage return
    assert "rendering narrow.h5: 160/160 images" in res.stderr
    assert "redirecting for 'augmented': 160/160 images" in res.stderr
    assert res.stdout.count("20/20") >= 2 and "ms/step" in res.stdout
    assert "\r" not in res.stdout + res.stderr

    results = json.load(open(out / "results.json"))
    assert set(results["arms"]) == {"narrow", "augmented"}
    assert results["arms"]["narrow"]["train_samples"] == 160 and results["arms"]["augmented"]["train_samples"] == 320
    # every reported number against a measurement made here: each arm's saved estimator on
    # the 128 full-range test-person images (SynthGaze seed 3), errors and bins computed anew
    test = synthgaze_test_batches(32, count=128, seed=3)
    measured = {}
    for name, arm in results["arms"].items():
        gaze, head, bins = _measure(arm["model"], test)
        measured[name] = gaze
        assert arm["gaze_error_deg"] == pytest.approx(gaze, abs=1e-3) and math.isfinite(gaze), name
        assert arm["head_error_deg"] == pytest.approx(head, abs=1e-3), name
        assert list(arm["gaze_error_by_bin"]) == list(bins)
        for b, (n, mean) in bins.items():
            assert arm["gaze_error_by_bin"][b]["n"] == n, (name, b)
            assert arm["gaze_error_by_bin"][b]["mean"] == (None if mean is None else pytest.approx(mean, abs=1e-3))
    assert sum(n for n, _ in bins.values()) == 128
    assert bins["0-10"][0] < 64  # a full-range test set, not the narrow range
    assert measured["augmented"] != pytest.approx(measured["narrow"], abs=1e-3)  # the arms are different models
    red = 1 - measured["augmented"] / measured["narrow"]
    assert results["relative_reduction"] == pytest.approx(red, abs=1e-4)
    assert results["target_met"] == (red >= 0.6)
    assert results["generator"]["samples"] == 160 and results["generator"]["gaze_extent_deg"]["max"] < 10
    assert json.load(open(out / "redirector" / "config.json"))["data_path"] == str(out / "narrow.h5")

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


@pytest.mark.slow
def test_downstream_tool_rejects_bad_settings(tool, tiny_redirector_file, tmp_path):
    out = tmp_path / "ds"
    res = tool("downstream", f"--checkpoint={tiny_redirector_file}", f"--out_dir={out}", "--size=64")  # old name
    assert res.returncode != 0 and "32x32" in res.stderr
    res = tool("downstream", f"--out_dir={out}", "--redirector_preset=tiny", "--size=64")
    assert res.returncode == 1 and "the tiny recipe: the redirector takes 32x32 images, --size is 64" in res.stderr
    res = tool("downstream", f"--out_dir={out}", "--redirector_steps=0")
    assert res.returncode != 0 and "redirector_steps" in res.stderr
    res = tool("downstream", f"--out_dir={out}", "--redirector_preset=tiny", f"--upper_bound_model={tmp_path}/u.keras")
    assert res.returncode == 1 and "u.keras" in res.stderr.strip().splitlines()[-1]
    res = tool("downstream", f"--out_dir={out}", "--upper_bound_model=synthgaze-64", "--redirector_preset=tiny")
    assert res.returncode == 1 and "64x64 images, the experiment's are 32x32" in res.stderr
    assert not out.exists()


@pytest.mark.slow
def test_downstream_tool_gated_arm_with_a_huge_threshold_is_the_ungated_set(tool, tiny_redirector_file, tmp_path):
    from tfredirect.training.estimation import build_estimator

    judge = tmp_path / "judge.keras"  # an estimator made apart from the experiment (untrained, seeded)
    build_estimator(32, seed=3).save(str(judge))
    out = tmp_path / "ds"
    res = tool("downstream", f"--model={tiny_redirector_file}", f"--out_dir={out}", "--samples=48", "--per_image=2",
               "--steps=5", "--batch_size=8", "--test_samples=32", f"--judge={judge}", "--max_judged_error_deg=1000",
               "--verbose=0")
    assert res.returncode == 0, res.stderr
    results = json.load(open(out / "results.json"))
    assert list(results["arms"]) == ["narrow", "augmented", "gated", "random_kept"]
    gate = results["gate"]
    assert (gate["generated"], gate["kept"], gate["dropped"]) == (96, 96, 0)
    assert gate["judge"] == str(judge) and gate["max_judged_error_deg"] == 1000
    assert "kept 96 of 96 copies, dropped 0" in res.stdout and "gated" in res.stdout
    with h5py.File(out / "augmented.h5", "r") as a, h5py.File(out / "gated.h5", "r") as g:
        assert list(a) == list(g)
        for name in a:  # sample for sample, the judged errors included
            assert set(a[name]) == set(g[name]) and "judged_gaze_error_deg" in a[name]
            for column in a[name]:
                np.testing.assert_array_equal(a[name][column][()], g[name][column][()])
    for name in ("augmented", "gated", "random_kept"):
        assert results["arms"][name]["train_samples"] == 48 + 96
    png = cv2.imread(str(out / "downstream.png"))
    assert png.shape == (PANEL_SIZE[1], 2 * PANEL_SIZE[0], 3)


@pytest.mark.slow
def test_downstream_tool_rejects_a_bad_judge(tool, tiny_redirector_file, tmp_path):
    out = tmp_path / "ds"
    res = tool("downstream", f"--model={tiny_redirector_file}", f"--out_dir={out}", f"--judge={tmp_path}/none.keras")
    last = res.stderr.strip().splitlines()[-1]
    assert res.returncode == 1 and last == f"downstream.py: error: {tmp_path}/none.keras: no such model file"
    assert not out.exists()
    res = tool("downstream", f"--model={tiny_redirector_file}", f"--out_dir={out}",
               f"--judge={out}/augmented/estimator.keras")
    assert res.returncode == 1 and "independent" in res.stderr and not out.exists()
    res = tool("downstream", f"--model={tiny_redirector_file}", f"--out_dir={out}", "--max_judged_error_deg=-1")
    assert res.returncode != 0 and "max_judged_error_deg" in res.stderr and not out.exists()
