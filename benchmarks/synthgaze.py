"""SynthGaze speed and determinism: images/s per size and appearance, pairs/s of the training
stream.

    python benchmarks/synthgaze.py [--n=2048] [--appearances=plain,textured] [--sizes=32,64,128]

Each appearance renders the same samples twice (after a warm-up that compiles); the rates are
of the first pass, and "bitwise repeat" says whether the second gave the same pixels. Chunks
of images render on parallel threads (synthgaze_render.default_workers(); --workers to pin).
images/s is wall-clock; images/cpu-s divides by the CPU time of this process (all threads),
which other processes on the machine disturb much less.
"""

import resource
import time

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from tfredirect.data import synthgaze_render  # noqa: E402
from tfredirect.data.synthgaze import SynthGaze  # noqa: E402

F = flags.FLAGS
flags.DEFINE_integer("n", 2048, "Images rendered per size (half at 128x128 and above).", lower_bound=64)
flags.DEFINE_list("appearances", list(synthgaze_render.APPEARANCES), "Appearances to measure.")
flags.DEFINE_list("sizes", ["32", "64", "128"], "Image sizes to measure.")
flags.DEFINE_integer("workers", 0, "Rendering threads; 0 for synthgaze_render.default_workers().", lower_bound=0)
flags.DEFINE_bool("pairs", True, "Also measure the pairs stream (64 and 128 px, batch 32).")


def images_per_second(size, n, appearance):
    sg = SynthGaze(size=size, seed=0, appearance=appearance)
    pid = np.repeat(sg.persons("train")[: n // 16], 16)[:n]
    idx = np.arange(len(pid))
    sg.render_samples(pid, idx)  # compile every chunk shape of this call
    cpu, start = _cpu_seconds(), time.perf_counter()
    first, _, _ = sg.render_samples(pid, idx)
    rate, cpu_rate = len(pid) / (time.perf_counter() - start), len(pid) / (_cpu_seconds() - cpu)
    second, _, _ = sg.render_samples(pid, idx)
    return rate, cpu_rate, bool(np.array_equal(first, second))


def _cpu_seconds():
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def pairs_per_second(size, batch, batches, appearance):
    it = iter(SynthGaze(size=size, seed=0, appearance=appearance).pairs("train", batch, seed=1))
    next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch / (time.perf_counter() - start)


def main(argv):
    del argv
    for a in F.appearances:
        synthgaze_render.check_appearance(a)
    if F.workers:
        synthgaze_render.default_workers = lambda: F.workers
    print(f"rendering threads: {synthgaze_render.default_workers()}")
    print(f"{'size':>6s} {'appearance':>10s} {'images/s':>10s} {'images/cpu-s':>13s} {'bitwise repeat':>15s}")
    for size in (int(s) for s in F.sizes):
        for appearance in F.appearances:
            rate, cpu_rate, same = images_per_second(size, F.n if size < 128 else F.n // 2, appearance)
            print(f"{size:6d} {appearance:>10s} {rate:10.0f} {cpu_rate:13.0f} {str(same):>15s}", flush=True)
    if F.pairs:
        for size in (64, 128):
            for appearance in F.appearances:
                rate = pairs_per_second(size, 32, 20, appearance)
                print(f"pairs stream {size}x{size} {appearance}, batch 32: {rate:.0f} pairs/s", flush=True)


if __name__ == "__main__":
    app.run(main)
