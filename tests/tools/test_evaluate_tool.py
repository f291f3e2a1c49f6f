import json
import os

import cv2
import pytest

from tfredirect.data.synthgaze import SynthGaze
from tfredirect.training.estimation import build_estimator


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_redirector_file):
    root = tmp_path_factory.mktemp("eval")
    os.symlink(tiny_redirector_file, root / "redirector.keras")
    build_estimator(32).save(str(root / "estimator32.keras"))
    build_estimator(64).save(str(root / "estimator64.keras"))
    return root


def test_synthgaze_protocol_writes_json_table_and_examples(tool, models, tmp_path):
    out = tmp_path / "eval.json"
    args = [f"--model={models / 'redirector.keras'}", f"--estimator={models / 'estimator32.keras'}",
            "--persons=4", "--pairs_per_person=2", "--examples=3", f"--out={out}"]
    res = tool("evaluate", *args)
    assert res.returncode == 0, res.stderr
    assert "gaze shift" in res.stdout and "floor" in res.stdout and f"wrote {out}" in res.stdout
    result = json.load(open(out))
    assert result["pairs"] == 8 and result["image_size"] == 32
    for mode in ("gaze", "head", "both"):
        assert {"gaze_error_deg", "head_error_deg", "l1", "psnr", "ssim"} <= set(result["redirection"][mode])
        assert 0 <= result["redirection"][mode]["gaze_error_deg"] <= 180
    assert "judged_gaze_shift_deg" in result["redirection"]["head"]
    png = cv2.imread(str(tmp_path / "eval.png"))
    assert png.shape == (2 * (3 * 34 - 2), 2 * (5 * 34 - 2), 3)  # 3 rows x 5 columns of 32 px, gap 2, scale 2
    again = tool("evaluate", *args)
    assert again.returncode == 1 and "exists" in again.stderr


def test_real_layout_file_and_bad_inputs(tool, models, tmp_path):
    h5 = tmp_path / "sted.h5"
    SynthGaze(size=32, seed=1, num_persons=6, samples_per_person=6, val_fraction=0.0,
              test_fraction=0.0).write_h5(str(h5), "train")
    res = tool("evaluate", f"--model={models / 'redirector.keras'}", "--data=sted", f"--data_path={h5}",
               "--pairs=16", f"--out={tmp_path / 'real.json'}")
    assert res.returncode == 0, res.stderr
    result = json.load(open(tmp_path / "real.json"))
    assert result["pairs"] == 16 and "sted.h5" in result["data"]
    assert set(result["redirection"]["both"]) == {"l1", "psnr", "ssim"}  # no judge; image b as reference
    assert result["redirection"]["gaze"] == {}

    bad = tool("evaluate", f"--model={models / 'redirector.keras'}", f"--estimator={models / 'estimator64.keras'}",
               f"--out={tmp_path / 'bad.json'}")
    assert bad.returncode == 1 and "estimator64.keras" in bad.stderr and "64x64" in bad.stderr
    assert not (tmp_path / "bad.json").exists()
    bad = tool("evaluate", f"--model={models / 'redirector.keras'}", "--data=sted")
    assert bad.returncode == 1 and "--data_path" in bad.stderr
