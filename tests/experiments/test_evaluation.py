import math

import numpy as np
import pytest

from tfredirect import metrics
from tfredirect.experiments import evaluation
from tfredirect.data.synthgaze import SynthGaze


def encode(gaze, head, size=8):
    """Images whose pixels carry the labels: R, G = 128 + 100 * gaze (pitch, yaw), B = 128 + 100 * head yaw."""
    values = np.stack([gaze[:, 0], gaze[:, 1], head[:, 1]], axis=1) * 100 + 128
    return np.broadcast_to(np.round(values)[:, None, None, :], (len(gaze), size, size, 3)).astype(np.uint8)


def decode(images):
    v = (images[:, 0, 0, :].astype(np.float32) - 128) / 100
    return np.stack([v[:, 0], v[:, 1]], 1), np.stack([np.zeros_like(v[:, 2]), v[:, 2]], 1)


class FakeRedirector:
    """identity: returns its input; oracle: draws the requested labels; leaky: an oracle whose
    head-only redirection also turns the gaze by the same angle."""

    image_size = 8

    def __init__(self, kind):
        self.kind = kind

    def estimate(self, images):
        return decode(images)

    def redirect(self, images, target_gaze=None, target_head=None, source_gaze=None, source_head=None):
        if self.kind == "identity":
            return images
        gaze = source_gaze if target_gaze is None else target_gaze
        head = source_head if target_head is None else target_head
        if self.kind == "leaky" and target_gaze is None:
            gaze = source_gaze + (target_head - source_head)
        return encode(gaze, head)


def batch():
    f = lambda *rows: np.array(rows, np.float32)  # noqa: E731
    gaze_a, head_a = f((0, 0), (0, -0.2)), f((0, 0), (0, 0.1))
    gaze_b, head_b = f((0, 0.1), (0, 0.1)), f((0, 0.2), (0, -0.1))
    return {"image_a": encode(gaze_a, head_a), "gaze_a": gaze_a, "head_a": head_a,
            "image_b": encode(gaze_b, head_b), "gaze_b": gaze_b, "head_b": head_b}


def run(kind, examples=0, targets="any", batches=None):
    reference = lambda b, mode, g, h: encode(g, h)  # noqa: E731
    return evaluation.evaluate_pairs(FakeRedirector(kind), batches or [batch()], judge=decode, reference_fn=reference,
                                     examples=examples, targets=targets)


def test_identity_redirector_matches_the_hand_computed_errors():
    result, _ = run("identity")
    r = result["redirection"]
    deg = math.degrees
    # yaw-only differences at zero pitch: the angle is the yaw difference
    assert r["gaze"]["gaze_error_deg"] == pytest.approx(deg((0.1 + 0.3) / 2), abs=0.05)
    assert r["head"]["head_error_deg"] == pytest.approx(deg((0.2 + 0.2) / 2), abs=0.05)
    assert r["both"]["gaze_error_deg"] == pytest.approx(deg(0.2), abs=0.05)
    assert r["both"]["head_error_deg"] == pytest.approx(deg(0.2), abs=0.05)
    assert r["gaze"]["head_error_deg"] < 0.05 and r["head"]["gaze_error_deg"] < 0.05
    # pixel L1 in gaze mode: one channel of three off by 10 and by 30 grey levels
    assert r["gaze"]["l1"] == pytest.approx((10 + 30) / 2 / 255 / 3, rel=1e-5)
    assert result["judge_floor"]["gaze_error_deg"] < 0.05 and result["auxiliary"]["head_error_deg"] < 0.05
    assert result["pairs"] == 2


def test_oracle_is_perfect_and_entanglement_shows_as_gaze_shift():
    oracle, _ = run("oracle")
    for m in evaluation.MODES:
        assert oracle["redirection"][m]["gaze_error_deg"] < 0.05
        assert oracle["redirection"][m]["head_error_deg"] < 0.05
        assert oracle["redirection"][m]["psnr"] == pytest.approx(100.0)
    assert oracle["redirection"]["head"]["judged_gaze_shift_deg"] < 0.05
    leaky, rows = run("leaky", examples=5)
    assert leaky["redirection"]["head"]["judged_gaze_shift_deg"] == pytest.approx(math.degrees(0.2), abs=0.05)
    assert leaky["redirection"]["head"]["gaze_error_deg"] == pytest.approx(math.degrees(0.2), abs=0.05)
    assert leaky["redirection"]["gaze"]["judged_head_shift_deg"] < 0.05
    assert len(rows) == 2 and all(len(r) == 5 for r in rows)


def test_synthgaze_protocol_on_a_perfect_redirector_gives_exact_renders():
    synth = SynthGaze(size=32, seed=0)

    class Renderer:
        """Redirects by rendering the exact target: the protocol must report a perfect score."""

        image_size = 32

        def estimate(self, images):
            return np.zeros((len(images), 2), np.float32), np.zeros((len(images), 2), np.float32)

        def redirect(self, images, target_gaze=None, target_head=None, source_gaze=None, source_head=None):
            rows = [int(np.flatnonzero((self.batch["image_a"] == im).all((1, 2, 3)))[0]) for im in images]
            part = {k: v[rows] for k, v in self.batch.items()}
            return reference_fn(part, "both", target_gaze if target_gaze is not None else source_gaze,
                                target_head if target_head is not None else source_head)["image"]

    renderer = Renderer()
    batches, reference_fn = evaluation.synthgaze_batches(synth, "test", num_persons=2, pairs_per_person=2, seed=3)
    seen = []

    def tracking():
        for b in batches:
            renderer.batch = b
            seen.append(b)
            yield b

    result, _ = evaluation.evaluate_pairs(renderer, tracking(), reference_fn=reference_fn)
    assert result["pairs"] == 4 and "judge_floor" not in result and result["redirection"]["both"]["pairs"] == 4
    for m in evaluation.MODES:
        r = result["redirection"][m]
        assert r["psnr"] == pytest.approx(100.0) and r["eye_psnr"] == pytest.approx(100.0) == r["rest_psnr"]
        assert r["iris_error_px"] == pytest.approx(0.0, abs=1e-9)
    # the unredirected source's irises are off wherever the gaze changed, and its pixels too
    assert result["redirection"]["gaze"]["source_iris_error_px"] > 0.3
    for m in evaluation.MODES:
        want = {"psnr": [], "ssim": []}
        for b in seen:
            way = evaluation.way_targets(m, b["gaze_a"], b["head_a"], b["gaze_b"], b["head_b"])
            sel = way["excluded"] == ""
            part = {k: v[sel] for k, v in b.items()}
            ref = reference_fn(part, m, way["want_gaze"][sel], way["want_head"][sel])["image"]
            for key, value in metrics.pixel_metrics(part["image_a"], ref).items():
                want.get(key, []).extend(value)
        r = result["redirection"][m]
        assert r["source_psnr"] == pytest.approx(np.mean(want["psnr"]), rel=1e-6) and r["source_psnr"] < 60.0
        assert r["source_ssim"] == pytest.approx(np.mean(want["ssim"]), rel=1e-6) and r["source_ssim"] < 1.0
    b = seen[0]
    assert len(set(b["person"])) == 2
    gaze, head = synth.labels(b["person"], b["index_a"])
    np.testing.assert_allclose(gaze, b["gaze_a"], atol=1e-6)
    assert np.all(np.any(b["gaze_a"] != b["gaze_b"], axis=1))  # a and b are different samples


def hand_built_pairs():
    """Three pairs of three persons at zero pitch, where yaws add: (gaze_a, head_a, gaze_b, head_b)."""
    f = lambda *rows: np.array([(0.0, y) for y in rows], np.float32)  # noqa: E731
    gaze_a, head_a = f(0.0, 0.5, 0.1), f(0.0, 0.0, 0.2)
    gaze_b, head_b = f(0.2, 0.1, 0.6), f(0.1, -0.3, 0.3)
    return {"image_a": encode(gaze_a, head_a), "gaze_a": gaze_a, "head_a": head_a, "image_b": encode(gaze_b, head_b),
            "gaze_b": gaze_b, "head_b": head_b, "person": np.array([0, 1, 2])}


def test_per_way_targets_on_hand_built_pairs():
    b = hand_built_pairs()
    way = lambda m: evaluation.way_targets(m, b["gaze_a"], b["head_a"], b["gaze_b"], b["head_b"])  # noqa: E731
    # gaze only: b's eye rotation in the head (gaze - head yaw: 0.1, 0.4, 0.3) under a's head (0, 0, 0.2)
    gaze = way("gaze")
    np.testing.assert_allclose(gaze["target_gaze"][:, 1], [0.1, 0.4, 0.5], atol=1e-6)
    np.testing.assert_allclose(gaze["want_head"], b["head_a"])
    assert gaze["target_head"] is None and list(gaze["excluded"]) == ["", "", ""]
    # head only: a's gaze under b's head turns the eyes by gaze_a - head_b = -0.1, 0.8 (46 deg > 35), -0.2
    head = way("head")
    assert list(head["excluded"]) == ["", "eyes_beyond_range_in_head", ""]
    np.testing.assert_allclose(head["target_head"], b["head_b"])
    np.testing.assert_allclose(head["want_gaze"], b["gaze_a"])
    # both: b's labels on every pair
    both = way("both")
    assert list(both["excluded"]) == ["", "", ""]
    np.testing.assert_allclose(both["target_gaze"], b["gaze_b"])
    # a transferred gaze beyond the label range (50 deg yaw) is excluded from the gaze way only
    far = evaluation.way_targets("gaze", b["gaze_a"], b["head_a"] + [0, 0.6], b["gaze_b"], b["head_b"])
    # eye yaws 0.1, 0.4, 0.3 under head yaws 0.6, 0.6, 0.8: 0.7, 1.0 and 1.1 rad against 0.87
    assert list(far["excluded"]) == ["", "gaze_beyond_label_range", "gaze_beyond_label_range"]
    # "any" asks for b's labels on every way and pair
    anything = evaluation.way_targets("gaze", b["gaze_a"], b["head_a"], b["gaze_b"], b["head_b"], "any")
    np.testing.assert_allclose(anything["target_gaze"], b["gaze_b"])
    assert not any(anything["excluded"])
    with pytest.raises(ValueError, match="targets"):
        evaluation.way_targets("gaze", b["gaze_a"], b["head_a"], b["gaze_b"], b["head_b"], "plausible")


def test_each_way_counts_its_pairs_exclusions_and_requested_change():
    result, rows = run("identity", examples=3, targets="per_way", batches=[hand_built_pairs()])
    ways = result["redirection"]
    assert result["pairs"] == 3 and ways["both"]["pairs"] == 3 and ways["both"]["excluded_fraction"] == 0
    assert ways["gaze"]["pairs"] == 3
    assert ways["head"]["pairs"] == 2 and ways["head"]["excluded"] == {"eyes_beyond_range_in_head": 1}
    assert ways["head"]["excluded_fraction"] == pytest.approx(1 / 3)
    deg = math.degrees
    # requested changes over the pairs each way used: gaze |0.1 - 0|, |0.4 - 0.5|, |0.5 - 0.1|
    assert ways["gaze"]["requested_gaze_change_deg"] == pytest.approx(deg(0.6 / 3), abs=0.01)
    assert ways["head"]["requested_head_change_deg"] == pytest.approx(deg((0.1 + 0.1) / 2), abs=0.01)
    # the identity redirector's error is the requested change; the references are read exactly
    assert ways["gaze"]["gaze_error_deg"] == pytest.approx(ways["gaze"]["requested_gaze_change_deg"], abs=0.05)
    assert ways["gaze"]["gaze_error_minus_floor_deg"] == pytest.approx(ways["gaze"]["gaze_error_deg"], abs=0.05)
    # bins of requested change: gaze way 5.7, 5.7 and 22.9 deg
    bins = ways["gaze"]["by_change"]["gaze"]
    assert [bins[k].get("n", 0) for k in evaluation.bin_labels()] == [2, 0, 1, 0]
    assert bins["20-30"]["gaze_error_deg"] == pytest.approx(deg(0.4), abs=0.05)
    assert set(ways["both"]["by_change"]) == {"gaze", "head"} and set(ways["gaze"]["by_change"]) == {"gaze"}
    lo, hi = ways["gaze"]["ci95"]["gaze_error_deg"]
    assert lo <= ways["gaze"]["gaze_error_deg"] <= hi and hi - lo > 1.0
    # the example of the excluded head-way pair is grey
    assert len(rows) == 3 and np.all(rows[1][2] == 128) and not np.all(rows[2][2] == 128)
    table = evaluation.format_table(dict(result, data="fake"))
    assert "head: 2 of 3 pairs (33% excluded: 1 a's gaze under b's head" in table
    assert "by requested change: 0-10 5.73 (n=2), 20-30 22.92 (n=1)" in table
    markdown = evaluation.format_markdown(result).splitlines()
    assert len(markdown) == 5 and all(line.count("|") == 13 for line in markdown)
    assert markdown[3].startswith("| head | 2 (33%) | 5.7 head |")


def test_synthgaze_both_way_uses_every_drawn_pair_and_filters_keep_what_they_claim():
    from tfredirect import geometry
    from tfredirect.data.synthgaze import EYE_IN_HEAD_RANGE, GAZE_RANGE

    synth = SynthGaze(size=32, seed=0)
    batches, reference_fn = evaluation.synthgaze_batches(synth, "test", 8, 8, seed=1, batch_size=64)
    b = next(batches)
    assert len(b["gaze_a"]) == 64 and np.all(np.any(b["gaze_a"] != b["gaze_b"], axis=1))
    gaze = evaluation.way_targets("gaze", b["gaze_a"], b["head_a"], b["gaze_b"], b["head_b"])
    kept = gaze["excluded"] == ""
    # the gaze way keeps b's eye rotation in the head, under a's head, inside the label range
    np.testing.assert_allclose(geometry.eye_in_head(gaze["target_gaze"][kept], b["head_a"][kept]),
                               geometry.eye_in_head(b["gaze_b"][kept], b["head_b"][kept]), atol=1e-5)
    assert np.all(np.abs(gaze["target_gaze"][kept]) <= np.array(GAZE_RANGE) + 1e-5)
    assert np.all(np.abs(gaze["target_gaze"][~kept]).max(1) > 0)
    assert kept.mean() > 0.6
    head = evaluation.way_targets("head", b["gaze_a"], b["head_a"], b["gaze_b"], b["head_b"])
    ok = geometry.within_eye_range(b["gaze_a"], b["head_b"], EYE_IN_HEAD_RANGE)
    np.testing.assert_array_equal(head["excluded"] == "", ok)
    assert 0.2 < ok.mean() < 0.8  # the head way alone drops what a face cannot show

    class Copy:
        image_size = 32

        def estimate(self, images):
            return np.zeros((len(images), 2), np.float32), np.zeros((len(images), 2), np.float32)

        def redirect(self, images, **kw):
            return images

    batches, reference_fn = evaluation.synthgaze_batches(synth, "test", 8, 8, seed=1, batch_size=64)
    result, _ = evaluation.evaluate_pairs(Copy(), batches, reference_fn=reference_fn)
    ways = result["redirection"]
    assert ways["both"]["pairs"] == 64 and ways["both"]["excluded"] == {}
    assert ways["gaze"]["pairs"] == int(kept.sum()) and ways["head"]["pairs"] == int(ok.sum())
    # pixel metrics of each way over exactly its pairs: returning the source scores the source's PSNR
    for m in evaluation.MODES:
        assert ways[m]["psnr"] == pytest.approx(ways[m]["source_psnr"], rel=1e-9)


def test_person_bootstrap_resamples_persons_not_pairs():
    rng = np.random.default_rng(0)
    same = evaluation.person_bootstrap_ci(np.ones(10), np.arange(10) % 3, rng)
    assert same == (1.0, 1.0)
    # one person with 9 pairs of 0, one with 1 pair of 1: resampling persons gives means 0, 0.1 or 1
    lo, hi = evaluation.person_bootstrap_ci(np.r_[np.zeros(9), 1.0], np.r_[np.zeros(9), 1], rng)
    assert lo == 0.0 and hi == 1.0
    values = rng.normal(5.0, 1.0, 400)
    lo, hi = evaluation.person_bootstrap_ci(values, np.arange(400) // 4, rng)
    assert lo < values.mean() < hi and 0.1 < hi - lo < 0.4  # about 2 * 1.96 / sqrt(400)


def test_the_judge_reads_the_references_as_each_ways_floor():
    result, _ = run("identity")
    for m in evaluation.MODES:  # references drawn with the requested labels: a perfect reading
        assert result["redirection"][m]["reference_gaze_error_deg"] < 0.05
    assert result["redirection"]["head"]["reference_judged_gaze_shift_deg"] < 0.05
    # a's and b's labels differ by yaw 0.1 and 0.3 (gaze), 0.2 and 0.2 (head)
    assert result["requested_change"]["gaze_change_deg"] == pytest.approx(math.degrees(0.2), abs=0.05)
    assert result["requested_change"]["head_change_deg"] == pytest.approx(math.degrees(0.2), abs=0.05)
    table = evaluation.format_table(dict(result, data="fake"))
    assert "ref gaze" in table and "(its floor)" in table and "drawn pairs differ by (mean): gaze 11.5" in table


def test_empty_data_is_an_error():
    with pytest.raises(ValueError, match="no pairs"):
        evaluation.evaluate_pairs(FakeRedirector("identity"), [])


def test_progress_counts_the_pairs_in_plain_lines():
    import io

    from tfredirect.progress import Progress

    stream = io.StringIO()
    with Progress(4, "judging pairs", "pairs", verbose=2, stream=stream, every_s=0.0) as progress:
        evaluation.evaluate_pairs(FakeRedirector("oracle"), [batch(), batch()], judge=decode, progress=progress,
                                  targets="any")
    lines = stream.getvalue().splitlines()
    assert progress.count == 4 and "\r" not in stream.getvalue()
    assert lines[0].startswith("judging pairs: 2/4 pairs") and lines[-1].startswith("judging pairs: 4/4 pairs")


def test_report_is_json_and_examples_and_never_replaced_without_overwrite(tmp_path):
    import json

    import cv2

    result, rows = run("oracle", examples=2)
    out = str(tmp_path / "eval.json")
    written = evaluation.write_report(out, result, rows)
    assert written == [out, str(tmp_path / "eval.png")]
    assert json.load(open(out))["pairs"] == 2
    assert cv2.imread(written[1]).shape == (2 * (2 * 10 - 2), 2 * (5 * 10 - 2), 3)  # 2 rows x 5 of 8 px, gap 2, x2
    with pytest.raises(FileExistsError, match="--overwrite"):
        evaluation.write_report(out, result, rows)
    result["pairs"] = 7
    evaluation.write_report(out, result, rows, overwrite=True)
    assert json.load(open(out))["pairs"] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval.json", "eval.png"]  # no temporary files left
    nested = tmp_path / "new" / "folder" / "eval.json"  # a folder that does not exist yet is made
    assert evaluation.write_report(str(nested), result, [])[0] == str(nested) and nested.exists()
