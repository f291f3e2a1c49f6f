"""Train the redirection GAN (claims 5-7) on SynthGaze or a real dataset.

    python tools/train.py --flagfile=tools/flags/demo.flags
    python tools/train.py --preset=tiny --steps=20 --out_dir=runs/try    # a recipe, then overrides
    python tools/train.py --flagfile=tools/flags/demo.flags --resume      # continue a run
    python tools/train.py --config_json=runs/demo/config.json --out_dir=runs/again   # repeat a run

Ctrl-C stops a run (exit 130; continue it with --resume); `kill -USR1 <pid>` prints every
thread's Python stack to stderr without stopping it (for a run that seems stuck).

The flags are TrainConfig's fields (tfredirect.config, tfredirect.config_flags): --preset picks
a whole recipe, every other flag given overrides it.
"""

import faulthandler
import os
import signal
import sys

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

from absl import app, flags, logging  # noqa: E402

from tfredirect import cli, config_flags  # noqa: E402

F = flags.FLAGS
config_flags.define_train_flags(F, module_name=sys.argv[0])  # listed by --helpshort


def main(argv):
    del argv
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>`: every thread's stack on stderr
    logging.set_verbosity(logging.WARNING)
    import tensorflow as tf

    from tfredirect.training.loop import train

    tf.get_logger().setLevel("ERROR")
    cfg = None
    try:
        cfg = config_flags.train_config(F)
        summary = train(cfg)
    except KeyboardInterrupt:
        if cfg is None:
            return 130
        print(f"\ntrain.py: interrupted; continue from the last checkpoint in {cfg.out_dir} with --resume "
              "(same flags)", file=sys.stderr)
        return 130
    except Exception as err:  # expected errors, and reader errors wrapped by tf.data
        return cli.error_exit("train.py", err)
    if "outputs" not in summary:  # a non-chief worker: the chief writes and reports the run
        print(f"\nworker done at step {summary['step']}; the chief wrote the outputs in {cfg.out_dir}")
        return 0
    print(f"\nTrained {summary['preset']} from step {summary['start_step']} to {summary['step']} "
          f"in {summary['wall_seconds']} s on {summary['data']}")
    if summary["train_pairs_per_second"] is None:
        print("throughput: not measured (the run is shorter than the timing window)")
    else:
        print(f"throughput: {summary['train_pairs_per_second']} pairs/s = {summary['train_images_per_second']} images/s, "
              f"{summary['achieved_gflop_per_second']} GFLOP/s = {100 * summary['fraction_of_matmul_rate']:.1f}% "
              f"of the measured {summary['matmul_dtype']} matmul rate ({summary['matmul_gflop_per_second']} GFLOP/s)")
    metrics = summary["final_metrics"]
    print("final metrics: " + ", ".join(f"{k}={v:.4g}" if v is not None else f"{k}=nan" for k, v in sorted(metrics.items())))
    print("wrote:")
    for name, path in summary["outputs"].items():
        print(f"  {name:18s} {path}")
    print(f"  {'checkpoints/':18s} {os.path.join(summary['outputs']['summary.json'].rsplit('/', 1)[0], 'checkpoints')}")
    print(f"  {'logs/':18s} tensorboard --logdir {os.path.join(os.path.dirname(summary['outputs']['summary.json']), 'logs')}")
    return 0


if __name__ == "__main__":
    app.run(main)
