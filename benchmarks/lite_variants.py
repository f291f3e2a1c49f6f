"""Relative TFLite float32 speed of generator variants, timed interleaved on a busy machine.

    python benchmarks/lite_variants.py [--variants=reference,reference_warp,base,base_warp] [--threads=2]
    python benchmarks/lite_variants.py --parts=reference_warp   # where the time goes, piece by piece

Absolute times on a shared machine drift with the load, so every variant is exported to TFLite
float32 (the `redirect` signature, `export_lib`'s converter) and the variants are timed in
turn, A, B, C, A, B, C, ... at batch 1 through `LiteRedirector`, each round hitting all of them
with the same load. Reported: each variant's median latency, its ratio to the first variant
(by default `reference`, the base preset before 2026-11-26, 12.3 ms per image on 2 idle cores)
and that ratio times 12.3 ms, the estimated idle time; FLOPs per redirected image and
generator parameters.

`--parts` splits one variant into its pieces (stem, each encoder and decoder stage, the dense
layers, the output heads, the warp) as separate TFLite models of the same shapes, timed the
same way: their sum is near the whole model's time, and shows which stages are worth cheapening.
"""

import dataclasses
import os
import shutil
import tempfile
import time

from absl import app, flags

F = flags.FLAGS
flags.DEFINE_list("variants", ["reference", "reference_warp", "base", "base_warp"],
                  "Variants (names from _variants()) to time; ratios are to the first.")
flags.DEFINE_string("parts", "", "Time the pieces of this variant instead.")
flags.DEFINE_integer("threads", 2, "TFLite interpreter threads.")
flags.DEFINE_integer("rounds", 200, "Interleaved rounds (one call of each variant per round).")
flags.DEFINE_float("reference_ms", 12.3, "Idle-machine latency of the first variant, for the estimates.")

# The base preset before 2026-11-26 (12.3 ms per image, TFLite float32, 2 idle cores, plain decoder).
REFERENCE = dict(image_size=128, channels=(24, 64, 128, 256, 256), face_dim=512, split_dim=256, id_dim=256,
                 rot_dim=32, head_hidden=128, disc_channels=(32, 64, 128, 256))


def _variants():
    """Named ModelConfigs: the reference, one change at a time, their combinations, today's base.
    Suffix `_warp` is the warp decoder (flow at 1/2 of the size; `_warp4` at 1/4)."""
    from tfredirect.config import PRESETS, ModelConfig

    ref = ModelConfig(**REFERENCE)
    c16 = dict(channels=(16,) + ref.channels[1:])
    changes = {
        "reference": {}, "c16": c16, "sep1": dict(separable_stages=1), "sep2": dict(separable_stages=2),
        "mid": dict(upsample="mid"), "sep2_mid": dict(separable_stages=2, upsample="mid"),
        "c16_sep1": dict(c16, separable_stages=1), "c16_sep2": dict(c16, separable_stages=2),
        "c16_sep3": dict(c16, separable_stages=3),
        "c16_48_sep2": dict(channels=(16, 48, 128, 256, 256), separable_stages=2),
        "c16_sep1_mid": dict(c16, separable_stages=1, upsample="mid"),
        "c16_sep2_mid": dict(c16, separable_stages=2, upsample="mid"),
    }
    out = {}
    for name, change in changes.items():
        cfg = dataclasses.replace(ref, **change)
        out[name] = cfg
        out[name + "_warp"] = dataclasses.replace(cfg, decoder="warp")
    out["reference_warp4"] = dataclasses.replace(ref, decoder="warp", flow_stride=4)
    base = PRESETS["base"]
    out.update(base=base, base_warp=dataclasses.replace(base, decoder="warp"),
               base_warp4=dataclasses.replace(base, decoder="warp", flow_stride=4))
    return out


def _export(cfg, folder):
    """TFLite float32 file of a freshly initialised Redirector (speed does not depend on the values)."""
    from tfredirect.models import Redirector
    from tfredirect.serving import export_lib

    model = Redirector(cfg)
    model.build()
    saved = export_lib.write_saved_model(model, os.path.join(folder, "saved_model"))
    path = os.path.join(folder, "redirector_float32.tflite")
    with open(path, "wb") as fh:
        fh.write(export_lib.convert_tflite(saved, "none"))
    return model, path


def interleaved(calls, rounds):
    """Median seconds of each callable, timed in turn (one call each per round) after a warm-up."""
    import numpy as np

    for fn in calls.values():
        fn()
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, fn in calls.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: float(np.median(t)) for name, t in times.items()}


def _images(size):
    import numpy as np

    return np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)


def time_variants(names, threads, rounds, reference_ms):
    import numpy as np

    from tfredirect import profiling
    from tfredirect.lite import LiteRedirector

    table = _variants()
    unknown = sorted(set(names) - set(table))
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; choose from {sorted(table)}")
    tmp = tempfile.mkdtemp(prefix="lite_variants-")
    calls, info = {}, {}
    g = np.array([[0.1, -0.2]], np.float32)
    for name in names:
        cfg = table[name]
        model, path = _export(cfg, os.path.join(tmp, name))
        lite = LiteRedirector(path, num_threads=threads)
        images = _images(cfg.image_size)
        calls[name] = lambda lite=lite, images=images: lite.redirect(images, g, g)
        info[name] = (profiling.redirector_flops(model), model.count_params(), cfg)
    medians = interleaved(calls, rounds)
    shutil.rmtree(tmp)
    first = medians[names[0]]
    print(f"{rounds} interleaved rounds, {threads} threads, batch 1; estimate = {reference_ms} ms x ratio to "
          f"{names[0]}\n")
    print("| variant | channels | separable | upsample | decoder | GFLOP | params M | median ms | ratio "
          "| est. idle ms |\n|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        flops, params, cfg = info[name]
        ratio = medians[name] / first
        dec = cfg.decoder + (f" /{cfg.flow_stride}" if cfg.decoder == "warp" else "")
        print(f"| {name} | {cfg.channels} | {cfg.separable_stages} | {cfg.upsample} | {dec} | {flops / 1e9:.3f} | "
              f"{params / 1e6:.2f} | {1e3 * medians[name]:.2f} | {ratio:.3f} | {reference_ms * ratio:.1f} |")


def _pieces(cfg):
    """(name, fn, input shapes) of a fresh generator's pieces at batch 1, in the order they run."""
    import keras
    from keras import ops

    from tfredirect.models import Redirector
    from tfredirect.models.warp import warp

    model = Redirector(cfg)
    model.build()
    enc, dec = model.encoder, model.decoder
    s = cfg.image_size
    act = lambda x: keras.activations.leaky_relu(x, 0.2)
    out = [("encoder stem", lambda x: act(enc.stem(x)), [(1, s, s, 3)])]
    shape = enc.stem.compute_output_shape((1, s, s, 3))
    for stage in enc.stages:
        out.append((f"encoder {shape[1]}px->{shape[1] // 2} x{stage.filters}", stage, [shape]))
        shape = stage.compute_output_shape(shape)
    flat = shape[1] * shape[2] * shape[3]
    out.append(("encoder fc + IAD + decoder fc", lambda f: dec.fc(ops.concatenate(
        [model.iad(enc.fc(f))["z_id"], ops.zeros((1, dec.input_dim - cfg.id_dim))], -1)), [(1, flat)]))
    shape = (1, dec.bottleneck, dec.bottleneck, cfg.channels[-1])
    for stage in dec.stages:
        out.append((f"decoder {shape[1]}px->{shape[1] * 2} x{stage.filters}", stage, [shape]))
        shape = stage.compute_output_shape(shape)
    out.append(("to_rgb", lambda x: ops.tanh(dec.to_rgb(x)), [shape]))
    if cfg.decoder == "warp":
        flow_shape = (1, s // cfg.flow_stride, s // cfg.flow_stride, dec.to_flow.kernel.shape[2])
        out.append(("to_flow + upsample", lambda x: ops.image.resize(
            dec.max_flow * ops.tanh(dec.to_flow(x)), (s, s), interpolation="bilinear"), [flow_shape]))
        out.append(("to_mask", lambda x: ops.sigmoid(dec.to_mask(x)), [shape]))
        out.append(("warp (gathers) + blend", lambda img, flow, mask, rgb: mask * warp(img, flow) + (1 - mask) * rgb,
                    [(1, s, s, 3), (1, s, s, 2), (1, s, s, 1), (1, s, s, 3)]))
    return out


def time_parts(name, threads, rounds):
    import numpy as np
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    cfg = _variants()[name]
    calls = {}
    rng = np.random.default_rng(0)
    for label, fn, shapes in _pieces(cfg):
        concrete = tf.function(fn).get_concrete_function(*[tf.TensorSpec(s, tf.float32) for s in shapes])
        conv = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(concrete)])
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        interp = Interpreter(model_content=conv.convert(), num_threads=threads)
        interp.allocate_tensors()
        for d in interp.get_input_details():
            interp.set_tensor(d["index"], rng.uniform(-1, 1, d["shape"]).astype(np.float32))
        calls[label] = interp.invoke
    medians = interleaved(calls, rounds)
    total = sum(medians.values())
    print(f"{name}: {rounds} interleaved rounds, {threads} threads, batch 1\n")
    print("| piece | median ms | share |")
    print("|---|---|---|")
    for label, t in medians.items():
        print(f"| {label} | {1e3 * t:.3f} | {100 * t / total:.1f}% |")
    print(f"| sum | {1e3 * total:.2f} | |")


def main(argv):
    del argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if F.parts:
        time_parts(F.parts, F.threads, F.rounds)
    else:
        time_variants(F.variants, F.threads, F.rounds, F.reference_ms)


if __name__ == "__main__":
    app.run(main)
