"""Where a training step's compute goes, and what mixed_bfloat16 buys.

    python benchmarks/train_step.py --decoder=warp --estimator=runs/cest/estimator.keras

Counts FLOPs per training pair of each part of the real `RedirectionGAN.train_step` (traced
once; the forward and backward passes of generator, discriminator and frozen estimator, the
optimizer updates, the losses), then times whole train steps in float32 and
mixed_bfloat16, alternating the two so that load from other processes hits both alike.
"""

import json
import time

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags

from tfredirect.config import DECODER_OUTPUTS, LossConfig, preset
from tfredirect.data.synthgaze import SynthGaze
from tfredirect.training import RedirectionGAN
from tfredirect.training.loop import train_step_flops

F = flags.FLAGS
flags.DEFINE_enum("preset", "demo", ["tiny", "demo", "base"], "Model size.")
flags.DEFINE_enum("decoder", "rgb", list(DECODER_OUTPUTS), "Decoder output.")
flags.DEFINE_string("estimator", "", "Consistency estimator .keras (adds its terms).")
flags.DEFINE_integer("batch_size", 16, "Pairs per timed train step.", lower_bound=1)
flags.DEFINE_integer("rounds", 4, "Timed rounds per precision.", lower_bound=1)
flags.DEFINE_integer("steps", 10, "Train steps per timed round.", lower_bound=1)


def build(args, policy):
    estimator = None
    if args.estimator:
        from tfredirect.training.estimation import load_estimator

        estimator = load_estimator(args.estimator)
    loss = LossConfig(consistency=30.0 if estimator else 0.0, feature=30.0 if estimator else 0.0,
                      eye=200.0, flow_smooth=0.0 if args.decoder == "rgb" else 1.0)
    keras.mixed_precision.set_global_policy(policy)
    try:
        gan = RedirectionGAN(preset(args.preset, decoder=args.decoder), loss, seed=0, estimator=estimator)
        gan.compile(g_optimizer=keras.optimizers.Adam(1e-4), d_optimizer=keras.optimizers.Adam(1e-4))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return gan


def part_flops(gan, batch):
    """GFLOP per pair of each part of the real train step (loop.train_step_flops: the traced
    `RedirectionGAN.train_step`, by the name scope of its ops)."""
    parts = train_step_flops(gan, batch)
    owners = {"generator": [layer.name for layer in gan.generator.layers], "discriminator": [gan.discriminator.name],
              "estimator": [gan.estimator.name] if gan.estimator is not None else [], "optimizers": ["adam"]}
    out = {}
    for part, scopes in owners.items():
        out[f"{part}_forward" if part != "optimizers" else part] = sum(parts.pop(s, 0) for s in scopes)
        if part != "optimizers":
            out[f"{part}_backward"] = sum(parts.pop(f"gradient_tape/{s}", 0) for s in scopes)
    out["losses_and_other"] = sum(parts.values())
    out["total"] = sum(out.values())
    return {k: round(v / batch / 1e9, 3) for k, v in out.items()}


def main(argv):
    del argv
    args = F

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
    app.run(main)
