import json

import keras
import numpy as np
import pytest

from tfredirect.config import GanSchedule, LossConfig, preset
from tfredirect.training import RedirectionGAN
from tfredirect.training.estimation import (EstimatorConfig, build_estimator, evaluate, load_estimator,
                                            synthgaze_test_batches, train_estimator)


@pytest.mark.slow
def test_estimator_error_falls_on_tiny_synthgaze(tmp_path):
    cfg = EstimatorConfig(out_dir=str(tmp_path / "est"), size=32, batch_size=32, steps=300, lr=2e-3, verbose=0)
    held_out = synthgaze_test_batches(32, count=128)
    before = evaluate(build_estimator(32, cfg.seed), held_out)
    summary = train_estimator(cfg, eval_batches=held_out)
    after = (summary["test_gaze_error_deg"], summary["test_head_error_deg"])
    assert after[0] < 0.6 * before[0] and after[1] < 0.5 * before[1], (before, after)
    model = load_estimator(summary["model"])
    assert evaluate(model, held_out) == pytest.approx(after, abs=1e-4)  # .keras round trip
    assert json.load(open(tmp_path / "est" / "summary.json"))["steps"] == 300
    with pytest.raises(ValueError, match="exists"):
        train_estimator(cfg)


def test_load_estimator_rejects_other_models(tmp_path):
    path = str(tmp_path / "gen.keras")
    from tfredirect.models import Redirector

    r = Redirector(preset("tiny"))
    r.build()
    r.save(path)
    with pytest.raises(ValueError, match="not a GazeHeadEstimator"):
        load_estimator(path)
    with pytest.raises(ValueError, match="no such"):
        load_estimator(str(tmp_path / "missing.keras"))


def _rewrite(src, dst, replace=None, drop=None):
    """A copy of the .keras archive `src` with a member replaced or dropped."""
    import zipfile

    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w") as new:
        for name in old.namelist():
            if name != drop:
                new.writestr(name, (replace or {}).get(name, old.read(name)))
    return str(dst)


def test_load_estimator_names_the_file_and_what_is_wrong(tmp_path):
    good = str(tmp_path / "good.keras")
    build_estimator(32).save(good)
    data = open(good, "rb").read()
    (tmp_path / "folder.keras").mkdir()
    (tmp_path / "text.keras").write_text("not a model")
    (tmp_path / "half.keras").write_bytes(data[: len(data) // 2])
    cases = {
        str(tmp_path / "missing.keras"): "no such model file",
        str(tmp_path / "folder.keras"): r"not a .keras archive \(a folder",
        str(tmp_path / "text.keras"): r"not a .keras archive \(11 bytes",
        str(tmp_path / "half.keras"): f"not a .keras archive \\({len(data) // 2} bytes; truncated",
        _rewrite(good, tmp_path / "noweights.keras", drop="model.weights.h5"): r"damaged .keras archive \(no model.weights.h5\)",
        _rewrite(good, tmp_path / "config.keras", replace={"config.json": b"{bad"}): r"damaged model config \(config.json",
        _rewrite(good, tmp_path / "weights.keras", replace={"model.weights.h5": b"garbage"}): "damaged weights",
    }
    for path, message in cases.items():
        with pytest.raises(ValueError, match=message) as err:
            load_estimator(path)
        assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)
    assert load_estimator(good).image_size == 32


@pytest.mark.slow
def test_consistency_loss_uses_a_frozen_estimator(pair_batch):
    estimator = build_estimator(32, seed=3)
    frozen = [keras.ops.convert_to_numpy(v) for v in estimator.weights]
    gan = RedirectionGAN(preset("tiny"), LossConfig(consistency=1.0), seed=1, estimator=estimator,
                         gan_schedule=GanSchedule(warmup=0))
    gan.compile()
    logs = gan.train_on_batch(pair_batch(8, 32), return_dict=True)
    assert np.isfinite(logs["consistency"]) and logs["consistency"] > 0
    assert all(np.array_equal(a, keras.ops.convert_to_numpy(b)) for a, b in zip(frozen, estimator.weights))
    with pytest.raises(ValueError, match="needs a frozen"):
        RedirectionGAN(preset("tiny"), LossConfig(consistency=1.0))
    with pytest.raises(ValueError, match="image size"):
        RedirectionGAN(preset("tiny"), LossConfig(consistency=1.0), estimator=build_estimator(64))


def test_estimator_and_training_data_take_the_synthgaze_appearance():
    """EstimatorConfig.appearance and TrainConfig.synth_appearance reach SynthGaze: the same
    samples, plain and textured, differ (and the labels do not)."""
    from tfredirect.config import TrainConfig
    from tfredirect.training.data import build_data
    from tfredirect.training.estimation import training_batches

    got = {}
    for appearance in ("plain", "textured"):
        cfg = EstimatorConfig(out_dir="unused", size=32, batch_size=4, appearance=appearance)
        got[appearance] = next(iter(training_batches(cfg)))
    np.testing.assert_array_equal(got["plain"]["gaze"], got["textured"]["gaze"])
    assert np.abs(got["plain"]["image"].numpy().astype(int) - got["textured"]["image"].numpy()).mean() > 1.0
    pairs = {}
    for appearance in ("plain", "textured"):
        tcfg = TrainConfig.from_preset("tiny", out_dir="unused", synth_appearance=appearance)
        pairs[appearance] = next(iter(build_data(tcfg, 32).train()))
    np.testing.assert_array_equal(pairs["plain"]["gaze_a"], pairs["textured"]["gaze_a"])
    assert np.abs(pairs["plain"]["image_a"].numpy().astype(int) - pairs["textured"]["image_a"].numpy()).mean() > 1.0
