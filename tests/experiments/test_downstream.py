import dataclasses
import json
import math
import os

import h5py
import numpy as np
import pytest

from tfredirect.data import sources
from tfredirect.data.synthgaze import SynthGaze
from tfredirect.experiments import downstream, subsets
from tfredirect.training.data import split_index


@pytest.mark.slow
def test_real_data_mode_trains_on_narrow_training_persons_and_tests_on_held_out_ones(tiny_redirector_file, tmp_path,
                                                                                     monkeypatch):
    data = str(tmp_path / "real.h5")
    SynthGaze(size=32, seed=5, num_persons=48, samples_per_person=12, val_fraction=0.0, test_fraction=0.0,
              nuisance="person").write_h5(data, "train")
    index = sources.build_index("sted", data)
    train, held_out = split_index(index, "train"), split_index(index, "val")
    assert len(held_out) > 0
    narrow_expected = int(np.sum(subsets.gaze_extent_deg(train.gaze) < 20))

    cfg = downstream.DownstreamConfig(out_dir=str(tmp_path / "out"), model=str(tiny_redirector_file), data="sted",
                                      data_path=data, samples=10_000, max_gaze_deg=20, per_image=2,
                                      steps=20, batch_size=16, test_samples=10_000, with_full=True, verbose=0)
    messages = []
    # an arm is a name and the data it trains on: one more that reuses the augmented set
    # (made once) runs, is reported, and its outputs are cleaned with the others
    extra = downstream.Arm("copies_only", lambda ctx: [ctx.augmented("augmented")])
    monkeypatch.setattr(downstream, "ARMS", (*downstream.ARMS, extra))
    results = downstream.run(cfg, log=messages.append)
    assert any("held-out persons" in m for m in messages)
    assert sum("redirected copies" in m for m in messages) == 1
    assert os.path.join(cfg.out_dir, "copies_only") in downstream.output_paths(cfg.out_dir)
    arms = results["arms"]
    assert set(arms) == {"narrow", "augmented", "full", "copies_only"}
    assert arms["copies_only"]["train_samples"] == 2 * narrow_expected
    assert set(results["augmentation"]) == {"augmented"}
    assert results["augmentation"]["augmented"]["images"] == 2 * narrow_expected
    assert arms["narrow"]["train_samples"] == narrow_expected
    assert arms["augmented"]["train_samples"] == 3 * narrow_expected
    assert arms["full"]["train_samples"] == narrow_expected
    for arm in arms.values():
        assert math.isfinite(arm["gaze_error_deg"]) and math.isfinite(arm["head_error_deg"])
        assert sum(b["n"] for b in arm["gaze_error_by_bin"].values()) == len(held_out)

    with h5py.File(results["files"]["augmented"], "r") as f:
        persons = set(f)
        rows = sum(len(f[p]["labels"]) for p in f)
    assert rows == 2 * narrow_expected
    assert persons <= set(train.persons) and not persons & set(held_out.persons)
    assert "narrow" not in results["files"]  # real data is read through the index, not copied
    assert f"augmented (given {tiny_redirector_file} generator) vs narrow" in downstream.format_table(results)
    assert results["generator"]["model"] == str(tiny_redirector_file) and "redirector" not in results["files"]
    assert arms["augmented"]["generator"] == f"given {tiny_redirector_file}" and arms["narrow"]["generator"] is None


@pytest.mark.slow
def test_without_a_model_a_redirector_is_trained_on_the_narrow_subset_alone(tiny_redirector_file, tmp_path):
    """No --model: the experiment writes the narrow subset of the training persons to
    narrow.h5, trains its redirector on that file only (no full-range label), augments with
    it; --upper_bound_model adds the labelled upper-bound arm, with the same targets."""
    data = str(tmp_path / "real.h5")
    SynthGaze(size=32, seed=5, num_persons=48, samples_per_person=12, val_fraction=0.0, test_fraction=0.0,
              nuisance="person").write_h5(data, "train")
    train = split_index(sources.build_index("sted", data), "train")
    narrow_expected = int(np.sum(subsets.gaze_extent_deg(train.gaze) < 20))
    assert narrow_expected < len(train)  # the file holds wider gaze than the subset
    cfg = downstream.DownstreamConfig(out_dir=str(tmp_path / "out"), data="sted", data_path=data, samples=10_000,
                                      max_gaze_deg=20, per_image=1, steps=5, batch_size=8, test_samples=64,
                                      redirector_preset="tiny", redirector_steps=4,
                                      upper_bound_model=str(tiny_redirector_file), verbose=0)
    results = downstream.run(cfg, log=lambda m: None)

    gen, files = results["generator"], results["files"]
    assert gen["source"] == "trained on the narrow subset" and gen["steps"] == 4 and gen["seconds"] > 0
    assert files["narrow"] == gen["data_path"] == os.path.join(cfg.out_dir, "narrow.h5")
    assert files["redirector"] == gen["model"] == os.path.join(cfg.out_dir, "redirector", "redirector.keras")
    trained = json.load(open(os.path.join(cfg.out_dir, "redirector", "config.json")))
    assert (trained["data"], trained["data_path"], trained["steps"], trained["seed"]) == ("sted", files["narrow"], 4, 0)
    seen = sources.build_index("sted", trained["data_path"])
    assert len(seen) == gen["samples"] == narrow_expected == results["arms"]["narrow"]["train_samples"]
    assert subsets.gaze_extent_deg(seen.gaze).max() < 20 and gen["gaze_extent_deg"]["max"] < 20
    assert set(seen.persons) <= set(train.persons)

    arms = results["arms"]
    assert list(arms) == ["narrow", "augmented", downstream.UPPER_BOUND]
    assert arms["augmented"]["generator"] == "narrow-only (trained here)"
    assert arms[downstream.UPPER_BOUND]["generator"] == f"upper bound {tiny_redirector_file}"
    assert arms[downstream.UPPER_BOUND]["train_samples"] == 2 * narrow_expected
    assert results["upper_bound"]["model"] == str(tiny_redirector_file)
    narrow = arms["narrow"]["gaze_error_deg"]
    assert results["relative_reduction"] == pytest.approx(1 - arms["augmented"]["gaze_error_deg"] / narrow)
    assert results["upper_bound_relative_reduction"] == pytest.approx(
        1 - arms[downstream.UPPER_BOUND]["gaze_error_deg"] / narrow)
    # the same targets for both generators, copy for copy
    main, upper = (_copies(files[n], ("labels", "source_index", "copy")) for n in ("augmented", downstream.UPPER_BOUND))
    assert len(main) == narrow_expected and set(main) == set(upper)
    for key in main:
        np.testing.assert_array_equal(main[key]["labels"], upper[key]["labels"])
    table = downstream.format_table(results)
    assert "augmented (narrow-only (trained here) generator) vs narrow" in table
    assert f"upper bound, {downstream.UPPER_BOUND} (upper bound {tiny_redirector_file}) vs narrow" in table
    assert os.path.join(cfg.out_dir, "redirector") in downstream.output_paths(cfg.out_dir)


def test_kde_targets_come_from_the_full_range_reference_not_the_subset():
    cfg = downstream.DownstreamConfig(out_dir="x", model="m.keras", bandwidth_deg=1e-6)
    ref_g, ref_h = np.radians([[30.0, -40.0]]), np.radians([[20.0, -30.0]])
    sampler = downstream.make_sampler(cfg, ref_g, ref_h)
    _, tg, th = sampler.draw(np.arange(3), 0, np.zeros((3, 2), np.float32), np.zeros((3, 2), np.float32))
    assert np.allclose(tg, ref_g, atol=1e-5) and np.allclose(th, ref_h, atol=1e-5)
    uniform = downstream.make_sampler(dataclasses.replace(cfg, targets="uniform"), ref_g, ref_h)
    assert uniform.mode == "uniform" and uniform.reference_gaze is None


def test_bins_and_config_validation(tmp_path):
    errors = np.array([1.0, 2.0, 3.0, 4.0])
    extent = subsets.gaze_extent_deg(np.radians([[5.0, -2.0], [0.0, -15.0], [12.0, 25.0], [-35.0, 0.0]]))
    out = downstream.binned(errors, extent, (10.0, 20.0, 30.0))
    assert [b["mean"] for b in out.values()] == [1.0, 2.0, 3.0, 4.0]
    assert downstream.binned(errors, extent, (50.0,))["50+"] == {"n": 0, "mean": None}
    cfg = downstream.DownstreamConfig(out_dir="x", model="m.keras")
    assert cfg.gaze_range_deg == (40.0, 50.0) and cfg.head_range_deg == (30.0, 45.0)
    bad = [dict(data="sted"), dict(targets="normal"), dict(target_kind="eyes"), dict(per_image=0),
           dict(max_gaze_deg=0), dict(bins_deg=(20, 10)), dict(gaze_range_deg=(40,))]
    for kwargs in bad:
        with pytest.raises(ValueError):
            downstream.DownstreamConfig(out_dir="x", model="m.keras", **kwargs)
    with pytest.raises(ValueError, match="no such"):
        downstream.run(downstream.DownstreamConfig(out_dir=str(tmp_path / "o"), model=str(tmp_path / "m.keras")))
    assert downstream.DownstreamConfig(out_dir="x").model == ""  # the experiment trains its own redirector
    for kwargs, match in [(dict(redirector_steps=0), "redirector_steps"), (dict(redirector_preset="huge"), "huge"),
                          (dict(model="x/redirector/redirector.keras"), "output of this experiment"),
                          (dict(upper_bound_model="x/augmented/estimator.keras"), "output of this experiment")]:
        with pytest.raises(ValueError, match=match):
            downstream.DownstreamConfig(out_dir="x", **kwargs)
    out = tmp_path / "o"
    with pytest.raises(ValueError, match="the tiny recipe: the redirector takes 32x32 images, --size is 64"):
        downstream.run(downstream.DownstreamConfig(out_dir=str(out), redirector_preset="tiny", size=64))
    with pytest.raises(ValueError, match="no such"):
        downstream.run(downstream.DownstreamConfig(out_dir=str(out), upper_bound_model=str(tmp_path / "u.keras")))
    assert not out.exists()


@pytest.mark.slow
def test_a_failed_run_leaves_nothing_behind(tiny_redirector_file, tmp_path):
    data = str(tmp_path / "real.h5")
    SynthGaze(size=32, seed=5, num_persons=24, samples_per_person=4, val_fraction=0.0, test_fraction=0.0,
              nuisance="person").write_h5(data, "train")
    out = tmp_path / "out"
    cfg = downstream.DownstreamConfig(out_dir=str(out), model=str(tiny_redirector_file), data="sted",
                                      data_path=data, max_gaze_deg=1e-4, steps=5, verbose=0)
    with pytest.raises(ValueError, match="no training sample"):
        downstream.run(cfg, log=lambda m: None)
    assert not out.exists()


def _copies(path, columns=("labels", "pixels", "source_index", "copy", "judged_gaze_error_deg",
                           "judged_head_error_deg")):
    """{(source_index, copy): {column: value}} of an augmented ST-ED file."""
    out = {}
    with h5py.File(path, "r") as f:
        for name in f:
            g = {c: f[name][c][()] for c in columns}
            for i, key in enumerate(zip(g["source_index"].tolist(), g["copy"].tolist())):
                out[key] = {c: g[c][i] for c in columns}
    return out


@pytest.mark.slow
def test_the_gated_arm_trains_on_the_copies_the_judge_keeps(tiny_redirector_file, tmp_path, monkeypatch):
    """With a judge: 'gated' holds exactly the augmented copies whose larger judged error is
    within the threshold (sample for sample), 'random_kept' as many random ones; with a huge
    threshold the gated set is the ungated one."""
    from tfredirect.training.estimation import build_estimator

    data = str(tmp_path / "real.h5")
    SynthGaze(size=32, seed=5, num_persons=24, samples_per_person=8, val_fraction=0.0, test_fraction=0.0,
              nuisance="person").write_h5(data, "train")
    judge = tmp_path / "judge" / "estimator.keras"  # trained apart: here a seeded, untrained one
    judge.parent.mkdir()
    build_estimator(32, seed=3).save(str(judge))
    threshold = 25.0
    cfg = downstream.DownstreamConfig(out_dir=str(tmp_path / "out"), model=str(tiny_redirector_file), data="sted",
                                      data_path=data, max_gaze_deg=20, per_image=2, steps=5, batch_size=8,
                                      judge=str(judge), max_judged_error_deg=threshold, verbose=0)
    everything = downstream.Arm("gated_all", lambda ctx: [ctx.exp.narrow, ctx.augmented(
        "gated_all", judge=ctx.judge, max_judged_error_deg=1e6)])
    monkeypatch.setattr(downstream, "ARMS", (*downstream.ARMS, everything))
    results = downstream.run(cfg, log=lambda m: None)

    arms, gate, aug = results["arms"], results["gate"], results["augmentation"]
    assert list(arms) == ["narrow", "augmented", "gated", "random_kept", "gated_all"]
    narrow = arms["narrow"]["train_samples"]
    generated = 2 * narrow
    copies = _copies(results["files"]["augmented"])  # judged, not gated
    assert len(copies) == generated and aug["augmented"]["dropped"] == 0
    worst = {k: max(c["judged_gaze_error_deg"], c["judged_head_error_deg"]) for k, c in copies.items()}
    within = {k for k, w in worst.items() if w <= threshold}
    assert 0 < len(within) < generated  # the threshold splits the copies
    assert gate["generated"] == generated and gate["kept"] + gate["dropped"] == generated
    assert gate["kept"] == len(within) and gate["dropped"] == generated - len(within)
    assert aug["augmented"]["judged"]["fraction_within_threshold"] == pytest.approx(len(within) / generated)
    assert aug["gated"]["judged"]["fraction_within_threshold"] == 1.0

    gated = _copies(results["files"]["gated"])
    assert set(gated) == within  # a strict subset, the very copies within the threshold
    for key, c in gated.items():  # sample for sample: pixels, labels and judged errors
        for column, value in c.items():
            np.testing.assert_array_equal(value, copies[key][column])
    everything = _copies(results["files"]["gated_all"])
    assert aug["gated_all"]["dropped"] == 0 and set(everything) == set(copies)
    for key, c in everything.items():
        for column, value in c.items():
            np.testing.assert_array_equal(value, copies[key][column])

    assert arms["augmented"]["train_samples"] == narrow + generated
    assert arms["gated"]["train_samples"] == arms["random_kept"]["train_samples"] == narrow + len(within)
    assert gate["relative_change_vs_augmented"] == pytest.approx(
        arms["gated"]["gaze_error_deg"] / arms["augmented"]["gaze_error_deg"] - 1)
    table = downstream.format_table(results)
    assert f"kept {len(within)} of {generated} copies, dropped {generated - len(within)}" in table
    assert "gated vs augmented" in table and "random_kept" in table
    assert set(downstream.chart_panels(results)[0]["series"]) == set(arms)


def test_gate_settings_are_checked():
    with pytest.raises(ValueError, match="max_judged_error_deg"):
        downstream.DownstreamConfig(out_dir="x", model="m.keras", judge="j.keras", max_judged_error_deg=-1)
    with pytest.raises(ValueError, match="independent"):  # an arm's estimator, replaced by the run
        downstream.DownstreamConfig(out_dir="x", model="m.keras", judge="x/narrow/estimator.keras")
    assert downstream.DownstreamConfig(out_dir="x", model="m.keras", judge="runs/judge/estimator.keras").judge
