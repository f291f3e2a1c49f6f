"""Train the independent gaze/head estimator (the judge of redirections, and the downstream
model of tools/downstream.py).

    python tools/train_estimator.py --out_dir=runs/estimator            # SynthGaze, 64x64
    python tools/train_estimator.py --data=sted --data_path=gc.h5 --size=128 --out_dir=runs/est_gc

The flags are EstimatorConfig's fields (tfredirect.config, tfredirect.config_flags).
"""

import os
import sys

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

from absl import app, flags, logging  # noqa: E402
from tfredirect import cli, config_flags  # noqa: E402
from tfredirect.config import EstimatorConfig  # noqa: E402

F = flags.FLAGS
config_flags.define_flags(EstimatorConfig, F, module_name=sys.argv[0])  # listed by --helpshort


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    from tfredirect.training.estimation import train_estimator

    try:
        cfg = config_flags.config_from_flags(EstimatorConfig, F)
        summary = train_estimator(cfg)
    except Exception as err:  # expected errors, and reader errors wrapped by tf.data
        return cli.error_exit("train_estimator.py", err)
    print(f"trained {summary['steps']} steps in {summary['seconds']} s on {summary['data']}")
    if "test_gaze_error_deg" in summary:
        print(f"SynthGaze test persons (full range): gaze error {summary['test_gaze_error_deg']:.2f} deg, "
              f"head error {summary['test_head_error_deg']:.2f} deg")
    print(f"wrote {summary['model']} and {os.path.join(cfg.out_dir, 'summary.json')}")
    return 0


if __name__ == "__main__":
    app.run(main)
