"""Train the independent gaze/head estimator (the judge of redirections, and the downstream
model of tools/downstream.py).

    python tools/train_estimator.py --out_dir=runs/estimator            # SynthGaze, 64x64
    python tools/train_estimator.py --data=sted --data_path=gc.h5 --size=128 --out_dir=runs/est_gc
"""

import os
import sys

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

from absl import app, flags, logging  # noqa: E402
from tfredirect import cli  # noqa: E402

F = flags.FLAGS
flags.DEFINE_enum("data", "synthgaze", ["synthgaze", "xgaze", "sted", "folder"], "Training data source.")
flags.DEFINE_string("data_path", "", "Real data: h5 file, folder or glob, or a CSV (folder).")
flags.DEFINE_integer("size", 64, "Image size (32, 64 or 128); match the redirector it will judge.")
flags.DEFINE_integer("batch_size", 32, "Batch size.", lower_bound=1)
flags.DEFINE_integer("steps", 2000, "Training steps.", lower_bound=1)
flags.DEFINE_float("lr", 1e-3, "Adam learning rate (cosine decay).")
flags.DEFINE_float("max_gaze_deg", 0.0, "SynthGaze: train only on samples with |gaze| below this (0 = all).")
flags.DEFINE_enum("appearance", "plain", ["plain", "textured"], "SynthGaze appearance; match the redirector's "
                  "training data (its --synth_appearance).")
flags.DEFINE_integer("seed", 0, "Seed (weights and data).")
flags.DEFINE_string("out_dir", "runs/estimator", "Output folder (estimator.keras, summary.json).")
flags.DEFINE_bool("overwrite", False, "Replace an existing estimator in --out_dir.")
flags.DEFINE_integer("verbose", 1, "0 silent, 1 progress bar, 2 one line per epoch.", lower_bound=0, upper_bound=2)
flags.register_validator("size", lambda v: v in (32, 64, 128), message="expected 32, 64 or 128")
flags.register_validator("lr", lambda v: v > 0, message="expected a positive learning rate")
flags.register_validator("max_gaze_deg", lambda v: 0 <= v < 90, message="expected 0 (all) or a limit in (0, 90) degrees")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    from tfredirect.training.estimation import EstimatorConfig, train_estimator

    try:
        cfg = EstimatorConfig(out_dir=F.out_dir, data=F.data, data_path=F.data_path, size=F.size,
                              batch_size=F.batch_size, steps=F.steps, lr=F.lr, seed=F.seed,
                              max_gaze_deg=F.max_gaze_deg, appearance=F.appearance, overwrite=F.overwrite, verbose=F.verbose)
        summary = train_estimator(cfg)
    except Exception as err:  # expected errors, and reader errors wrapped by tf.data
        return cli.error_exit("train_estimator.py", err)
    print(f"trained {summary['steps']} steps in {summary['seconds']} s on {summary['data']}")
    if "test_gaze_error_deg" in summary:
        print(f"SynthGaze test persons (full range): gaze error {summary['test_gaze_error_deg']:.2f} deg, "
              f"head error {summary['test_head_error_deg']:.2f} deg")
    print(f"wrote {summary['model']} and {os.path.join(F.out_dir, 'summary.json')}")
    return 0


if __name__ == "__main__":
    app.run(main)
