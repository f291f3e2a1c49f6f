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
The experiment itself is tfredirect/experiments/downstream.py; the flags are DownstreamConfig's
fields (tfredirect/experiments/configs.py, tfredirect.config_flags).
"""

import sys

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

from absl import app, flags, logging  # noqa: E402
from tfredirect import cli, config_flags  # noqa: E402
from tfredirect.experiments.configs import DownstreamConfig  # noqa: E402

F = flags.FLAGS
config_flags.define_flags(DownstreamConfig, F, module_name=sys.argv[0])  # listed by --helpshort
flags.DEFINE_alias("checkpoint", "model")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    from tfredirect.experiments import downstream

    try:
        cfg = config_flags.config_from_flags(DownstreamConfig, F)
        results = downstream.run(cfg, log=(lambda msg: print(msg, flush=True)) if cfg.verbose else (lambda msg: None))
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
