"""Real-data reader throughput and memory: samples/s and pairs/s on 128x128 ST-ED faces, and
peak RSS while streaming a multi-GB file (generated in --dir, deleted afterwards).

    python benchmarks/readers.py [--dir=/tmp] [--samples=20000] [--big_gb=3.5]

Files are evicted from the page cache (posix_fadvise DONTNEED, this file only) before the
"cold" passes, so those read from disk; "warm" passes read cached pages.
"""

import os
import resource
import time

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

import h5py  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from tfredirect.data import sources  # noqa: E402

SIZE = 128
ROW_BYTES = SIZE * SIZE * 3

F = flags.FLAGS
flags.DEFINE_string("dir", "/tmp", "Where the temporary h5 files go.")
flags.DEFINE_integer("samples", 20000, "Samples in the throughput file (20 persons).", lower_bound=128)
flags.DEFINE_float("big_gb", 3.5, "Size of the memory-test file in GB (0: skip).", lower_bound=0.0)
flags.DEFINE_alias("big-gb", "big_gb")


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def write_sted(path, samples, persons, rng):
    """ST-ED layout with random pixels (one chunk per row, as published files), written in slices."""
    per = samples // persons
    with h5py.File(path, "w") as f:
        for p in range(persons):
            g = f.create_group(f"{p:05d}")
            pix = g.create_dataset("pixels", (per, SIZE, SIZE, 3), np.uint8, chunks=(1, SIZE, SIZE, 3))
            for s in range(0, per, 512):
                n = min(512, per - s)
                pix[s : s + n] = np.frombuffer(rng.bytes(n * ROW_BYTES), np.uint8).reshape(n, SIZE, SIZE, 3)
            g.create_dataset("labels", data=rng.uniform(-0.5, 0.5, (per, 8)).astype(np.float32))
    return per * persons


def evict(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def rate(iterator, items_per_step, steps, warmup=5):
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(steps):
        next(iterator)
    return items_per_step * steps / (time.perf_counter() - start)


def throughput(path, samples):
    for label in ("cold", "warm"):
        if label == "cold":
            evict(path)
        for size in (128, 64):
            stream = iter(sources.make_samples("sted", path, size, shuffle=True, seed=0, infinite=True))
            s = rate(stream, 1, min(samples // 2, 10000), warmup=256)
            batched = iter(sources.make_samples("sted", path, size, shuffle=True, seed=1, infinite=True).batch(64))
            b = rate(batched, 64, min(samples // 128, 150))
            pairs = iter(sources.make_pairs("sted", path, size, 32, seed=0))
            p = rate(pairs, 32, min(samples // 64, 300))
            print(f"{label:4s} {size:3d}px  sample stream {s:8.0f} samples/s (unbatched), {b:8.0f} samples/s "
                  f"(.batch(64));  pair stream (batch 32) {p:8.0f} pairs/s = {2 * p:8.0f} images/s", flush=True)
            if label == "cold":
                evict(path)


def memory(path, report_every):
    print(f"start: RSS {rss_mb():.0f} MB, peak RSS {peak_rss_mb():.0f} MB", flush=True)
    evict(path)
    index = sources.build_index("sted", path)
    print(f"index of {len(index)} samples built: RSS {rss_mb():.0f} MB, peak RSS {peak_rss_mb():.0f} MB", flush=True)
    seen, start = 0, time.perf_counter()
    for batch in sources.make_samples("sted", path, SIZE).batch(256):
        seen += len(batch["image"])
        if seen % report_every < 256:
            print(f"  {seen:7d} samples ({seen * ROW_BYTES / 2**30:5.2f} GB): RSS {rss_mb():.0f} MB, "
                  f"peak RSS {peak_rss_mb():.0f} MB", flush=True)
    elapsed = time.perf_counter() - start
    print(f"end: streamed {seen} samples ({seen * ROW_BYTES / 2**30:.2f} GB) from disk in {elapsed:.1f} s "
          f"({seen / elapsed:.0f} samples/s); RSS {rss_mb():.0f} MB, peak RSS {peak_rss_mb():.0f} MB", flush=True)


def main(argv):
    del argv
    rng = np.random.default_rng(0)
    small = os.path.join(F.dir, f"tfredirect_readers_{os.getpid()}.h5")
    big = os.path.join(F.dir, f"tfredirect_readers_big_{os.getpid()}.h5")
    try:
        if F.big_gb > 0:  # first, so the RSS at start is the bare process
            samples = int(F.big_gb * 2**30 / ROW_BYTES)
            start = time.perf_counter()
            n = write_sted(big, samples, 500, rng)
            print(f"memory file: {n} samples of 500 persons, {os.path.getsize(big) / 2**30:.2f} GB written in "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
            memory(big, report_every=max(256, (n // 8) // 256 * 256))
            os.remove(big)
        n = write_sted(small, F.samples, 20, rng)
        print(f"throughput file: {n} samples of {SIZE}x{SIZE}, {os.path.getsize(small) / 2**30:.2f} GB", flush=True)
        throughput(small, n)
    finally:
        for path in (small, big):
            if os.path.exists(path):
                os.remove(path)


if __name__ == "__main__":
    app.run(main)
