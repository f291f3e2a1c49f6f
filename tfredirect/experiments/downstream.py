"""The downstream experiment (tools/downstream.py): does augmentation help a gaze estimator?

A GazeHeadEstimator is trained on a *narrow* subset (training persons, |gaze pitch| and
|gaze yaw| below `max_gaze_deg`) with and without redirected copies of that subset that
spread it over the full label range, and every arm is tested on held-out persons at full
range. The arms (ARMS; adding one is an `Arm` with a function naming its training data):

- "narrow": the narrow subset alone;
- "augmented": the subset plus `per_image` redirected copies of every sample (tfredirect.
  augmentation.augment) made by the experiment's generator: by default a redirector the
  experiment trains itself on the narrow subset alone (<out_dir>/redirector, the
  `redirector_preset` recipe shortened to `redirector_steps`), which is what a user who has
  only a narrow dataset can do; with `model` a given generator instead, which may have seen
  more than the subset;
- "augmented_full_generator" (with `upper_bound_model`, the upper bound): the subset plus the
  same targets' copies made by a generator trained apart on the full range (e.g. the shipped
  synthgaze-64, SynthGaze seed 0 training persons over the whole gaze/head range): it
  distils that generator's knowledge, which a narrow-data user does not have;
- "gated" (with a judge): the subset plus the augmented arm's copies that pass the quality
  gate (augmentation.gate: an independent estimator reads gaze and head off every copy; a copy
  whose larger judged error exceeds `max_judged_error_deg` is dropped);
- "random_kept" (with a judge, the gate's control): the subset plus as many of the augmented
  arm's copies as the gate kept, drawn at random (seeded) - fewer copies, not judged ones;
- "full" (optional, the upper bound): as many real samples as the subset, at full range.

The gate's judge must be independent of what the experiment trains and of how it measures:
it is an estimator trained beforehand on its own data (tools/train_estimator.py, like
runs/judge: full-range SynthGaze training persons, seed 0), never one of the arms'
estimators, which are all trained fresh here; the arms are tested against the test persons'
true labels, not the judge. With a judge, the augmented arm's copies are judged too (stored,
not gated), so results.json reports the judged errors of all copies and of the kept ones.
The gated copies are the augmented copies minus the dropped ones (the targets depend only on
the seed, the sample and the copy), so the two arms differ only by the gate.

All arms train the same estimator for the same steps, batch size, learning rate and seed.
Errors are reported overall and per bin of the true test gaze max(|pitch|, |yaw|) (the
quantity the narrow filter bounds, so the first bin is the subset's own range). The
project's acceptance threshold: the augmented arm's full-range gaze error is at least
TARGET_REDUCTION lower than the narrow arm's.

The redirector trained here sees the narrow file as --data=sted (tools/train.py's person
split holds about a tenth of its persons out for validation; its auto consistency estimator
trains on the same file), so no full-range label reaches it.

SynthGaze mode renders the subset (and the full-range arm) to ST-ED h5 files and tests on
SynthGaze test persons; real-data mode (`data` sted/xgaze/folder) takes the subset from the
training persons of `tfredirect.training.data.split_index` and tests on its held-out
persons, reading pixels through the index (experiments/subsets.py).

Targets ("targets"): "kde" (default) draws joint (gaze, head) pairs from a kernel density
over *full-range reference labels* - SynthGaze's own label distribution (labels of training
persons, no pixels) or, for real data, the labels of all training persons - so every target
is a gaze/head combination a face can make; "uniform" draws gaze and head independently
and uniformly within the label ranges (augmentation.TargetSampler), which also yields
eye-in-head rotations far outside any face's range.
"""

import dataclasses
import os
import shutil
import time
from typing import Callable

import numpy as np

from tfredirect import fileio, visualize
from tfredirect.experiments import subsets
from tfredirect.experiments.configs import DownstreamConfig  # noqa: F401  (the experiment's settings)
from tfredirect.progress import Progress

TARGET_REDUCTION = 0.60  # acceptance: augmented vs narrow full-range gaze error, relative


# ---------------------------------------------------------------------------- targets
def make_sampler(cfg, ref_gaze, ref_head):
    """The augmentation.TargetSampler of the config; "kde" targets come from a kernel density
    over the full-range reference labels, not over the narrow subset's own."""
    from tfredirect.augmentation import TargetSampler

    kde = cfg.targets == "kde"
    return TargetSampler(kind=cfg.target_kind, mode=cfg.targets, gaze_range_deg=cfg.gaze_range_deg,
                         head_range_deg=cfg.head_range_deg, bandwidth_deg=cfg.bandwidth_deg, seed=cfg.seed,
                         max_eye_in_head_deg=cfg.max_eye_in_head_deg,
                         reference_gaze=ref_gaze if kde else None, reference_head=ref_head if kde else None)


# ---------------------------------------------------------------------------- generators
REDIRECTOR_DIR = "redirector"  # where the experiment trains its own redirector, in out_dir
UPPER_BOUND = "augmented_full_generator"  # the arm of the upper-bound generator


def redirector_config(cfg, data_path):
    """The TrainConfig of the redirector trained on the narrow subset (written at `data_path`
    as an ST-ED file): the `redirector_preset` recipe compressed to `redirector_steps`, its
    adversarial schedule and auto estimator steps scaled by the same factor (demo at 1,500
    steps: the adversarial term from step 750 over 500 steps, a 1,250-step estimator), in
    <out_dir>/redirector with the experiment's seed."""
    from tfredirect.config import TrainConfig

    recipe = TrainConfig.from_preset(cfg.redirector_preset)
    steps = cfg.redirector_steps
    scale = lambda v: int(round(v * steps / recipe.steps))
    every = recipe.checkpoint_every if steps % recipe.checkpoint_every == 0 else steps
    return recipe.replace(out_dir=os.path.join(cfg.out_dir, REDIRECTOR_DIR), data="sted", data_path=data_path,
                          steps=steps, checkpoint_every=every, seed=cfg.seed, overwrite=True,
                          verbose=2 if cfg.verbose else 0,
                          gan={"start": scale(recipe.gan.start), "warmup": scale(recipe.gan.warmup)},
                          consistency_estimator_steps=max(1, scale(recipe.consistency_estimator_steps)))


def train_redirector(tcfg, log=print):
    """Train the redirector of `tcfg` (redirector_config) and summarize the run for
    results.json: what it trained on (file, samples, gaze extent) and how long it took."""
    from tfredirect.data import sources
    from tfredirect.training.loop import train

    data = sources.build_index("sted", tcfg.data_path)
    log(f"training the redirector on the narrow subset only ({len(data)} samples in {tcfg.data_path}; "
        f"{tcfg.steps} steps, recipe {tcfg.preset}) in {tcfg.out_dir}")
    start = time.perf_counter()
    summary = train(tcfg)
    seconds = time.perf_counter() - start
    model = summary["outputs"]["redirector.keras"]
    log(f"trained the redirector in {seconds:.0f} s -> {model}")
    return {"source": "trained on the narrow subset", "model": model, "data_path": tcfg.data_path,
            "samples": len(data), "gaze_extent_deg": subsets.extent_summary(data.gaze), "steps": summary["step"],
            "seconds": round(seconds, 1), "train_pairs_per_second": summary["train_pairs_per_second"],
            "consistency_estimator_steps": tcfg.consistency_estimator_steps, "data": summary["data"],
            "config": tcfg.to_dict()}


def upper_bound_summary(model):
    """What the upper-bound generator is, for results.json; for a shipped name also what it was
    trained on (its card)."""
    from tfredirect import pretrained

    out = {"model": model, "role": "upper bound: a generator trained apart on the full gaze/head range "
                                   "(distillation, not what a narrow-data user can do)"}
    if model in pretrained.names():
        card = pretrained.card(model)
        train_cfg = card.get("train_config", {})
        out.update(trained_on=card.get("train_summary", {}).get("data", card.get("trained_on")),
                   steps=train_cfg.get("steps"), synthgaze_seed=train_cfg.get("seed"))
    return out


# ---------------------------------------------------------------------------- arms
@dataclasses.dataclass(frozen=True)
class Arm:
    """One estimator of the experiment: `data(context)` gives the SampleIndex list it trains
    on, or None when the arm does not run with this config; `generator` names the Context
    generator ("main" or "upper_bound") whose copies it uses, "" for none."""

    name: str
    data: Callable
    generator: str = ""


ARMS = (
    Arm("narrow", lambda ctx: [ctx.exp.narrow]),
    Arm("augmented", lambda ctx: [ctx.exp.narrow, ctx.copies()], "main"),
    Arm("gated", lambda ctx: None if ctx.judge is None else [ctx.exp.narrow, ctx.gated()], "main"),
    Arm("random_kept", lambda ctx: None if ctx.judge is None else [ctx.exp.narrow, ctx.random_kept()], "main"),
    Arm(UPPER_BOUND, lambda ctx: None if "upper_bound" not in ctx.backends else
        [ctx.exp.narrow, ctx.augmented(UPPER_BOUND, generator="upper_bound")], "upper_bound"),
    Arm("full", lambda ctx: None if ctx.exp.full is None else [ctx.exp.full]),
)


class Context:
    """What the arms draw on: the config, the experiment's data, the generators (`backends`:
    "main" and optionally "upper_bound", with a label each for the table) and the gate's
    judge (an augmentation.Judge, or None); makes each augmented set once, on first use, as
    <out_dir>/<name>.h5."""

    def __init__(self, cfg, exp, backends, labels, log=print, judge=None):
        self.cfg, self.exp, self.backends, self.labels, self.log, self.judge = cfg, exp, backends, labels, log, judge
        self.sampler = make_sampler(cfg, exp.ref_gaze, exp.ref_head)
        # name -> {"index", "path", "generator", "generated", "images", "dropped", "seconds", "gaze_extent_deg",
        # "judged"}
        self.augmentations = {}

    def augmented(self, name, generator="main", **options):
        """The SampleIndex of `per_image` redirected copies of the narrow subset made by the
        generator `generator`, written to <out_dir>/<name>.h5 by augmentation.augment (extra
        `options` are passed to it). The targets depend only on the seed, the sample and the
        copy, so every generator gets the same ones."""
        if name in self.augmentations:
            return self.augmentations[name]["index"]
        from tfredirect import augmentation
        from tfredirect.data import sources

        cfg = self.cfg
        path = os.path.join(cfg.out_dir, f"{name}.h5")
        start = time.perf_counter()
        with Progress(len(self.exp.narrow) * cfg.per_image, f"redirecting for '{name}'", "images",
                      cfg.verbose) as progress:

            def advance(done_sources, total_sources):
                progress.update(done_sources * cfg.per_image - progress.count)

            info = augmentation.augment(self.exp.narrow, self.backends[generator], path, cfg.per_image, self.sampler,
                                        layout="sted", progress=advance, **options)
        if not info.get("complete", True):
            raise RuntimeError(f"augmentation stopped early: {info}")
        seconds = time.perf_counter() - start
        generated, dropped = len(self.exp.narrow) * cfg.per_image, int(info.get("dropped", 0))
        threshold = options.get("max_judged_error_deg")
        if generated == dropped:
            raise ValueError(f"the quality gate dropped all {generated} copies for '{name}' (no judged error <= "
                             f"{threshold:g} deg); raise --max_judged_error_deg")
        index = sources.build_index("sted", path)
        gated = "" if threshold is None else f", {dropped} dropped by the gate (judged error > {threshold:g} deg)"
        self.log(f"{name}: {len(index)} redirected copies by the {self.labels[generator]} generator "
                 f"({cfg.per_image} per narrow sample, {cfg.targets} targets, kind {cfg.target_kind}{gated}) in "
                 f"{seconds:.0f} s -> {path}")
        self.augmentations[name] = {"index": index, "path": path, "generator": self.labels[generator],
                                    "generated": generated, "images": len(index),
                                    "dropped": dropped, "seconds": round(seconds, 1),
                                    "gaze_extent_deg": subsets.extent_summary(index.gaze),
                                    "judged": judged_summary(path, cfg.max_judged_error_deg)}
        if threshold is not None:
            self.augmentations[name]["max_judged_error_deg"] = float(threshold)
        return index

    def copies(self):
        """The augmented arm's copies (judged, not gated, when there is a judge)."""
        return self.augmented("augmented", judge=self.judge)

    def gated(self):
        """The copies the quality gate keeps (the same targets as copies(), minus the dropped)."""
        return self.augmented("gated", judge=self.judge, max_judged_error_deg=self.cfg.max_judged_error_deg)

    def random_kept(self):
        """As many of copies() as gated() holds, drawn at random with the seed: the control that
        separates what the gate picks from how many copies it leaves."""
        pool, count = self.copies(), len(self.gated())
        ids = np.sort(np.random.default_rng(self.cfg.seed).choice(len(pool), count, replace=False))
        return subsets.subset_index(pool, ids, f"{count} random copies of {pool.description}")


def judged_errors(path):
    """(gaze, head) judged errors (deg) of every copy in an augmented ST-ED h5 file, in its
    stored order; None when it was written without a judge."""
    import h5py

    from tfredirect.augmentation import JUDGED

    with h5py.File(path, "r") as f:
        if not all(k in f[name] for name in f for k in JUDGED):
            return None
        return tuple(np.concatenate([f[name][k][()] for name in f]).astype(np.float64) for k in JUDGED)


def judged_summary(path, threshold_deg):
    """Means and medians of the judged errors stored in `path`, and the fraction of copies whose
    larger error is within `threshold_deg` (what the gate would keep); None without a judge."""
    errors = judged_errors(path)
    if errors is None:
        return None
    gaze, head = errors
    worst = np.maximum(gaze, head)
    return {"copies": int(len(gaze)), "gaze_mean_deg": float(gaze.mean()), "gaze_median_deg": float(np.median(gaze)),
            "head_mean_deg": float(head.mean()), "head_median_deg": float(np.median(head)),
            "threshold_deg": float(threshold_deg), "fraction_within_threshold": float(np.mean(worst <= threshold_deg))}


def sample_stream(index, size, seed):
    """Endless shuffled sample records (unbatched) of an index."""
    from tfredirect.data import pairs

    return pairs.sample_dataset(index, size, shuffle=True, seed=seed, infinite=True)


def mixed_batches(parts, size, batch_size, seed):
    """Endless batches drawing from several indices in proportion to their sizes."""
    import tensorflow as tf

    streams = [sample_stream(p, size, seed + i) for i, p in enumerate(parts)]
    if len(streams) == 1:
        ds = streams[0]
    else:
        weights = [len(p) / sum(len(q) for q in parts) for p in parts]
        ds = tf.data.Dataset.sample_from_datasets(streams, weights=weights, seed=seed)
    return ds.batch(batch_size, drop_remainder=True)


def bin_labels(bins_deg):
    edges = (0.0, *bins_deg)
    return [f"{lo:g}-{hi:g}" for lo, hi in zip(edges[:-1], edges[1:])] + [f"{bins_deg[-1]:g}+"]


def binned(errors, extent, bins_deg):
    """{bin label: {"n", "mean"}} of errors by true gaze extent (deg)."""
    which = np.digitize(extent, bins_deg)
    out = {}
    for b, label in enumerate(bin_labels(bins_deg)):
        sel = which == b
        out[label] = {"n": int(sel.sum()), "mean": float(errors[sel].mean()) if sel.any() else None}
    return out


def train_arm(cfg, name, parts, size, test, log=print):
    """Train the estimator of one arm in <out_dir>/<name>/ and test it; returns its results.

    Progress: Keras prints one line per 500 steps with the step time (verbose >= 1)."""
    from tfredirect.training.estimation import EstimatorConfig, load_estimator, per_sample_errors, train_estimator

    ecfg = EstimatorConfig(out_dir=os.path.join(cfg.out_dir, name), data="sted",
                           data_path=" + ".join(p.description for p in parts), size=size,
                           batch_size=cfg.batch_size, steps=cfg.steps, lr=cfg.lr, seed=cfg.seed, overwrite=True,
                           verbose=2 if cfg.verbose else 0)
    log(f"training the '{name}' estimator on {sum(len(p) for p in parts)} samples for {cfg.steps} steps")
    summary = train_estimator(ecfg, batches=mixed_batches(parts, size, cfg.batch_size, cfg.seed), eval_batches=test)
    g, h, truth = per_sample_errors(load_estimator(summary["model"]), test)
    extent = subsets.gaze_extent_deg(truth)
    result = {
        "train_samples": int(sum(len(p) for p in parts)),
        "gaze_error_deg": float(g.mean()),
        "head_error_deg": float(h.mean()),
        "gaze_error_by_bin": binned(g, extent, cfg.bins_deg),
        "head_error_by_bin": binned(h, extent, cfg.bins_deg),
        "seconds": summary["seconds"],
        "model": summary["model"],
    }
    log(f"  '{name}': gaze error {result['gaze_error_deg']:.2f} deg, head error {result['head_error_deg']:.2f} deg "
        f"({summary['seconds']:.0f} s, {cfg.steps / max(summary['seconds'], 1e-9):.1f} steps/s)")
    return result


# ---------------------------------------------------------------------------- outputs
def output_paths(out_dir):
    """Everything a run writes in out_dir (files, the trained redirector's folder, and per arm
    its folder and h5 file)."""
    names = ["results.json", "downstream.png", "examples.png", REDIRECTOR_DIR]
    for arm in ARMS:
        names += [arm.name, f"{arm.name}.h5", f"{arm.name}.h5.partial"]
    return [os.path.join(out_dir, n) for n in names]


def check_outputs(cfg):
    """Refuse to replace a previous run's results unless cfg.overwrite; with it, remove them."""
    existing = [p for p in output_paths(cfg.out_dir) if os.path.exists(p)]
    if existing and not cfg.overwrite:
        raise ValueError(f"{cfg.out_dir} holds a previous run ({', '.join(os.path.basename(p) for p in existing)}); "
                         "pass --overwrite to replace it")
    _remove(existing)


def _remove(paths):
    for p in paths:
        if os.path.isdir(p):
            shutil.rmtree(p)
        elif os.path.exists(p):
            os.remove(p)


def gate_summary(cfg, gated, arms):
    """What the quality gate did: copies generated, kept and dropped, and the gated arm's
    full-range gaze error against the ungated augmented arm's."""
    kept = arms["gated"]["gaze_error_deg"]
    return {"judge": cfg.judge, "max_judged_error_deg": cfg.max_judged_error_deg, "generated": gated["generated"],
            "kept": gated["images"], "dropped": gated["dropped"],
            "kept_fraction": gated["images"] / gated["generated"],
            "relative_change_vs_augmented": float(kept / arms["augmented"]["gaze_error_deg"] - 1.0),
            "relative_change_vs_random_kept": float(kept / arms["random_kept"]["gaze_error_deg"] - 1.0),
            "relative_reduction_vs_narrow": float(1.0 - kept / arms["narrow"]["gaze_error_deg"])}


def format_table(results):
    """A plain-text table of the arms' errors, the generator behind each augmented arm, and
    the relative reductions (the main generator's and the upper bound's)."""
    arms = results["arms"]
    labels = list(next(iter(arms.values()))["gaze_error_by_bin"])
    width = max(12, *(len(name) + 2 for name in arms))
    head = f"{'estimator':<{width}}{'train':>7}{'gaze all':>10}" + "".join(f"{'gaze ' + b:>12}" for b in labels)
    head += f"{'head all':>10}  generator"
    lines = [head]
    for name, r in arms.items():
        row = f"{name:<{width}}{r['train_samples']:>7}{r['gaze_error_deg']:>10.2f}"
        for b in labels:
            m = r["gaze_error_by_bin"][b]["mean"]
            row += f"{'-' if m is None else f'{m:.2f}':>12}"
        lines.append(row + f"{r['head_error_deg']:>10.2f}  {r.get('generator') or '-'}")
    counts = next(iter(arms.values()))["gaze_error_by_bin"]
    lines.append("test samples per bin (true max(|pitch|, |yaw|) of gaze, deg): "
                 + ", ".join(f"{b}: {counts[b]['n']}" for b in labels))
    red = results["relative_reduction"]
    lines.append(f"full-range gaze error, augmented ({arms['augmented']['generator']} generator) vs narrow: "
                 f"{arms['narrow']['gaze_error_deg']:.2f} -> {arms['augmented']['gaze_error_deg']:.2f} deg, "
                 f"{100 * red:.1f}% lower (target >= {100 * TARGET_REDUCTION:.0f}%: "
                 f"{'met' if results['target_met'] else 'missed'})")
    if UPPER_BOUND in arms:
        lines.append(f"upper bound, {UPPER_BOUND} ({arms[UPPER_BOUND]['generator']}) vs narrow: "
                     f"{arms['narrow']['gaze_error_deg']:.2f} -> {arms[UPPER_BOUND]['gaze_error_deg']:.2f} deg, "
                     f"{100 * results['upper_bound_relative_reduction']:.1f}% lower")
    gate = results.get("gate")
    if gate:
        lines.append(f"quality gate (judge {gate['judge']}, max judged error {gate['max_judged_error_deg']:g} deg): "
                     f"kept {gate['kept']} of {gate['generated']} copies, dropped {gate['dropped']}")
        gated = arms["gated"]["gaze_error_deg"]
        lines.append(f"full-range gaze error, gated vs augmented: {arms['augmented']['gaze_error_deg']:.2f} -> "
                     f"{gated:.2f} deg ({100 * gate['relative_change_vs_augmented']:+.1f}%); gated vs as many random "
                     f"copies: {arms['random_kept']['gaze_error_deg']:.2f} -> {gated:.2f} deg "
                     f"({100 * gate['relative_change_vs_random_kept']:+.1f}%)")
    return "\n".join(lines)


def chart_panels(results):
    """The two panels of downstream.png (gaze error, head error) per |gaze| bin and overall,
    one bar series per arm, for visualize.bar_charts."""
    arms = results["arms"]
    labels = list(next(iter(arms.values()))["gaze_error_by_bin"])
    panels = []
    for what in ("gaze", "head"):
        series = {name: [r[f"{what}_error_by_bin"][b]["mean"] for b in labels] + [r[f"{what}_error_deg"]]
                  for name, r in arms.items()}
        title = f"{what} error, held-out persons, full range"
        if what == "gaze":
            title += f"; augmented {-100 * results['relative_reduction']:+.0f}% vs narrow"
            if "upper_bound_relative_reduction" in results:
                title += f", upper bound {-100 * results['upper_bound_relative_reduction']:+.0f}%"
            if "gate" in results:
                title += f", gated {-100 * results['gate']['relative_reduction_vs_narrow']:+.0f}%"
        panels.append({"groups": labels + ["all"], "series": series, "title": title,
                       "ylabel": f"{what} error, deg", "xlabel": "true gaze max(|pitch|, |yaw|), deg"})
    return panels


def example_rows(narrow, augmented_path, size, count=6):
    """Rows of a narrow sample followed by its redirected copies (for examples.png)."""
    import h5py

    from tfredirect.data.index import resize_square

    copies = {}
    with h5py.File(augmented_path, "r") as f:
        for name in f:
            src = f[name]["source_index"][()]
            for s in np.unique(src)[:count]:
                rows = np.flatnonzero(src == s)
                copies[int(s)] = [f[name]["pixels"][int(r)] for r in rows]
    picked = sorted(copies)[:count]
    return [[narrow.read([s], size)[0], *[resize_square(c, size) for c in copies[s]]] for s in picked]


def run(cfg, log=print):
    """Run the experiment; writes results.json, downstream.png, examples.png, the h5 files,
    the trained redirector (without cfg.model) and one estimator folder per arm in
    cfg.out_dir. Returns the results dict; on failure, removes what it wrote. Every setting
    and given model is checked before anything is written."""
    start = time.perf_counter()
    from tfredirect.augmentation import load_backend

    backends = {}
    if cfg.model:
        backends["main"] = load_backend(cfg.model)
        size, where = backends["main"].image_size, cfg.model
    else:
        tcfg = redirector_config(cfg, os.path.join(cfg.out_dir, "narrow.h5"))
        size, where = tcfg.model_config().image_size, f"the {cfg.redirector_preset} recipe"
    if cfg.size and cfg.size != size:
        raise ValueError(f"{where}: the redirector takes {size}x{size} images, --size is {cfg.size}")
    if cfg.upper_bound_model:
        backends["upper_bound"] = load_backend(cfg.upper_bound_model)
        if backends["upper_bound"].image_size != size:
            raise ValueError(f"--upper_bound_model {cfg.upper_bound_model} takes {backends['upper_bound'].image_size}"
                             f"x{backends['upper_bound'].image_size} images, the experiment's are {size}x{size}")
    cfg = dataclasses.replace(cfg, size=size)
    judge = None
    if cfg.judge:
        from tfredirect.augmentation import load_judge

        judge = load_judge(cfg.judge)
    check_outputs(cfg)
    created = not os.path.isdir(cfg.out_dir)
    os.makedirs(cfg.out_dir, exist_ok=True)
    try:
        return _run(cfg, backends, judge, size, start, log)
    except BaseException:  # an error or an interrupt leaves no partial results behind
        _remove(output_paths(cfg.out_dir))
        if created and not os.listdir(cfg.out_dir):
            os.rmdir(cfg.out_dir)
        raise


def _run(cfg, backends, judge, size, start, log):
    """The body of run() once the outputs are checked."""
    from tfredirect.augmentation import load_backend

    exp = (subsets.synthgaze_experiment if cfg.data == "synthgaze" else subsets.real_experiment)(cfg, size, log)
    files = dict(exp.files)
    if cfg.model:
        generator = {"source": "given (it may have seen more than the narrow subset)", "model": cfg.model}
        labels = {"main": f"given {cfg.model}"}
    else:
        if "narrow" not in files:  # real data: the trainer reads the subset from a file
            files["narrow"] = os.path.join(cfg.out_dir, "narrow.h5")
            subsets.write_index_h5(files["narrow"], exp.narrow, size, cfg.verbose)
            log(f"wrote the {len(exp.narrow)} narrow samples for the redirector to {files['narrow']}")
        generator = train_redirector(redirector_config(cfg, files["narrow"]), log)
        backends = {**backends, "main": load_backend(generator["model"])}
        labels = {"main": "narrow-only (trained here)"}
    if cfg.upper_bound_model:
        labels["upper_bound"] = f"upper bound {cfg.upper_bound_model}"
    ctx = Context(cfg, exp, backends, labels, log, judge)
    arms = {}
    for arm in ARMS:
        parts = arm.data(ctx)
        if parts is not None:
            arms[arm.name] = {**train_arm(cfg, arm.name, parts, size, exp.test, log),
                              "generator": labels.get(arm.generator)}
    results = {
        "description": exp.description,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(cfg).items()},
        "image_size": size,
        "narrow_gaze_extent_deg": subsets.extent_summary(exp.narrow.gaze),
        "generator": generator,
        "augmentation": {name: {k: v for k, v in a.items() if k != "index"} for name, a in ctx.augmentations.items()},
        "arms": arms,
    }
    narrow_err = arms["narrow"]["gaze_error_deg"]
    results["relative_reduction"] = float(1.0 - arms["augmented"]["gaze_error_deg"] / narrow_err)
    results["target_met"] = bool(results["relative_reduction"] >= TARGET_REDUCTION)
    if UPPER_BOUND in arms:
        results["upper_bound"] = upper_bound_summary(cfg.upper_bound_model)
        results["upper_bound_relative_reduction"] = float(1.0 - arms[UPPER_BOUND]["gaze_error_deg"] / narrow_err)
    if "gated" in arms:
        results["gate"] = gate_summary(cfg, ctx.augmentations["gated"], arms)
    results["seconds"] = round(time.perf_counter() - start, 1)
    paths = {"results": os.path.join(cfg.out_dir, "results.json"), "plot": os.path.join(cfg.out_dir, "downstream.png"),
             "examples": os.path.join(cfg.out_dir, "examples.png")}
    visualize.write_png(paths["plot"], visualize.bar_charts(chart_panels(results)))
    visualize.write_png(paths["examples"], visualize.tile(
        example_rows(exp.narrow, ctx.augmentations["augmented"]["path"], size)), scale=2)
    results["files"] = {**files, **{name: a["path"] for name, a in ctx.augmentations.items()}, **paths,
                        **({} if cfg.model else {"redirector": generator["model"]}),
                        **{f"{name}_estimator": r["model"] for name, r in arms.items()}}
    fileio.write_json_atomic(paths["results"], results)
    return results
