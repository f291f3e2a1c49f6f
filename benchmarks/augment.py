"""Throughput of the augmentation job (tools/augment.py's library path) at 64x64.

    python benchmarks/augment.py [--model=runs/demo/redirector.keras] [--samples=512]
        [--per_image=4] [--kind=random] [--threads=2] [--runtimes=keras,float32,int8] [--dir=/tmp/augbench]

Writes a ST-ED file of --samples SynthGaze samples (64x64, 16 per person; kept in --dir and
reused), exports the redirector to TFLite float32 and int8 (calibrated on 64 of those
images), then runs the whole job - read, draw targets, redirect K copies, stage every
chunk (fsynced), assemble the ST-ED output - once per runtime and prints a Markdown table:
images/s of the job (wall time, first call and tracing included) and of the model alone
(steady state, batch = chunk x K). Without --model an untrained `demo` redirector is
used: the FLOPs, hence the speed, are those of a trained one (--checkpoint is another name of --model).
"""

import os
import shutil
import sys
import tempfile
import time

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

F = flags.FLAGS
flags.DEFINE_string("model", "", "Redirector .keras, run directory or shipped name (default: an untrained demo-preset "
                    "model).")
flags.DEFINE_integer("samples", 512, "Input samples.", lower_bound=1)
flags.DEFINE_integer("per_image", 4, "Copies per sample.", lower_bound=1)
flags.DEFINE_integer("chunk", 64, "Sources per batch.", lower_bound=1)
flags.DEFINE_integer("threads", 2, "CPU threads.", lower_bound=1)
flags.DEFINE_enum("kind", "random", ["random", "mixed", "gaze", "head", "both"], "Target kind (tools/augment.py "
                  "--kind); random is its default.")
flags.DEFINE_list("runtimes", ["keras", "float32", "int8"], "keras, float32 (TFLite), int8 (TFLite).")
flags.DEFINE_string("dir", os.path.join(tempfile.gettempdir(), "tfredirect_augbench"), "Data and export folder.")
flags.DEFINE_alias("checkpoint", "model")


def make_data(path, samples, size=64, seed=11):
    """ST-ED file of SynthGaze samples (16 per training person)."""
    from tfredirect.data import sted
    from tfredirect.data.synthgaze import SynthGaze

    synth = SynthGaze(size=size, seed=seed, nuisance="person")
    per = 16
    persons = synth.persons("train")[: -(-samples // per)]
    pid = np.repeat(persons, per)[:samples]
    idx = np.tile(np.arange(per), len(persons))[:samples]

    def records():
        for s in range(0, samples, 128):
            images, gaze, head = synth.render_samples(pid[s : s + 128], idx[s : s + 128])
            yield {"image": images, "gaze": gaze, "head": head,
                   "person": np.array([f"{p:06d}" for p in pid[s : s + 128]])}

    sted.write_h5(path, records(), overwrite=True)
    return path


def main(argv):
    del argv
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(F.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    from tfredirect import augmentation
    from tfredirect.config import preset
    from tfredirect.data import sources
    from tfredirect.lite import LiteRedirector
    from tfredirect.models import Redirector
    from tfredirect.serving import export_lib

    os.makedirs(F.dir, exist_ok=True)
    data = os.path.join(F.dir, f"synthgaze64_{F.samples}.h5")
    if not os.path.exists(data):
        t = time.perf_counter()
        make_data(data, F.samples)
        print(f"wrote {data} ({F.samples} SynthGaze samples) in {time.perf_counter() - t:.0f} s")
    index = sources.build_index("sted", data)
    if F.model:
        from tfredirect.serving.checkpoints import load_generator

        model, name = load_generator(F.model), F.model
    else:
        keras.utils.set_random_seed(0)
        model, name = Redirector(preset("demo")), "untrained demo preset"
        model.build()
    if model.image_size != 64:
        sys.exit(f"augment.py benchmark: {name} takes {model.image_size}x{model.image_size} images, expected 64x64")
    runtimes = [r.strip() for r in F.runtimes if r.strip()]
    export_dir = os.path.join(F.dir, "export")
    shutil.rmtree(export_dir, ignore_errors=True)
    modes = [m for m, r in (("none", "float32"), ("int8", "int8")) if r in runtimes]
    files = {}
    if modes:
        calib = index.read(np.arange(min(64, len(index))), 64)
        files = export_lib.export(model, export_dir, formats="tflite", quantize=modes, representative=calib)
    backends = {}
    if "keras" in runtimes:
        backends["Keras (tf.function)"] = lambda: augmentation.KerasBackend(model)
    if "float32" in runtimes:
        backends["TFLite float32"] = lambda: augmentation.LiteBackend(LiteRedirector(files["tflite_none"], F.threads))
    if "int8" in runtimes:
        backends["TFLite int8"] = lambda: augmentation.LiteBackend(LiteRedirector(files["tflite_int8"], F.threads))

    sampler = augmentation.TargetSampler(kind=F.kind, seed=0)
    n = len(index) * F.per_image
    rows = []
    for label, make in backends.items():
        out = os.path.join(F.dir, "augmented.h5")
        for path in (out, augmentation.staging_path(out)):
            shutil.rmtree(path) if os.path.isdir(path) else (os.path.exists(path) and os.remove(path))
        t = time.perf_counter()
        backend = make()
        info = augmentation.augment(index, backend, out, F.per_image, sampler, chunk=F.chunk)
        job = time.perf_counter() - t
        assert info["complete"] and info["written"] == n
        # the model alone, steady state, on one chunk's batch
        ids = np.arange(min(F.chunk, len(index)))
        rep = np.tile(ids, F.per_image)
        images = index.read(rep, 64)
        kinds, tg, th = (np.concatenate(x) for x in zip(*[sampler.draw(ids, k, index.gaze, index.head)
                                                           for k in range(F.per_image)]))
        args = (images, index.gaze[rep], index.head[rep], tg, th, kinds)
        backend(*args)
        reps, t = 3, time.perf_counter()
        for _ in range(reps):
            backend(*args)
        model_rate = reps * len(rep) / (time.perf_counter() - t)
        rows.append((label, n, job, n / job, model_rate))
        print(f"{label}: {n} images in {job:.1f} s = {n / job:.1f} images/s (model alone {model_rate:.1f} images/s)",
              flush=True)
        os.remove(out)
    print()
    print(f"{len(index)} sources x {F.per_image} copies, 64x64, kind {F.kind}, chunk {F.chunk}, {F.threads} threads, "
          f"model: {name}")
    print("| runtime | images | job s | job images/s | model alone images/s |")
    print("|---|---|---|---|---|")
    for label, count, seconds, rate, model_rate in rows:
        print(f"| {label} | {count} | {seconds:.1f} | {rate:.1f} | {model_rate:.1f} |")


if __name__ == "__main__":
    app.run(main)
