"""SynthGaze speed and determinism: images/s per size, pairs/s of the training stream.

    python benchmarks/synthgaze.py [--n=2048]
"""

import os
import time

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from tfredirect.data.synthgaze import SynthGaze  # noqa: E402

F = flags.FLAGS
flags.DEFINE_integer("n", 2048, "Images rendered per size (half at 128x128).", lower_bound=64)


def images_per_second(size, n):
    sg = SynthGaze(size=size, seed=0)
    pid = np.repeat(sg.persons("train")[: n // 16], 16)[:n]
    idx = np.arange(len(pid))
    sg.render_samples(pid[:64], idx[:64])  # compile
    start = time.perf_counter()
    first, _, _ = sg.render_samples(pid, idx)
    rate = len(pid) / (time.perf_counter() - start)
    second, _, _ = sg.render_samples(pid, idx)
    return rate, bool(np.array_equal(first, second))


def pairs_per_second(size, batch, batches):
    it = iter(SynthGaze(size=size, seed=0).pairs("train", batch, seed=1))
    next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch / (time.perf_counter() - start)


def main(argv):
    del argv
    print(f"{'size':>6s} {'images/s':>10s} {'bitwise repeat':>15s}")
    for size in (32, 64, 128):
        rate, same = images_per_second(size, F.n if size < 128 else F.n // 2)
        print(f"{size:6d} {rate:10.0f} {str(same):>15s}")
    for size in (64, 128):
        print(f"pairs stream {size}x{size}, batch 32: {pairs_per_second(size, 32, 20):.0f} pairs/s")


if __name__ == "__main__":
    app.run(main)
