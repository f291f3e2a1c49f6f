"""The ablation (benchmarks/ablation.py): train arms of a recipe at one budget and several
seeds, evaluate each with the protocol (experiments/evaluation.py, per-way targets) and one
judge, and tabulate the mean and spread over seeds.

An arm is a name and the TrainConfig fields it changes in the recipe (ARMS). Every arm of a
run shares the budget, the seeds, the judge and the frozen consistency estimator (trained
once, seed 1, on SynthGaze), so the arms differ only by their fields. A budget shorter than
the recipe's compresses its adversarial schedule in proportion (the adversarial term starts
at the same fraction of the run). Each cell (arm, seed) is a training run in
<out_dir>/<arm>-s<seed>/ with its eval.json; a rerun skips finished cells and resumes a
cell whose training was cut off, so the whole table survives being stopped.
"""

import dataclasses
import json
import math
import os
import time

import numpy as np

from tfredirect import fileio

ARMS = {
    "recipe": {},  # the recipe as it is
    "no_keep": {"loss": {"keep": 0.0}},
    "rgb": {"decoder": "rgb", "loss": {"keep": 0.0, "flow_smooth": 0.0}},
    "no_consistency": {"loss": {"consistency": 0.0, "feature": 0.0}, "consistency_estimator": ""},
    "cross": {"loss": {"cross": 200.0}},
}

# (way, key, column title, digits): what the table shows of each cell's evaluation
COLUMNS = (("gaze", "gaze_error_deg", "gaze err", 2), ("gaze", "gaze_error_minus_floor_deg", "above floor", 2),
           ("head", "head_error_deg", "head err", 2), ("head", "judged_gaze_shift_deg", "gaze moves", 2),
           ("gaze", "judged_head_shift_deg", "head moves", 2), ("both", "gaze_error_deg", "both gaze", 2),
           ("gaze", "psnr", "PSNR gaze", 2), ("gaze", "ssim", "SSIM gaze", 3), ("gaze", "rest_psnr", "rest PSNR", 2),
           ("head", "psnr", "PSNR head", 2))


@dataclasses.dataclass
class AblationConfig:
    out_dir: str
    arms: tuple = ("recipe", "no_keep")
    seeds: tuple = (0, 1)
    steps: int = 1000
    recipe: str = "demo"  # TRAIN_PRESETS name the arms change
    judge: str = ""  # independent estimator .keras; "" = train one (seed 0) in <out_dir>/judge
    judge_steps: int = 4000
    consistency_estimator: str = ""  # "" = train one (seed 1) in <out_dir>/consistency_estimator
    persons: int = 64  # SynthGaze test persons of the evaluation, 4 pairs each
    verbose: int = 1

    def __post_init__(self):
        self.arms, self.seeds = tuple(self.arms), tuple(int(s) for s in self.seeds)
        unknown = [a for a in self.arms if a not in ARMS]
        if unknown or not self.arms:
            raise ValueError(f"unknown arm(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(ARMS)}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {self.seeds}")
        if self.steps < 1 or self.judge_steps < 1 or self.persons < 1:
            raise ValueError("steps, judge_steps and persons must be positive")
        for path in (self.judge, self.consistency_estimator):
            if path and not os.path.isfile(path):
                raise ValueError(f"{path} is not a file (an estimator .keras from tools/train_estimator.py)")


def cell_dir(cfg, arm, seed):
    return os.path.join(cfg.out_dir, f"{arm}-s{seed}")


def train_config(cfg, arm, seed, estimator):
    """The TrainConfig of one cell: the recipe with the arm's fields, the budget and the seed;
    the recipe's adversarial schedule scaled to the budget."""
    from tfredirect.config import TRAIN_PRESETS, TrainConfig

    recipe = TRAIN_PRESETS[cfg.recipe]
    scale = cfg.steps / recipe["steps"]
    gan = {k: int(round(v * scale)) for k, v in recipe.get("gan", {}).items()}
    fields = {"steps": cfg.steps, "checkpoint_every": math.gcd(cfg.steps, 500), "seed": seed, "gan": gan,
              "out_dir": cell_dir(cfg, arm, seed), "verbose": 2 if cfg.verbose else 0}
    if recipe.get("consistency_estimator"):
        fields["consistency_estimator"] = estimator
    overrides = dict(ARMS[arm])
    out = TrainConfig.from_preset(cfg.recipe, **fields)
    return out.replace(**overrides) if overrides else out


def _estimator(path, out_dir, seed, steps, size, verbose, log):
    """`path`, or an estimator trained on SynthGaze with `seed` in `out_dir` (reused if there)."""
    from tfredirect.training.estimation import EstimatorConfig, train_estimator

    if path:
        return path
    model = os.path.join(out_dir, "estimator.keras")
    if not os.path.exists(model):
        log(f"training an estimator (seed {seed}, {steps} steps) in {out_dir}")
        train_estimator(EstimatorConfig(out_dir=out_dir, size=size, steps=steps, seed=seed, overwrite=True,
                                        verbose=2 if verbose else 0))
    return model


def run_cell(cfg, arm, seed, judge_path, estimator, log=print):
    """Train (or resume, or reuse) one cell and evaluate it; returns its eval.json dict."""
    from tfredirect.data.synthgaze import SynthGaze
    from tfredirect.experiments import evaluation
    from tfredirect.metrics import EstimatorJudge
    from tfredirect.serving.checkpoints import load_generator
    from tfredirect.training.loop import train

    out = cell_dir(cfg, arm, seed)
    eval_path = os.path.join(out, "eval.json")
    if os.path.exists(eval_path):
        log(f"{arm} seed {seed}: done before ({eval_path})")
        return json.load(open(eval_path))
    tcfg = train_config(cfg, arm, seed, estimator)
    summary_path = os.path.join(out, "summary.json")
    seconds = None
    if not os.path.exists(summary_path) or json.load(open(summary_path)).get("step") != cfg.steps:
        resume = os.path.isdir(os.path.join(out, "checkpoints"))
        log(f"{arm} seed {seed}: {'resuming' if resume else 'training'} {cfg.steps} steps in {out}")
        start = time.perf_counter()
        train(tcfg.replace(resume=resume, overwrite=not resume and os.path.isdir(out)))
        seconds = round(time.perf_counter() - start, 1)
    model = load_generator(os.path.join(out, "redirector.keras"))
    synth = SynthGaze(size=model.image_size, seed=0, nuisance=tcfg.synth_nuisance, appearance=tcfg.synth_appearance)
    result, _ = evaluation.evaluate_synthgaze(model, synth, "test", cfg.persons, 4, 0, EstimatorJudge.load(judge_path))
    result.update(arm=arm, seed=seed, steps=cfg.steps, fields=ARMS[arm], judge=judge_path,
                  train_seconds=seconds if seconds is not None else json.load(open(summary_path)).get("wall_seconds"))
    fileio.write_json_atomic(eval_path, result)
    log(f"{arm} seed {seed}: gaze err {result['redirection']['gaze']['gaze_error_deg']:.2f} deg, "
        f"PSNR gaze {result['redirection']['gaze'].get('psnr', float('nan')):.2f} dB -> {eval_path}")
    return result


def summarize(cfg, cells):
    """{arm: {column title: {"mean", "min", "max", "seeds"}}} over the seeds of each arm."""
    table = {}
    for arm in cfg.arms:
        rows = [cells[(arm, s)] for s in cfg.seeds if (arm, s) in cells]
        if not rows:
            continue
        table[arm] = {}
        for way, key, title, _ in COLUMNS:
            values = [r["redirection"][way][key] for r in rows if key in r["redirection"][way]]
            if values:
                table[arm][title] = {"mean": float(np.mean(values)), "min": float(min(values)),
                                     "max": float(max(values)), "seeds": len(values)}
    return table


def format_markdown(cfg, table, machine):
    """The table as Markdown: mean over seeds, and the spread (max - min) beside it."""
    titles = [c[2] for c in COLUMNS]
    digits = {c[2]: c[3] for c in COLUMNS}
    lines = [f"Ablation of the {cfg.recipe} recipe at {cfg.steps} steps, seeds {', '.join(map(str, cfg.seeds))}; "
             f"mean (spread max - min over seeds); {machine}", "",
             "| arm | seeds | " + " | ".join(titles) + " |", "|---|---|" + "---|" * len(titles)]
    for arm, row in table.items():
        seeds = max(c["seeds"] for c in row.values())
        cells = [f"{row[t]['mean']:.{digits[t]}f} ({row[t]['max'] - row[t]['min']:.{digits[t]}f})" if t in row else ""
                 for t in titles]
        lines.append(f"| {arm} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run(cfg, log=print):
    """Every cell of the ablation, then results.json and table.md in cfg.out_dir; returns
    {"table": summarize's table, "markdown": table.md's text, "files": the paths written}."""
    import platform

    from tfredirect.config import preset, TRAIN_PRESETS

    os.makedirs(cfg.out_dir, exist_ok=True)
    size = preset(TRAIN_PRESETS[cfg.recipe]["preset"]).image_size
    judge = _estimator(cfg.judge, os.path.join(cfg.out_dir, "judge"), 0, cfg.judge_steps, size, cfg.verbose, log)
    estimator = _estimator(cfg.consistency_estimator, os.path.join(cfg.out_dir, "consistency_estimator"), 1,
                           TRAIN_PRESETS[cfg.recipe].get("consistency_estimator_steps", 2500), size, cfg.verbose, log)
    cells = {}
    for seed in cfg.seeds:  # every arm at one seed first: a cut-off run still compares the arms
        for arm in cfg.arms:
            cells[(arm, seed)] = run_cell(cfg, arm, seed, judge, estimator, log)
    table = summarize(cfg, cells)
    machine = f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}"
    paths = {"results": os.path.join(cfg.out_dir, "results.json"), "table": os.path.join(cfg.out_dir, "table.md")}
    fileio.write_json_atomic(paths["results"], {"config": dataclasses.asdict(cfg), "machine": machine, "table": table,
                                                "cells": {f"{a}-s{s}": os.path.join(cell_dir(cfg, a, s), "eval.json")
                                                          for a, s in cells}})
    markdown = format_markdown(cfg, table, machine)
    fileio.write_text_atomic(paths["table"], markdown)
    return {"table": table, "markdown": markdown, "files": paths}
