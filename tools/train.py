"""Train the redirection GAN (claims 5-7) on SynthGaze or a real dataset.

    python tools/train.py --flagfile=tools/flags/demo.flags
    python tools/train.py --flagfile=tools/flags/demo.flags --resume   # continue a run
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfredirect.config import PRESETS, LossConfig  # noqa: E402
from tfredirect.data.index import tool_error_message  # noqa: E402
from tfredirect.training.loop import STRATEGIES, TrainConfig, train  # noqa: E402

F = flags.FLAGS
flags.DEFINE_enum("preset", "demo", sorted(PRESETS), "Model size: tiny (32px), demo (64px, CPU), base (128px, GPU).")
flags.DEFINE_enum("decoder", "rgb", ["rgb", "warp"],
                  "Decoder output: rgb (decoded colour) or warp (warp the source image + colour, blended by a mask).")
flags.DEFINE_enum("precision", "float32", ["float32", "mixed_bfloat16"],
                  "Compute dtype of encoder, decoder and discriminator (IAD, CAS, losses stay float32); "
                  "mixed_bfloat16 is about 2x faster on CPUs with AVX-512 BF16.")
flags.DEFINE_integer("flow_stride", 2, "Warp decoder: predict the flow at image size / flow_stride, then upsample.")
flags.DEFINE_enum("data", "synthgaze", ["synthgaze", "xgaze", "sted", "folder"], "Training data source.")
flags.DEFINE_string("data_path", "", "Real data: an h5 file, a folder of h5 files, a glob, or a CSV (folder).")
flags.DEFINE_enum("synth_nuisance", "person", ["person", "image"],
                  "SynthGaze light and background: shared within a person (small jitter) or per image.")
flags.DEFINE_float("min_angle_deg", 0.0, "Real data: minimum gaze or head difference within a pair (degrees).")
flags.DEFINE_integer("batch_size", 16, "Global batch size in pairs (split across replicas).")
flags.DEFINE_integer("steps", 3000, "Total training steps (generator updates). --resume may raise it: the cosine "
                     "schedule then decays from the rate reached at the resumed step to its floor at the new --steps.")
flags.DEFINE_float("g_lr", 1.5e-3, "Generator learning rate (Adam, beta1 0.9).")
flags.DEFINE_float("d_lr", 2e-4, "Discriminator learning rate (Adam, beta1 0.5).")
flags.DEFINE_enum("lr_schedule", "cosine", ["cosine", "constant"], "Learning-rate schedule over --steps.")
flags.DEFINE_float("w_rec", LossConfig.rec, "Weight of the L1 reconstruction loss.")
flags.DEFINE_float("w_label", LossConfig.label, "Weight of the auxiliary gaze/head label loss.")
flags.DEFINE_float("w_orth", LossConfig.orth, "Weight of the orthogonality loss (claim 7).")
flags.DEFINE_float("w_adv", LossConfig.adv, "Weight of the adversarial loss after warm-up.")
flags.DEFINE_float("w_consistency", LossConfig.consistency,
                   "Weight of the optional consistency loss: a frozen estimator judges the outputs' gaze/head.")
flags.DEFINE_float("w_feature", LossConfig.feature, "Weight of matching the frozen estimator's features and judged "
                   "angles between output and target image (needs --consistency_estimator).")
flags.DEFINE_float("w_eye", LossConfig.eye, "Weight of the L1 reconstruction inside the fixed eye-region map.")
flags.DEFINE_float("w_flow_smooth", LossConfig.flow_smooth, "Warp decoder: weight of the flow's total variation.")
flags.DEFINE_string("consistency_estimator", "", "GazeHeadEstimator .keras for --w_consistency (train_estimator.py), "
                    "or auto: train one on the run's data first, in <out_dir>/consistency_estimator.")
flags.DEFINE_integer("consistency_estimator_steps", 2500, "Training steps of the auto consistency estimator.")
flags.DEFINE_integer("gan_start", LossConfig.gan_start, "Step at which the adversarial weight starts to ramp.")
flags.DEFINE_integer("gan_warmup", LossConfig.gan_warmup, "Steps of the linear adversarial warm-up.")
flags.DEFINE_float("gaze_prob", LossConfig.gaze_prob, "Probability that a sample's target feature is gaze (claim 4).")
flags.DEFINE_float("id_swap_prob", LossConfig.id_swap_prob, "Probability of swapping identity features (claim 6).")
flags.DEFINE_integer("seed", 0, "Random seed (weights, data, per-sample choices).")
flags.DEFINE_string("out_dir", "runs/demo", "Output directory (checkpoints, logs, model, pictures).")
flags.DEFINE_enum("strategy", "default", list(STRATEGIES), "tf.distribute strategy; multiworker reads TF_CONFIG.")
flags.DEFINE_integer("checkpoint_every", 500, "Checkpoint (and validate) every N steps; --steps must be a multiple.")
flags.DEFINE_integer("keep_checkpoints", 3, "How many recent checkpoints to keep.")
flags.DEFINE_integer("log_every", 25, "TensorBoard scalar interval in steps.")
flags.DEFINE_integer("val_batches", 4, "Validation batches per checkpoint.")
flags.DEFINE_bool("resume", False, "Continue the run in --out_dir from its last checkpoint. Only a larger --steps, "
                  "--checkpoint_every, --keep_checkpoints, --log_every, --val_batches, --strategy and --verbose may "
                  "differ from its config.json (the old one is kept as config-<step>.json).")
flags.DEFINE_bool("overwrite", False, "Replace an existing run in --out_dir, its auto consistency estimator included "
                  "(nothing is removed before the new run's settings and data are checked).")
flags.DEFINE_integer("verbose", 1, "Keras verbosity: 0 silent, 1 progress bar, 2 one line per epoch.")


def config_from_flags():
    loss = LossConfig(
        rec=F.w_rec, label=F.w_label, orth=F.w_orth, adv=F.w_adv, consistency=F.w_consistency, feature=F.w_feature, eye=F.w_eye,
        flow_smooth=F.w_flow_smooth, gan_start=F.gan_start,
        gan_warmup=F.gan_warmup, gaze_prob=F.gaze_prob, id_swap_prob=F.id_swap_prob,
    )
    return TrainConfig(
        out_dir=F.out_dir, preset=F.preset, data=F.data, data_path=F.data_path, synth_nuisance=F.synth_nuisance,
        min_angle_deg=F.min_angle_deg, batch_size=F.batch_size, steps=F.steps, g_lr=F.g_lr, d_lr=F.d_lr,
        lr_schedule=F.lr_schedule, decoder=F.decoder, flow_stride=F.flow_stride, precision=F.precision, loss=loss, consistency_estimator=F.consistency_estimator,
        consistency_estimator_steps=F.consistency_estimator_steps, seed=F.seed, strategy=F.strategy,
        checkpoint_every=F.checkpoint_every, keep_checkpoints=F.keep_checkpoints, log_every=F.log_every, val_batches=F.val_batches, resume=F.resume, overwrite=F.overwrite, verbose=F.verbose,
    )


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    tf.get_logger().setLevel("ERROR")
    try:
        summary = train(config_from_flags())
    except KeyboardInterrupt:
        print(f"\ntrain.py: interrupted; continue from the last checkpoint in {F.out_dir} with --resume "
              "(same flags)", file=sys.stderr)
        return 130
    except Exception as err:  # expected errors, and reader errors wrapped by tf.data
        message = tool_error_message(err)
        if message is None:
            raise
        print(f"train.py: error: {message}", file=sys.stderr)
        return 1
    if "outputs" not in summary:  # a non-chief worker: the chief writes and reports the run
        print(f"\nworker done at step {summary['step']}; the chief wrote the outputs in {F.out_dir}")
        return 0
    print(f"\nTrained {summary['preset']} from step {summary['start_step']} to {summary['step']} "
          f"in {summary['wall_seconds']} s on {summary['data']}")
    if summary["train_pairs_per_second"] is None:
        print("throughput: not measured (the run is shorter than the timing window)")
    else:
        print(f"throughput: {summary['train_pairs_per_second']} pairs/s = {summary['train_images_per_second']} images/s, "
              f"{summary['achieved_gflop_per_second']} GFLOP/s = {100 * summary['fraction_of_matmul_rate']:.1f}% "
              f"of the measured matmul rate ({summary['matmul_gflop_per_second']} GFLOP/s)")
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
