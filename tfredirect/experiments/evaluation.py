"""The redirection evaluation report (tools/evaluate.py): the field's protocol on pairs.

For same-person pairs (a, b), image a is redirected three ways: gaze only, head only, and
both. Reported per way:
- redirection errors: the angle (degrees) between what an independent judge (a
  GazeHeadEstimator that shares no weights with the redirector) reads on the redirected image
  and the labels it should show;
- disentanglement: how far the judged gaze moves when only the head is redirected, and the
  judged head when only the gaze is (measured against the judge's reading of the source, so
  the judge's own bias cancels);
- pixel metrics (L1 in [0, 1] units, PSNR, SSIM) against a reference: on SynthGaze the exact
  render of a's identity and nuisance at the target labels, for every way; on real data
  image b, for "both" only (it also differs in lighting and expression, so it is a loose bound);
  PSNR and SSIM of the unredirected source against the same reference give their scale
  (`source_psnr`, `source_ssim`: what doing nothing scores);
- on SynthGaze, judge-free eye metrics from the exact render's eye masks: PSNR over the eyes,
  the distance between the iris centroids of output and render (`metrics.eye_metrics`) beside
  the same distance for the unredirected source, and the PSNR outside the eyes (`rest_psnr`);
- the floor: the judge's error on each way's reference images (on SynthGaze the exact
  renders; on real data, where only "both" has one, the judge on the sources), and every
  judged error minus it, per pair;
- how many pairs the way used, how many it excluded and why, the mean requested change, the
  errors by bins of requested change (BINS_DEG) and 95% bootstrap intervals over persons.

Which targets (TARGETS), the same rules on SynthGaze and real data:
- "per_way" (default): "both" asks for b's gaze and head on every drawn pair (b is a face,
  so the request is one a face can show). The gaze-only way asks for b's eye rotation in
  the head under a's head (`geometry.transfer_gaze`), so it stays a face's whenever b's is;
  a pair is excluded from it only if that gaze leaves the label range. The head-only way
  asks for b's head with a's gaze kept; it excludes the pairs where that would turn the
  eyes beyond EYE_IN_HEAD_RANGE in the head (no face shows them: the judge reads even exact
  renders of such requests about 21 deg wrong). Each way filters only itself.
- "any": b's gaze for the gaze-only way and b's head for the head-only way on every pair,
  whatever eye rotation that asks for.
"""

import os

import numpy as np

from tfredirect import fileio, geometry, metrics, visualize
from tfredirect.progress import Progress

MODES = ("gaze", "head", "both")
TARGETS = ("per_way", "any")
CHANGED = {"gaze": ("gaze",), "head": ("head",), "both": ("gaze", "head")}  # what each way changes
BINS_DEG = (10.0, 20.0, 30.0)  # edges of the requested-change bins: 0-10, 10-20, 20-30, 30+
BOOTSTRAP_DRAWS = 1000
EXAMPLE_COLUMNS = "source | gaze only | head only | both | reference (grey: the way excluded the pair)"
EXCLUSIONS = {
    "gaze_beyond_label_range": "the transferred gaze leaves the label range",
    "eyes_beyond_range_in_head": "a's gaze under b's head turns the eyes beyond their range in the head",
}


def _limits():
    from tfredirect.data.synthgaze import EYE_IN_HEAD_RANGE, GAZE_RANGE

    return GAZE_RANGE, EYE_IN_HEAD_RANGE


def way_targets(mode, gaze_a, head_a, gaze_b, head_b, targets="per_way"):
    """One way's request for each pair: a dict of `target_gaze`, `target_head` (what to pass
    the redirector; None keeps the attribute), `want_gaze`, `want_head` (the labels the result
    should show) and `excluded` (per pair, "" or a key of EXCLUSIONS)."""
    if targets not in TARGETS:
        raise ValueError(f"targets must be one of {TARGETS}, got {targets!r}")
    gaze_a, head_a, gaze_b, head_b = (np.asarray(v, np.float32) for v in (gaze_a, head_a, gaze_b, head_b))
    excluded = np.full(len(gaze_a), "", dtype=object)
    gaze_range, eye_range = _limits()
    if mode == "both":
        return dict(target_gaze=gaze_b, target_head=head_b, want_gaze=gaze_b, want_head=head_b, excluded=excluded)
    if mode == "gaze":
        gaze = gaze_b
        if targets == "per_way":
            gaze = np.asarray(geometry.transfer_gaze(gaze_b, head_b, head_a), np.float32)
            outside = (np.abs(gaze) > np.asarray(gaze_range) + 1e-5).any(axis=1)
            excluded[outside] = "gaze_beyond_label_range"
        return dict(target_gaze=gaze, target_head=None, want_gaze=gaze, want_head=head_a, excluded=excluded)
    if mode == "head":
        if targets == "per_way":
            excluded[~geometry.within_eye_range(gaze_a, head_b, eye_range)] = "eyes_beyond_range_in_head"
        return dict(target_gaze=None, target_head=head_b, want_gaze=gaze_a, want_head=head_b, excluded=excluded)
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def person_bootstrap_ci(values, persons, rng, draws=BOOTSTRAP_DRAWS, level=0.95):
    """(low, high) of the mean of per-pair `values` over `draws` resamples of the persons
    (with replacement, each bringing all its pairs): pairs of one person are not independent."""
    values = np.asarray(values, np.float64)
    ids, which = np.unique(np.asarray(persons), return_inverse=True)
    sums = np.bincount(which, weights=values, minlength=len(ids))
    counts = np.bincount(which, minlength=len(ids)).astype(np.float64)
    pick = rng.integers(0, len(ids), (draws, len(ids)))
    means = sums[pick].sum(1) / counts[pick].sum(1)
    tail = 100 * (1 - level) / 2
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def bin_label(lo, hi=None):
    return f"{lo:g}+" if hi is None else f"{lo:g}-{hi:g}"


def bin_labels(bins_deg=BINS_DEG):
    edges = (0.0, *bins_deg)
    return [bin_label(lo, hi) for lo, hi in zip(edges[:-1], edges[1:])] + [bin_label(bins_deg[-1])]


class _Accumulator:
    """Per-pair values by key, each with its pair's person and requested changes."""

    def __init__(self):
        self.values = {}

    def add(self, key, values, persons, changes=None):
        """Add per-pair values; NaN marks a pair the metric does not apply to. `changes`:
        {"gaze": deg, "head": deg} requested per pair, for the bins."""
        values = np.asarray(values, np.float64).reshape(-1)
        keep = ~np.isnan(values)
        if keep.any():
            changes = {k: np.asarray(v, np.float64)[keep] for k, v in (changes or {}).items()}
            self.values.setdefault(key, []).append((values[keep], np.asarray(persons)[keep], changes))

    def arrays(self, key):
        parts = self.values[key]
        changes = {k: np.concatenate([p[2][k] for p in parts]) for k in parts[0][2]}
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), changes

    def keys(self, prefix):
        return [k[len(prefix):] for k in self.values if k.startswith(prefix)]

    def means(self, prefix=""):
        return {k: float(np.mean(self.arrays(prefix + k)[0])) for k in self.keys(prefix)}


def _way_summary(acc, mode, drawn, excluded, rng):
    """The report of one way: means, counts, exclusions, floors, bins and intervals."""
    prefix = f"{mode}/"
    out = acc.means(prefix)
    used = drawn - sum(excluded.values())
    out.update(pairs=used, drawn_pairs=drawn, excluded_fraction=(drawn - used) / drawn,
               excluded={k: v for k, v in excluded.items() if v})
    if not used:
        return out
    out["ci95"] = {k: person_bootstrap_ci(*acc.arrays(prefix + k)[:2], rng) for k in acc.keys(prefix)}
    out["by_change"] = {}
    for attribute in CHANGED[mode]:
        bins = {}
        edges = (0.0, *BINS_DEG, np.inf)
        for lo, hi in zip(edges[:-1], edges[1:]):
            cell = {}
            for key in acc.keys(prefix):
                values, _, changes = acc.arrays(prefix + key)
                sel = (changes[attribute] >= lo) & (changes[attribute] < hi)
                if sel.any():
                    cell[key] = float(values[sel].mean())
                    cell["n"] = max(cell.get("n", 0), int(sel.sum()))
            bins[bin_label(lo, None if np.isinf(hi) else hi)] = cell
        out["by_change"][attribute] = bins
    return out


def _add_judged(acc, prefix, mode, judged, want_g, want_h, judged_src, persons, changes):
    """Add the judged errors of one way's images against the labels they should show, and
    the judged shift of the attribute the way keeps (from the judge's reading of the sources)."""
    got_g, got_h = judged
    add = lambda key, values: acc.add(prefix + key, values, persons, changes)  # noqa: E731
    add("gaze_error_deg", metrics.angular_error_deg(got_g, want_g))
    add("head_error_deg", metrics.angular_error_deg(got_h, want_h))
    if mode == "gaze":
        add("judged_head_shift_deg", metrics.angular_error_deg(got_h, judged_src[1]))
    if mode == "head":
        add("judged_gaze_shift_deg", metrics.angular_error_deg(got_g, judged_src[0]))


def _floor_differences(acc, mode, judge_floor):
    """Per pair, each judged error minus the same reading on the way's reference (its floor);
    without references, minus the judge's mean error on the sources."""
    for key in ("gaze_error_deg", "head_error_deg", "judged_gaze_shift_deg", "judged_head_shift_deg"):
        if f"{mode}/{key}" not in acc.values:
            continue
        values, persons, changes = acc.arrays(f"{mode}/{key}")
        ref = f"{mode}/reference_{key}"
        if ref in acc.values:
            floor = acc.arrays(ref)[0]
        elif key.endswith("_error_deg") and judge_floor is not None:
            floor = judge_floor[key]
        else:
            continue
        acc.add(f"{mode}/{key[:-4]}_minus_floor_deg", values - floor, persons, changes)


def _rows(batch, sel):
    return {k: v[sel] for k, v in batch.items()}


def evaluate_pairs(redirector, batches, judge=None, reference_fn=None, examples=0, progress=None,
                   targets="per_way", seed=0):
    """Run the protocol over pair batches (dicts with image_a, gaze_a, head_a, image_b,
    gaze_b, head_b, optionally person; uint8 images, radians).

    `redirector` has `redirect(images, target_gaze, target_head, source_gaze, source_head)`
    (uint8 in and out) and `estimate(images)`; `judge(images) -> (gaze, head)`;
    `reference_fn(batch, mode, gaze, head)` returns the reference images for a way (for the
    pairs of `batch`, which holds only that way's pairs), or a dict with them as "image" and
    their eye coverage masks (N, H, W) as "eye", or None; `targets` as `way_targets`; pairs
    without a "person" count as persons of their own in the bootstrap (seeded by `seed`);
    `progress.update(n)` is called with each batch's pair count.
    Returns (result dict, example rows: [source, gaze-only, head-only, both, reference]).
    """
    acc = _Accumulator()
    rows = []
    pairs = 0
    excluded = {m: dict.fromkeys(EXCLUSIONS, 0) for m in MODES}
    for batch in batches:
        batch = {k: np.asarray(v) for k, v in batch.items()}
        images, src_g, src_h = batch["image_a"], batch["gaze_a"], batch["head_a"]
        if "person" not in batch:
            batch["person"] = np.arange(pairs, pairs + len(images))
        persons = batch["person"]
        pairs += len(images)
        acc.add("request/gaze_change_deg", metrics.angular_error_deg(batch["gaze_b"], src_g), persons)
        acc.add("request/head_change_deg", metrics.angular_error_deg(batch["head_b"], src_h), persons)
        est_g, est_h = redirector.estimate(images)
        acc.add("aux/gaze_error_deg", metrics.angular_error_deg(est_g, src_g), persons)
        acc.add("aux/head_error_deg", metrics.angular_error_deg(est_h, src_h), persons)
        judged_src = None
        if judge is not None:
            judged_src = [np.asarray(v) for v in judge(images)]
            acc.add("judge/gaze_error_deg", metrics.angular_error_deg(judged_src[0], src_g), persons)
            acc.add("judge/head_error_deg", metrics.angular_error_deg(judged_src[1], src_h), persons)
        grey = np.full_like(images, 128)
        outputs = {}
        for mode in MODES:
            want = way_targets(mode, src_g, src_h, batch["gaze_b"], batch["head_b"], targets)
            for reason in EXCLUSIONS:
                excluded[mode][reason] += int(np.sum(want["excluded"] == reason))
            sel = want["excluded"] == ""
            outputs[mode] = grey.copy()
            if not sel.any():
                continue
            part = _rows(batch, sel)
            tg, th = (None if want[k] is None else want[k][sel] for k in ("target_gaze", "target_head"))
            want_g, want_h = want["want_gaze"][sel], want["want_head"][sel]
            changes = {"gaze": metrics.angular_error_deg(want_g, src_g[sel]),
                       "head": metrics.angular_error_deg(want_h, src_h[sel])}
            add = lambda key, values: acc.add(f"{mode}/{key}", values, persons[sel], changes)  # noqa: E731
            for attribute in CHANGED[mode]:
                add(f"requested_{attribute}_change_deg", changes[attribute])
            pred = np.asarray(redirector.redirect(images[sel], target_gaze=tg, target_head=th,
                                                  source_gaze=src_g[sel], source_head=src_h[sel]))
            outputs[mode][sel] = pred
            src_judged = None if judged_src is None else [v[sel] for v in judged_src]
            if judge is not None:
                _add_judged(acc, f"{mode}/", mode, judge(pred), want_g, want_h, src_judged, persons[sel], changes)
            reference = reference_fn(part, mode, want_g, want_h) if reference_fn else None
            eye = None
            if isinstance(reference, dict):
                reference, eye = reference["image"], reference.get("eye")
            if reference is not None:
                reference = np.asarray(reference)
                if mode == "both":
                    outputs["both_reference"] = grey.copy()
                    outputs["both_reference"][sel] = reference
                if judge is not None:  # what the judge reads on the images the way should give
                    _add_judged(acc, f"{mode}/reference_", mode, judge(reference), want_g, want_h, src_judged,
                                persons[sel], changes)
                for key, value in metrics.pixel_metrics(pred, reference).items():
                    add(key, value)
                doing_nothing = metrics.pixel_metrics(images[sel], reference)  # the scale of the above
                for key in ("psnr", "ssim"):
                    add(f"source_{key}", doing_nothing[key])
            if eye is not None:
                for key, value in metrics.eye_metrics(pred, reference, eye, source=images[sel]).items():
                    add(key, value)
        for i in range(min(examples - len(rows), len(images))):
            ref = outputs.get("both_reference", batch["image_b"])
            rows.append([images[i]] + [outputs[m][i] for m in MODES] + [ref[i]])
        if progress is not None:
            progress.update(len(images))
    if pairs == 0:
        raise ValueError("no pairs to evaluate")
    judge_floor = acc.means("judge/") if judge is not None else None
    for mode in MODES:
        _floor_differences(acc, mode, judge_floor)
    rng = np.random.default_rng(seed)
    result = {
        "pairs": pairs,
        "image_size": int(redirector.image_size),
        "targets": targets,
        "bins_deg": list(BINS_DEG),
        "redirection": {m: _way_summary(acc, m, pairs, excluded[m], rng) for m in MODES},
        "auxiliary": acc.means("aux/"),
        "requested_change": acc.means("request/"),
    }
    if judge_floor is not None:
        result["judge_floor"] = judge_floor
    return result, rows


def synthgaze_batches(synth, split="test", num_persons=32, pairs_per_person=4, seed=0, batch_size=64):
    """Pair batches of SynthGaze persons (a != b, same person, drawn uniformly) and a
    reference_fn giving the exact render of a's identity and nuisance at any labels."""
    persons = synth.persons(split)
    if num_persons > len(persons):
        raise ValueError(f"num_persons={num_persons} but split '{split}' has {len(persons)} persons")
    rng = np.random.default_rng(seed)
    pid = np.repeat(rng.choice(persons, num_persons, replace=False), pairs_per_person)
    src = rng.integers(0, synth.samples_per_person, len(pid))
    tgt = (src + rng.integers(1, synth.samples_per_person, len(pid))) % synth.samples_per_person

    def batches():
        for s in range(0, len(pid), batch_size):
            sl = slice(s, s + batch_size)
            image_a, gaze_a, head_a = synth.render_samples(pid[sl], src[sl])
            image_b, gaze_b, head_b = synth.render_samples(pid[sl], tgt[sl])
            yield {"image_a": image_a, "gaze_a": gaze_a, "head_a": head_a, "image_b": image_b,
                   "gaze_b": gaze_b, "head_b": head_b, "person": pid[sl], "index_a": src[sl]}

    def reference_fn(batch, mode, gaze, head):
        image, masks = synth.render_target(batch["person"], batch["index_a"], gaze=gaze, head=head, return_masks=True)
        return {"image": image, "eye": masks["eye"]}

    return batches(), reference_fn


def _progress(total, judge, verbose):
    return Progress(total, "judging pairs" if judge is not None else "evaluating pairs", "pairs", verbose)


def evaluate_synthgaze(redirector, synth, split="test", num_persons=32, pairs_per_person=4, seed=0, judge=None,
                       examples=0, verbose=0, targets="per_way"):
    """The protocol on SynthGaze persons of `split` with exact-render references; `verbose`
    as the tools' flag (progress of the pairs); `targets` as in `way_targets`."""
    if synth.size != redirector.image_size:
        raise ValueError(f"SynthGaze size {synth.size} does not match the model's {redirector.image_size}")
    batches, reference_fn = synthgaze_batches(synth, split, num_persons, pairs_per_person, seed)
    with _progress(num_persons * pairs_per_person, judge, verbose) as progress:
        result, rows = evaluate_pairs(redirector, batches, judge, reference_fn, examples, progress, targets, seed)
    result.update(data=f"SynthGaze {split} split, {num_persons} persons, {targets} targets")
    return result, rows


def real_batches(index, size, num_pairs=256, seed=0, batch_size=64):
    """Pair batches of a real dataset (SampleIndex): `num_pairs` sources drawn without
    replacement among the samples that have a partner, each with a random same-person partner
    (data.pairs.PairSampler), with their person ids."""
    from tfredirect.data.pairs import PairSampler

    sampler = PairSampler(index)
    rng = np.random.default_rng(seed)
    a = np.sort(rng.choice(sampler.eligible, min(num_pairs, len(sampler.eligible)), replace=False))
    b = sampler.partners(a, rng)
    for s in range(0, len(a), batch_size):
        ia, ib = a[s : s + batch_size], b[s : s + batch_size]
        yield {"image_a": index.read(ia, size), "gaze_a": index.gaze[ia], "head_a": index.head[ia],
               "image_b": index.read(ib, size), "gaze_b": index.gaze[ib], "head_b": index.head[ib],
               "person": index.person[ia]}


def evaluate_real(redirector, index, num_pairs=256, seed=0, judge=None, examples=0, batch_size=64, verbose=0,
                  targets="per_way"):
    """The protocol on same-person pairs of a real dataset (SampleIndex); image b is the
    reference for the "both" way."""
    from tfredirect.data.pairs import PairSampler

    total = min(num_pairs, len(PairSampler(index).eligible))

    def reference_fn(batch, mode, gaze, head):
        return batch["image_b"] if mode == "both" else None

    batches = real_batches(index, redirector.image_size, num_pairs, seed, batch_size)
    with _progress(total, judge, verbose) as progress:
        result, rows = evaluate_pairs(redirector, batches, judge, reference_fn, examples, progress, targets, seed)
    result.update(data=f"{index.description}, {targets} targets")
    return result, rows


def report_paths(out):
    """The files of a report: the JSON `out` and the examples PNG beside it."""
    return out, os.path.splitext(out)[0] + ".png"


def check_report(out, with_examples, overwrite=False):
    """Refuse (FileExistsError) a report whose files exist, unless `overwrite`; callers check
    before the work starts."""
    for path in report_paths(out)[: 2 if with_examples else 1]:
        fileio.refuse_existing(path, overwrite)


def write_report(out, result, rows, overwrite=False):
    """Write the result as JSON at `out` and the example rows (if any) as <out>.png, each
    atomically; existing files are refused unless `overwrite` (both are checked before either
    is written); a missing folder is made. Returns the paths written."""
    check_report(out, bool(rows), overwrite)
    json_path, png_path = report_paths(out)
    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    written = [fileio.write_json_atomic(json_path, result)]
    if rows:
        written.append(visualize.write_png(png_path, visualize.tile(rows), scale=2))
    return written


COLUMNS = [("gaze_error_deg", "gaze err", 9, 2), ("head_error_deg", "head err", 9, 2),
           ("judged_gaze_shift_deg", "gaze shift", 10, 2), ("judged_head_shift_deg", "head shift", 10, 2),
           ("reference_gaze_error_deg", "ref gaze", 8, 2), ("reference_head_error_deg", "ref head", 8, 2),
           ("l1", "L1", 7, 4), ("psnr", "PSNR dB", 8, 2), ("ssim", "SSIM", 7, 4),
           ("source_psnr", "src PSNR", 9, 2), ("source_ssim", "src SSIM", 9, 4),
           ("eye_psnr", "eye PSNR", 9, 2), ("iris_error_px", "iris px", 8, 2),
           ("source_iris_error_px", "src iris", 9, 2), ("rest_psnr", "rest PSNR", 10, 2)]


def _interval(m, key, digits=2):
    lo, hi = m.get("ci95", {}).get(key, (None, None))
    value = f"{m[key]:.{digits}f}"
    return value if lo is None else f"{value} [{lo:.{digits}f}, {hi:.{digits}f}]"


def format_table(result):
    """A plain-text table of an evaluation result: the means per way, then per way its pairs,
    exclusions, requested change, errors with 95% intervals, errors above the floor and by
    bins of requested change."""
    ways = result["redirection"]
    lines = [f"{result['data']}: {result['pairs']} pairs drawn, {result['image_size']}x{result['image_size']}"]
    present = [c for c in COLUMNS if any(c[0] in m for m in ways.values())]
    lines.append(f"{'redirect':9s}{'pairs':>6s}" + "".join(f"{title:>{w + 1}s}" for _, title, w, _ in present))
    for mode, m in ways.items():
        cells = [f"{m[key]:{w + 1}.{d}f}" if key in m else " " * (w - 1) + " -" for key, _, w, d in present]
        lines.append(f"{mode:9s}{m['pairs']:>6d}" + "".join(cells))
    if "judge_floor" in result:
        f = result["judge_floor"]
        lines.append(f"judge on the unredirected sources: gaze {f['gaze_error_deg']:.2f} deg, "
                     f"head {f['head_error_deg']:.2f} deg; ref gaze, ref head: the judge on each way's references "
                     "(its floor)")
    for mode, m in ways.items():
        why = "; ".join(f"{n} {EXCLUSIONS[k]}" for k, n in m["excluded"].items()) or "none"
        lines.append(f"{mode}: {m['pairs']} of {m['drawn_pairs']} pairs ({100 * m['excluded_fraction']:.0f}% "
                     f"excluded: {why})")
        if not m["pairs"]:
            continue
        asked = ", ".join(f"{a} {m[f'requested_{a}_change_deg']:.1f} deg" for a in CHANGED[mode])
        lines.append(f"  requested change (mean): {asked}")
        for attribute in CHANGED[mode]:
            key = f"{attribute}_error_deg"
            if key not in m:
                continue
            above = f"{attribute}_error_minus_floor_deg"
            text = f"  {attribute} error {_interval(m, key)} deg (95% interval over persons)"
            if above in m:
                text += f", above the floor {_interval(m, above)}"
            bins = m["by_change"][attribute]
            text += "; by requested change: " + ", ".join(
                f"{label} {cell[key]:.2f} (n={cell['n']})" for label, cell in bins.items() if key in cell)
            lines.append(text)
        for key in ("judged_gaze_shift_minus_floor_deg", "judged_head_shift_minus_floor_deg", "psnr"):
            if key in m:
                lines.append(f"  {key.replace('_', ' ')}: {_interval(m, key)}")
    c = result["requested_change"]
    lines.append(f"drawn pairs differ by (mean): gaze {c['gaze_change_deg']:.1f} deg, head {c['head_change_deg']:.1f} deg")
    a = result["auxiliary"]
    lines.append(f"redirector's auxiliary heads on the sources: gaze {a['gaze_error_deg']:.2f} deg, "
                 f"head {a['head_error_deg']:.2f} deg")
    return "\n".join(lines)


def format_markdown(result):
    """The per-way summary as a Markdown table (what the README and docs show): pairs used,
    requested change, judged errors with 95% intervals and above the floor, the moved
    attribute the way keeps, and the pixel metrics beside doing nothing."""

    def cell(m, key, digits=2, interval=False):
        if key not in m:
            return ""
        lo, hi = m.get("ci95", {}).get(key, (None, None))
        text = f"{m[key]:.{digits}f}"
        return f"{text} [{lo:.{digits}f}, {hi:.{digits}f}]" if interval and lo is not None else text

    lines = ["| way | pairs used (excluded) | requested change, deg | gaze error, deg [95%] | above floor | "
             "head error, deg [95%] | above floor | kept attribute moves, deg (above floor) | PSNR dB | SSIM | "
             "doing nothing: PSNR / SSIM | rest PSNR dB |", "|---" * 12 + "|"]
    for mode, m in result["redirection"].items():
        asked = " / ".join(cell(m, f"requested_{a}_change_deg", 1) + f" {a}" for a in CHANGED[mode]
                           if f"requested_{a}_change_deg" in m)
        kept = {"gaze": "judged_head_shift", "head": "judged_gaze_shift"}.get(mode)
        moves = ""
        if kept and f"{kept}_deg" in m:
            moves = f"{'head' if mode == 'gaze' else 'gaze'} {cell(m, f'{kept}_deg')}"
            if f"{kept}_minus_floor_deg" in m:
                moves += f" ({cell(m, f'{kept}_minus_floor_deg')})"
        nothing = f"{cell(m, 'source_psnr')} / {cell(m, 'source_ssim', 3)}" if "source_psnr" in m else ""
        lines.append(f"| {mode} | {m['pairs']} ({100 * m['excluded_fraction']:.0f}%) | {asked} | "
                     f"{cell(m, 'gaze_error_deg', interval=True)} | {cell(m, 'gaze_error_minus_floor_deg')} | "
                     f"{cell(m, 'head_error_deg', interval=True)} | {cell(m, 'head_error_minus_floor_deg')} | {moves} | "
                     f"{cell(m, 'psnr', interval=True)} | {cell(m, 'ssim', 3)} | {nothing} | {cell(m, 'rest_psnr')} |")
    return "\n".join(lines) + "\n"
