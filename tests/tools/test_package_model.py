"""tools/package_model.py: a trained generator becomes a named float16 model with a card
holding its evaluation and real-photo results; bad inputs and existing names are refused."""

import json

import numpy as np
import pytest

from tfredirect import pretrained


@pytest.mark.slow
def test_packages_a_model_with_its_cards_and_refuses_what_it_cannot_vouch_for(tool, tiny_redirector,
                                                                                tiny_redirector_file, tmp_path):
    real = tmp_path / "results.json"
    real.write_text(json.dumps({"settings": {"model": "x", "distance_mm": 720.0},
                                "summary": {"iris_shift_yaw": 0.15}, "cases": []}))
    out = tmp_path / "models"
    args = [f"--model={tiny_redirector_file}", "--name=tiny-test", f"--out_dir={out}"]
    done = tool("package_model", *args, f"--real_photos={real}")
    assert done.returncode == 0, done.stderr
    assert "tiny-test.npz" in done.stdout and "float16 weights: max abs output difference" in done.stdout
    assert pretrained.names(str(out)) == ["tiny-test"]
    card = pretrained.card("tiny-test", str(out))
    assert card["real_photos"] == {"settings": {"model": "x", "distance_mm": 720.0},
                                   "summary": {"iris_shift_yaw": 0.15}}
    assert card["float16_max_abs_difference"] < 0.02
    loaded = pretrained.load("tiny-test", str(out))
    for a, b in zip(loaded.weights, tiny_redirector.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-3, rtol=2e-3)

    before = (out / "tiny-test.json").read_bytes()
    again = tool("package_model", *args)
    assert again.returncode == 1 and "exists; pass --overwrite" in again.stderr
    (tmp_path / "bad.json").write_text("{}")
    bad = tool("package_model", *args, "--overwrite", f"--real_photos={tmp_path / 'bad.json'}")
    assert bad.returncode == 1 and "bad.json: not a benchmarks/real_photos.py results.json" in bad.stderr
    assert (out / "tiny-test.json").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["tiny-test.json", "tiny-test.npz"]
