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


def run(kind, examples=0):
    reference = lambda b, mode, g, h: encode(g, h)  # noqa: E731
    return evaluation.evaluate_pairs(FakeRedirector(kind), [batch()], judge=decode, reference_fn=reference,
                                     examples=examples)


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
            return self.reference(target_gaze if target_gaze is not None else source_gaze,
                                  target_head if target_head is not None else source_head)

    renderer = Renderer()
    batches, reference_fn = evaluation.synthgaze_batches(synth, "test", num_persons=2, pairs_per_person=2, seed=3)
    seen = []

    def tracking():
        for b in batches:
            renderer.reference = lambda g, h, b=b: reference_fn(b, "both", g, h)["image"]
            seen.append(b)
            yield b

    result, _ = evaluation.evaluate_pairs(renderer, tracking(), reference_fn=reference_fn)
    assert result["pairs"] == 4 and "judge_floor" not in result
    for m in evaluation.MODES:
        r = result["redirection"][m]
        assert r["psnr"] == pytest.approx(100.0) and r["eye_psnr"] == pytest.approx(100.0) == r["rest_psnr"]
        assert r["iris_error_px"] == pytest.approx(0.0, abs=1e-9)
    # the unredirected source's irises are off wherever the gaze changed, and its pixels too
    assert result["redirection"]["gaze"]["source_iris_error_px"] > 0.3
    for m in evaluation.MODES:
        want = {"psnr": [], "ssim": []}
        for b in seen:
            _, _, want_g, want_h = evaluation.mode_targets(m, b["gaze_a"], b["head_a"], b["gaze_b"], b["head_b"])
            for key, value in metrics.pixel_metrics(b["image_a"], reference_fn(b, m, want_g, want_h)["image"]).items():
                want.get(key, []).extend(value)
        r = result["redirection"][m]
        assert r["source_psnr"] == pytest.approx(np.mean(want["psnr"]), rel=1e-6) and r["source_psnr"] < 60.0
        assert r["source_ssim"] == pytest.approx(np.mean(want["ssim"]), rel=1e-6) and r["source_ssim"] < 1.0
    b = seen[0]
    assert len(set(b["person"])) == 2
    gaze, head = synth.labels(b["person"], b["index_a"])
    np.testing.assert_allclose(gaze, b["gaze_a"], atol=1e-6)
    assert np.all(np.any(b["gaze_a"] != b["gaze_b"], axis=1))  # a and b are different samples


def test_plausible_targets_keep_every_way_within_the_eye_range():
    from tfredirect import geometry
    from tfredirect.data.synthgaze import EYE_IN_HEAD_RANGE

    synth = SynthGaze(size=32, seed=0)

    def labels(targets):
        batches, _ = evaluation.synthgaze_batches(synth, "test", 8, 8, seed=1, batch_size=64, targets=targets)
        b = next(batches)
        return b, [geometry.within_eye_range(b["gaze_b"], b["head_a"], EYE_IN_HEAD_RANGE),
                   geometry.within_eye_range(b["gaze_a"], b["head_b"], EYE_IN_HEAD_RANGE)]

    plausible, ok = labels("plausible")
    assert len(plausible["gaze_a"]) == 64 and all(o.all() for o in ok)
    assert np.all(np.any(plausible["gaze_a"] != plausible["gaze_b"], axis=1))
    anything, ok_any = labels("any")
    assert 0.2 < np.mean(ok_any[0] & ok_any[1]) < 0.8  # without the draw, many ways ask the impossible
    # same persons; only the implausible pairs are drawn again
    np.testing.assert_array_equal(plausible["person"], anything["person"])
    kept = ok_any[0] & ok_any[1]
    for key in ("index_a", "gaze_b"):
        np.testing.assert_array_equal(plausible[key][kept], anything[key][kept])
    with pytest.raises(ValueError, match="targets"):
        evaluation.synthgaze_batches(synth, targets="all")


def test_the_judge_reads_the_references_as_each_ways_floor():
    result, _ = run("identity")
    for m in evaluation.MODES:  # references drawn with the requested labels: a perfect reading
        assert result["redirection"][m]["reference_gaze_error_deg"] < 0.05
    assert result["redirection"]["head"]["reference_judged_gaze_shift_deg"] < 0.05
    # a's and b's labels differ by yaw 0.1 and 0.3 (gaze), 0.2 and 0.2 (head)
    assert result["requested_change"]["gaze_change_deg"] == pytest.approx(math.degrees(0.2), abs=0.05)
    assert result["requested_change"]["head_change_deg"] == pytest.approx(math.degrees(0.2), abs=0.05)
    table = evaluation.format_table(dict(result, data="fake"))
    assert "ref gaze" in table and "floor of each way" in table and "requested changes (mean): gaze 11.5" in table


def test_empty_data_is_an_error():
    with pytest.raises(ValueError, match="no pairs"):
        evaluation.evaluate_pairs(FakeRedirector("identity"), [])


def test_progress_counts_the_pairs_in_plain_lines():
    import io

    from tfredirect.progress import Progress

    stream = io.StringIO()
    with Progress(4, "judging pairs", "pairs", verbose=2, stream=stream, every_s=0.0) as progress:
        evaluation.evaluate_pairs(FakeRedirector("oracle"), [batch(), batch()], judge=decode, progress=progress)
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
