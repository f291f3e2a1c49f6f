"""Inference speed of the exported generator: Keras, SavedModel, TFLite variants, ONNX Runtime.

    python benchmarks/export.py [--presets=demo,base] [--threads=1,2] [--model=synthgaze-64]

For each preset (weights from --model, any model the tools take, when its size matches, else freshly initialised: speed
does not depend on the values) and thread count, measures the `redirect` path: latency per
image at batch 1 (median) and images/s at batch 8, file sizes, FLOPs per image and the
achieved FLOP/s as a fraction of the float32 matmul rate measured in the same process with
the same thread count. Prints a Markdown table (paste into docs/export.md).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags

F = flags.FLAGS
flags.DEFINE_list("presets", ["demo", "base"], "Model presets to measure.")
flags.DEFINE_list("threads", ["1", "2"], "Thread counts to measure.")
flags.DEFINE_string("model", "", "Optional trained generator (.keras, run directory, checkpoint or shipped name) "
                    "whose weights are used for its preset.")
flags.DEFINE_list("worker", None, "Internal: preset,threads,out_json of one measuring process.")

MODES = ("none", "fp16", "dynamic", "int8")


def _timeit(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def worker(preset_name, threads, model_path, out_json):
    """Runs in a fresh process so that TF's thread pools take `threads`."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import onnxruntime as ort

    from tfredirect import profiling
    from tfredirect.config import preset
    from tfredirect.data.synthgaze import SynthGaze
    from tfredirect.lite import LiteRedirector
    from tfredirect.models import Redirector
    from tfredirect.serving.checkpoints import load_generator
    from tfredirect.serving import export_lib

    cfg = preset(preset_name)
    model = None
    if model_path:
        loaded = load_generator(model_path)
        model = loaded if loaded.image_size == cfg.image_size else None
    if model is None:
        model = Redirector(cfg)
        model.build()
    s = cfg.image_size
    synth = SynthGaze(size=s, seed=3, nuisance="person")
    images = synth.render_samples(synth.persons("test")[:8], np.arange(8))[0]
    calib = synth.render_samples(synth.persons("train")[:64], np.arange(64))[0]
    rng = np.random.default_rng(0)
    tg, th = (rng.uniform(-0.4, 0.4, (8, 2)).astype(np.float32) for _ in range(2))
    tmp = tempfile.mkdtemp()
    out = os.path.join(tmp, "exp")
    export_lib.export(model, out, formats="saved_model,tflite,onnx", quantize=",".join(MODES), representative=calib)
    flops = profiling.redirector_flops(model)
    peak = profiling.matmul_rate()
    rows = []

    def record(name, call, path):
        one = _timeit(lambda: call(1), 30)
        eight = _timeit(lambda: call(8), 10)
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) \
            if path and os.path.isdir(path) else (os.path.getsize(path) if path else 0)
        rows.append({"runtime": name, "latency_ms": 1e3 * one, "images_per_s": 8 / eight, "size_mb": size / 2**20,
                     "fraction_of_matmul": flops * 8 / eight / peak})

    keras_fn = tf.function(lambda x, g, h: model.redirect(x, target_gaze=g, target_head=h))
    record("Keras (tf.function)", lambda n: keras_fn(images[:n], tg[:n], th[:n]).numpy(), None)
    sm = tf.saved_model.load(os.path.join(out, "saved_model")).signatures["redirect"]
    record("SavedModel", lambda n: sm(image=tf.constant(images[:n]), target_gaze=tf.constant(tg[:n]),
                                      target_head=tf.constant(th[:n]))["redirected"].numpy(),
           os.path.join(out, "saved_model"))
    for mode in MODES:
        path = os.path.join(out, export_lib.tflite_filename(mode))
        lite = LiteRedirector(path, num_threads=threads)
        record(f"TFLite {export_lib.TFLITE_NAMES[mode]}", lambda n, lite=lite: lite.redirect(images[:n], tg[:n], th[:n]), path)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(os.path.join(out, "redirect.onnx"), opts)
    record("ONNX Runtime", lambda n: sess.run(["redirected"], {"image": images[:n], "target_gaze": tg[:n],
                                                              "target_head": th[:n]}), os.path.join(out, "redirect.onnx"))
    with open(out_json, "w") as fh:
        json.dump({"preset": preset_name, "size": s, "threads": threads, "gflop": flops / 1e9,
                   "matmul_gflops": peak / 1e9, "rows": rows}, fh)


def main(argv):
    del argv
    if F.worker:
        name, threads, out_json = F.worker
        worker(name, int(threads), F.model, out_json)
        return
    results = []
    for name in F.presets:
        for threads in [int(t) for t in F.threads]:
            out = tempfile.mktemp(suffix=".json")
            subprocess.run([sys.executable, __file__, f"--worker={name},{threads},{out}", f"--model={F.model}"],
                           check=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
            with open(out) as fh:
                results.append(json.load(fh))
    print("| preset | threads | runtime | latency ms (batch 1) | images/s (batch 8) | size MB | FLOP/s vs matmul |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        for row in r["rows"]:
            print(f"| {r['preset']} {r['size']}px ({r['gflop']:.3f} GFLOP) | {r['threads']} | {row['runtime']} | "
                  f"{row['latency_ms']:.2f} | {row['images_per_s']:.1f} | {row['size_mb']:.2f} | "
                  f"{100 * row['fraction_of_matmul']:.1f}% of {r['matmul_gflops']:.0f} GFLOP/s |")


if __name__ == "__main__":
    app.run(main)
