"""Where a training step's compute goes, and what mixed_bfloat16 buys (issue: spend the
compute where it pays).

    python benchmarks/train_step.py --decoder=warp --estimator=runs/cest/estimator.keras

Counts FLOPs per training pair of each part of `RedirectionGAN.train_step` (generator
forward, the generator's loss terms and backward, the frozen estimator's terms, the
discriminator step) by tracing the real methods, then times whole train steps in float32
and mixed_bfloat16, alternating the two so that load from other processes hits both alike.
"""

import argparse
import json
import time

import keras
import numpy as np
import tensorflow as tf

from tfredirect import losses, profiling
from tfredirect.config import LossConfig, preset
from tfredirect.data.synthgaze import SynthGaze
from tfredirect.training import RedirectionGAN


def build(args, policy):
    estimator = None
    if args.estimator:
        from tfredirect.training.estimation import load_estimator

        estimator = load_estimator(args.estimator)
    loss = LossConfig(consistency=30.0 if estimator else 0.0, feature=30.0 if estimator else 0.0,
                      eye=200.0, flow_smooth=1.0 if args.decoder == "warp" else 0.0)
    keras.mixed_precision.set_global_policy(policy)
    try:
        gan = RedirectionGAN(preset(args.preset, decoder=args.decoder), loss, seed=0, estimator=estimator)
        gan.compile(g_optimizer=keras.optimizers.Adam(1e-4), d_optimizer=keras.optimizers.Adam(1e-4))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return gan


def part_flops(gan, batch):
    """FLOPs per pair of each part, from the real methods."""
    s = gan.model_config.image_size
    img, ang = tf.TensorSpec((batch, s, s, 3), tf.uint8), tf.TensorSpec((batch, 2), tf.float32)
    spec = [img, ang, ang, img, ang, ang]
    keys = ("image_a", "gaze_a", "head_a", "image_b", "gaze_b", "head_b")
    est = gan.estimator

    def forward(*args):
        data = dict(zip(keys, args))
        return gan.swap_forward(data, *gan._choices(data, batch, 0, 0))["x_hat"]

    def g_step(with_estimator):
        def fn(*args):
            data = dict(zip(keys, args))
            gan.estimator = est if with_estimator else None
            with tf.GradientTape() as tape:
                out = gan.swap_forward(data, *gan._choices(data, batch, 0, 0))
                terms = gan._generator_terms(out)
                loss = sum(tf.reduce_sum(v) for k, v in terms.items() if k not in ("gaze_err", "head_err", "psnr"))
                loss += tf.reduce_sum(losses.generator_adversarial(gan._critic(out["x_hat"])))
            gan.estimator = est
            return tape.gradient(loss, gan.generator.trainable_variables)
        return fn

    def d_step(*args):
        data = dict(zip(keys, args))
        fake = tf.stop_gradient(forward(*args))
        real = tf.concat([tf.cast(data["image_a"], tf.float32), tf.cast(data["image_b"], tf.float32)], 0) / 127.5 - 1
        with tf.GradientTape() as tape:
            d = tf.reduce_sum(losses.discriminator(gan._critic(real), gan._critic(fake)))
        return tape.gradient(d, gan.discriminator.trainable_variables)

    fwd = profiling.count_flops(forward, spec)
    g_plain = profiling.count_flops(g_step(False), spec)
    g_full = profiling.count_flops(g_step(True), spec) if est else g_plain
    d_total = profiling.count_flops(d_step, spec)
    per = lambda x: round(x / batch / 1e9, 3)
    return {"generator_forward": per(fwd), "generator_step_without_estimator": per(g_plain),
            "estimator_terms": per(g_full - g_plain), "discriminator_step": per(d_total - fwd),
            "total": per(g_full + d_total - fwd)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--decoder", default="rgb", choices=["rgb", "warp"])
    parser.add_argument("--estimator", default="", help="consistency estimator .keras (adds its terms)")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=10, help="train steps per timed round")
    args = parser.parse_args()

    synth = SynthGaze(size=preset(args.preset).image_size, seed=0)
    batch = next(iter(synth.pairs("train", args.batch_size, seed=0)))
    gans = {p: build(args, p) for p in ("float32", "mixed_bfloat16")}
    steps = {p: tf.function(g.train_step) for p, g in gans.items()}
    for fn in steps.values():
        fn(batch)
    times = {p: [] for p in gans}
    for _ in range(args.rounds):
        for p, fn in steps.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                out = fn(batch)
            float(out["g_loss"])
            times[p].append((time.perf_counter() - start) / args.steps)
    result = {
        "preset": args.preset, "decoder": args.decoder, "batch_pairs": args.batch_size,
        "gflop_per_pair": part_flops(gans["float32"], 2),
        "ms_per_step_median": {p: round(1000 * float(np.median(t)), 1) for p, t in times.items()},
    }
    result["bf16_speedup"] = round(result["ms_per_step_median"]["float32"] / result["ms_per_step_median"]["mixed_bfloat16"], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
