"""Does augmentation help a gaze estimator? Train it on a narrow-gaze subset with and without
redirected copies spread over the full range, and test both on held-out persons.

    python tools/downstream.py --upper_bound_model=synthgaze-64 --out_dir=runs/downstream
    python tools/downstream.py --model=export/redirector_float32.tflite --data=sted \\
        --data_path=MPIIFaceGaze.h5 --max_gaze_deg=10 --out_dir=runs/downstream_mpii

SynthGaze (default): --samples training-person samples with |gaze pitch| and |gaze yaw|
below --max_gaze_deg are rendered to narrow.h5. As a user with only that narrow dataset
would, the experiment then trains its own redirector on narrow.h5 alone (<out_dir>/redirector:
the --redirector_preset recipe compressed to --redirector_steps, about 12 minutes on 2 CPU
cores by default); --model=X uses a given generator instead (labelled "given": it may have
seen more than the subset). The generator writes --per_image copies of each narrow sample to
augmented.h5 (targets: a joint kernel density over full-range labels, or uniform within the
label ranges); estimators "narrow" (subset alone), "augmented" (subset + copies) and, with
--with_full, "full" (as many full-range samples) train for the same steps and are tested on
SynthGaze test persons at full range. --upper_bound_model=synthgaze-64 adds the arm
"augmented_full_generator": the same targets' copies made by a generator trained on the full
range (the shipped one saw SynthGaze seed 0 training persons), labelled as the upper bound.
Real data (--data, --data_path): the subset comes from the training persons (written to
narrow.h5 when the redirector is trained here), the test from the held-out persons
(tools/train.py's split).

Quality gate (--judge, an estimator trained apart from this experiment, e.g. runs/judge/
estimator.keras from `tools/train_estimator.py --seed=0`): every copy is judged; the arm
"gated" trains on the subset plus the copies whose larger judged gaze/head error is at most
--max_judged_error_deg, and its control "random_kept" on as many copies drawn at random;
results.json's "gate" counts the kept and dropped copies.

Writes results.json, downstream.png (errors per true-gaze bin), examples.png (a narrow
sample, then its copies), the h5 files and <arm>/estimator.keras in --out_dir; prints a table.
With --verbose 1 or 2, rendering and redirecting report progress on stderr (a bar on a
terminal, plain lines in a log) and each estimator a line per 500 steps with the step time.
The experiment itself is tfredirect/experiments/downstream.py.
"""

import os
import sys

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

from absl import app, flags, logging  # noqa: E402
from tfredirect import cli  # noqa: E402
from tfredirect.config import TRAIN_PRESETS  # noqa: E402

F = flags.FLAGS
flags.DEFINE_string("model", "", "A given redirector for the augmented arms: a .keras, a tools/train.py run "
                    "directory or checkpoint prefix, a shipped name (synthgaze-64), or a .tflite (tools/export.py); "
                    "empty: train one on the narrow subset alone in <out_dir>/redirector.")
flags.DEFINE_alias("checkpoint", "model")
flags.DEFINE_enum("redirector_preset", "demo", sorted(TRAIN_PRESETS), "Without --model: the recipe of the "
                  "redirector trained on the narrow subset (compressed to --redirector_steps).")
flags.DEFINE_integer("redirector_steps", 1500, "Without --model: training steps of that redirector (the recipe's "
                     "adversarial schedule and auto estimator steps scale with them).", lower_bound=1)
flags.DEFINE_string("upper_bound_model", "", "A generator trained on the full range (e.g. synthgaze-64): adds the "
                    "arm 'augmented_full_generator', the upper bound (distillation, not what a narrow-data user can "
                    "do).")
flags.DEFINE_enum("data", "synthgaze", ["synthgaze", "xgaze", "sted", "folder"], "Data source.")
flags.DEFINE_string("data_path", "", "Real data: h5 file, folder or glob, or a CSV (folder).")
flags.DEFINE_integer("size", 0, "Image size; 0 = the redirector's.", lower_bound=0)
flags.DEFINE_integer("samples", 4000, "Narrow subset size (real data: at most this many).", lower_bound=1)
flags.DEFINE_float("max_gaze_deg", 10.0, "The subset keeps samples with |gaze pitch| and |gaze yaw| below this.")
flags.DEFINE_integer("per_image", 2, "Redirected copies per subset sample.", lower_bound=1)
flags.DEFINE_enum("targets", "kde", ["kde", "uniform"],
                  "kde: joint (gaze, head) from a kernel density over full-range labels (SynthGaze's label "
                  "distribution, or all training persons' labels); uniform: independent, within the ranges.")
flags.DEFINE_enum("target_kind", "both", ["gaze", "head", "both", "random", "mixed"],
                  "What each copy redirects: gaze, head, both, random (gaze or head) or mixed.")
cli.define_target_flags()
flags.DEFINE_integer("steps", 2000, "Estimator training steps (every arm).", lower_bound=1)
flags.DEFINE_integer("batch_size", 32, "Estimator batch size.", lower_bound=1)
flags.DEFINE_float("lr", 1e-3, "Estimator Adam learning rate (cosine decay).")
flags.DEFINE_integer("seed", 0, "Seed (SynthGaze dataset, subset, targets, estimator weights and data order).")
flags.DEFINE_integer("test_samples", 1024, "Full-range samples of held-out persons to test on.", lower_bound=1)
flags.DEFINE_list("bins_deg", ["10", "20", "30"], "Bin edges of the true test gaze max(|pitch|, |yaw|) (deg).")
flags.DEFINE_bool("with_full", False, "Also train on as many full-range real samples (the upper bound).")
flags.DEFINE_string("judge", "", "Quality gate: an independent estimator .keras (tools/train_estimator.py, e.g. "
                    "runs/judge/estimator.keras) judges every copy; adds the arm 'gated' (the copies it keeps).")
flags.DEFINE_float("max_judged_error_deg", 10.0, "Quality gate: keep copies whose larger judged gaze/head error is "
                   "at most this (deg).")
flags.DEFINE_string("out_dir", "runs/downstream", "Output folder.")
flags.DEFINE_bool("overwrite", False, "Replace a previous run's results in --out_dir.")
flags.DEFINE_integer("verbose", 1, "0 silent, 1 progress (a bar on a terminal), 2 progress lines only.",
                     lower_bound=0, upper_bound=2)
flags.register_validator("max_gaze_deg", lambda v: 0 < v < 90, message="expected a limit in (0, 90) degrees")
flags.register_validator("lr", lambda v: v > 0, message="expected a positive learning rate")
flags.register_validator("max_judged_error_deg", lambda v: 0 <= v < float("inf"),
                         message="expected a finite angle >= 0 degrees")


def _floats(name):
    try:
        return tuple(float(v) for v in getattr(F, name))
    except ValueError as err:
        raise ValueError(f"--{name}: expected numbers, got {getattr(F, name)}") from err


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    from tfredirect.experiments import downstream

    try:
        cfg = downstream.DownstreamConfig(
            out_dir=F.out_dir, model=F.model, redirector_preset=F.redirector_preset,
            redirector_steps=F.redirector_steps, upper_bound_model=F.upper_bound_model, data=F.data, data_path=F.data_path, size=F.size,
            samples=F.samples, max_gaze_deg=F.max_gaze_deg, per_image=F.per_image, targets=F.targets,
            target_kind=F.target_kind, gaze_range_deg=cli.parse_range(F.gaze_range_deg, "gaze_range_deg"),
            head_range_deg=cli.parse_range(F.head_range_deg, "head_range_deg"), bandwidth_deg=F.bandwidth_deg,
            max_eye_in_head_deg=F.max_eye_in_head_deg, steps=F.steps,
            batch_size=F.batch_size, lr=F.lr, seed=F.seed, test_samples=F.test_samples, with_full=F.with_full,
            bins_deg=_floats("bins_deg"), judge=F.judge, max_judged_error_deg=F.max_judged_error_deg,
            overwrite=F.overwrite, verbose=F.verbose)
        results = downstream.run(cfg, log=(lambda msg: print(msg, flush=True)) if F.verbose else (lambda msg: None))
    except Exception as err:  # expected errors, and reader errors wrapped by tf.data
        return cli.error_exit("downstream.py", err)
    print(downstream.format_table(results))
    print(f"total {results['seconds']:.0f} s")
    files = results["files"]
    if "redirector" in files:
        gen = results["generator"]
        print(f"redirector trained on the {gen['samples']} narrow samples of {gen['data_path']} "
              f"({gen['steps']} steps, {gen['seconds']:.0f} s) -> {files['redirector']}")
    print(f"wrote {files['results']}, {files['plot']} (errors per bin) and {files['examples']} "
          "(narrow sample | its redirected copies)")
    print("data: " + ", ".join(files[k] for k in ("narrow", "full", *results["augmentation"]) if k in files)
          + "; estimators: " + ", ".join(r["model"] for r in results["arms"].values()))
    return 0


if __name__ == "__main__":
    app.run(main)
