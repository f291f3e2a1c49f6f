"""tf.data streams over a SampleIndex: same-person pairs for training, samples for
evaluation and augmentation.

Sample ids are shuffled per epoch with a stateless shuffle keyed by (seed, epoch); pixels
are read by a parallel `map` (a NumPy reader per batch) and prefetched, so both cores
work while the model trains. Partners are drawn with a NumPy generator keyed by
(seed, batch number), so a stream is identical for a given seed whatever the thread timing.
"""

import atexit
import contextlib
import logging
import threading
import time

import numpy as np
import tensorflow as tf

from tfredirect import geometry

log = logging.getLogger(__name__)

# Two samples have a "different pose" when gaze or head differ by more than this (degrees).
POSE_EPS_DEG = 1e-3
_SEED_MASK = 2**63 - 1


class _ExitGate:
    """Winds the NumPy readers of live pipelines down before the interpreter finalizes.

    A tf.data iterator still alive at exit is destroyed during finalization and waits for
    its in-flight NumPy calls, which can no longer take the GIL: the process hangs. At exit
    the gate rejects new calls (the pipelines fail fast and stop scheduling) and waits
    until no call has run for a moment.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._active = 0
        self._closed = False
        self._last = time.monotonic()

    @contextlib.contextmanager
    def open(self):
        with self._lock:
            self._last = time.monotonic()
            if self._closed:
                raise RuntimeError("interpreter is exiting")
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                self._last = time.monotonic()

    def close(self, quiet=0.1, timeout=3.0):
        with self._lock:
            self._closed = True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._active and time.monotonic() - self._last > quiet:
                    return
            time.sleep(0.01)


_GATE = _ExitGate()
atexit.register(_GATE.close)


def _unit_vectors(angles):
    return np.asarray(geometry.pitchyaw_to_vector(angles.astype(np.float64)), np.float64)


class PairSampler:
    """Draws partners b for samples a: same person, different pose, and gaze *or* head
    differing by at least `min_angle_deg`.

    Persons with fewer than two usable samples, or with no two samples far enough apart,
    are skipped and counted in one log line; `eligible` holds every sample that has at
    least one valid partner (exact, checked once at construction).
    """

    def __init__(self, index, min_angle_deg=0.0):
        if not index.has_gaze:
            raise ValueError(f"{index.description}: pairs need gaze labels (this index was built without gaze)")
        if min_angle_deg < 0:
            raise ValueError(f"min_angle_deg must be >= 0, got {min_angle_deg}")
        self.index = index
        self.min_angle_deg = float(min_angle_deg)
        self.threshold = max(self.min_angle_deg, POSE_EPS_DEG)
        self._vectors = np.concatenate([_unit_vectors(index.gaze), _unit_vectors(index.head)], axis=1)
        self.members, self.starts, self.counts = index.groups()
        eligible = np.zeros(len(index), bool)
        too_few = no_pair = 0
        for p, count in enumerate(self.counts):
            group = self.members[self.starts[p] : self.starts[p] + count]
            if count < 2:
                too_few += 1
                continue
            ok = self._has_partner(group)
            no_pair += not ok.any()
            eligible[group[ok]] = True
        if too_few or no_pair:
            log.warning(
                "%s: skipped %d of %d persons: %d with fewer than two usable samples, %d with no two "
                "samples differing by >= %g deg in gaze or head",
                index.description, too_few + no_pair, len(self.counts), too_few, no_pair, self.threshold,
            )
        self.eligible = np.flatnonzero(eligible)
        if not len(self.eligible):
            raise ValueError(
                f"{index.description}: no usable pairs (same person, gaze or head differing by "
                f">= {self.threshold:g} deg)"
            )

    def difference(self, a, b):
        """max(gaze angle, head angle) in degrees between samples a and b (broadcasting)."""
        va, vb = self._vectors[a], self._vectors[b]
        gaze = np.sum(va[..., :3] * vb[..., :3], axis=-1)
        head = np.sum(va[..., 3:] * vb[..., 3:], axis=-1)
        return np.degrees(np.arccos(np.clip(np.minimum(gaze, head), -1.0, 1.0)))

    def _has_partner(self, group):
        # Cheap sufficient test against two far-apart references, exact test for the rest.
        d0 = self.difference(group, group[0])
        d1 = self.difference(group, group[int(np.argmax(d0))])
        ok = np.maximum(d0, d1) >= self.threshold
        rest = np.flatnonzero(~ok)
        for s in range(0, len(rest), 256):
            chunk = rest[s : s + 256]
            ok[chunk] = (self.difference(group[chunk, None], group[None, :]) >= self.threshold).any(axis=1)
        return ok

    def partners(self, a, rng):
        """A valid partner for each sample id in `a` (all must be in `eligible`)."""
        p = self.index.person[a]
        b = np.empty_like(a)
        todo = np.arange(len(a))
        for _ in range(16):  # rejection sampling; nearly always done in a round or two
            b[todo] = self.members[self.starts[p[todo]] + rng.integers(0, self.counts[p[todo]])]
            todo = todo[self.difference(a[todo], b[todo]) < self.threshold]
            if not len(todo):
                return b
        for i in todo:  # exact fallback for samples with few valid partners
            group = self.members[self.starts[p[i]] : self.starts[p[i]] + self.counts[p[i]]]
            b[i] = rng.choice(group[self.difference(a[i], group) >= self.threshold])
        return b


def _id_stream(ids, seed, shuffle, infinite):
    """Dataset of sample ids: one epoch or endless epochs, each shuffled by (seed, epoch)."""
    ids = tf.constant(np.asarray(ids, np.int64))
    epochs = tf.data.Dataset.counter() if infinite else tf.data.Dataset.range(1)

    def epoch(e):
        order = tf.random.experimental.stateless_shuffle(ids, seed=tf.stack([tf.constant(seed, tf.int64), e]))
        return tf.data.Dataset.from_tensor_slices(order if shuffle else ids)

    return epochs.flat_map(epoch)


def _check_size(size):
    if int(size) != size or size < 8:
        raise ValueError(f"size must be an integer >= 8, got {size}")
    return int(size)


def pair_dataset(index, size, batch_size, seed=0, min_angle_deg=0.0, infinite=True, start=0, shards=1, shard_ids=None):
    """Batched pair records (`image_a, gaze_a, head_a, image_b, gaze_b, head_b`; uint8
    (B, size, size, 3) RGB and float32 (B, 2) radians) of one person and different poses.

    Each epoch visits every eligible sample once as `a` in a seeded random order, with a
    random valid partner `b` drawn per global batch of `batch_size`. infinite: endless
    epochs; else one epoch of floor(eligible / batch_size) batches (static batch shape).
    start: first global batch. shards: each global batch is cut into this many equal
    consecutive parts, and the stream yields, per global batch, the parts in `shard_ids`
    (default all), reading only their pixels. Deterministic per seed.
    """
    size = _check_size(size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if shards < 1 or batch_size % shards:
        raise ValueError(f"batch_size ({batch_size}) must be divisible by shards ({shards})")
    shard_ids = list(range(shards)) if shard_ids is None else [int(i) for i in shard_ids]
    if not shard_ids or min(shard_ids) < 0 or max(shard_ids) >= shards:
        raise ValueError(f"shard_ids must be a non-empty subset of range({shards}), got {shard_ids}")
    sampler = PairSampler(index, min_angle_deg)
    if not infinite and len(sampler.eligible) < batch_size:
        raise ValueError(
            f"{index.description}: one epoch has {len(sampler.eligible)} pair(s), fewer than batch_size={batch_size}"
        )
    seed = int(seed) & _SEED_MASK
    part = batch_size // shards
    gaze, head = tf.constant(index.gaze), tf.constant(index.head)

    def read(k, a, j):
        with _GATE.open():
            b = sampler.partners(a, np.random.default_rng([seed, int(k)]))
            cut = slice(int(j) * part, (int(j) + 1) * part)
            images = index.read(np.concatenate([a[cut], b[cut]]), size)
        return images[:part], images[part:], b[cut]

    def load(k, a, j):
        image_a, image_b, b = tf.numpy_function(read, [k, a, j], [tf.uint8, tf.uint8, tf.int64], stateful=False)
        shape = (part, size, size, 3)
        a = a[j * part : (j + 1) * part]
        b = tf.ensure_shape(b, (part,))
        return {
            "image_a": tf.ensure_shape(image_a, shape), "gaze_a": tf.gather(gaze, a), "head_a": tf.gather(head, a),
            "image_b": tf.ensure_shape(image_b, shape), "gaze_b": tf.gather(gaze, b), "head_b": tf.gather(head, b),
        }

    parts = tf.constant(shard_ids, tf.int64)
    ds = _id_stream(sampler.eligible, seed, True, infinite).batch(batch_size, drop_remainder=True).enumerate()
    ds = ds.skip(int(start)).flat_map(
        lambda k, a: tf.data.Dataset.from_tensor_slices(parts).map(lambda j: (k, a, j)))
    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)


def sample_dataset(index, size, shuffle=False, seed=0, infinite=False, block=32):
    """Sample records (`image` uint8 (size, size, 3) RGB, `gaze` and `head` float32 (2,)
    radians, `person` tf.string), one per sample: in index order (file, group, row) or
    shuffled per epoch by `seed`; one epoch or endless. Without gaze labels (inference
    index) records have no `gaze`. Pixels are read `block` samples per parallel call."""
    size = _check_size(size)
    seed = int(seed) & _SEED_MASK
    gaze, head = tf.constant(index.gaze), tf.constant(index.head)
    persons = tf.constant(np.array(index.persons, dtype=object))
    person = tf.constant(index.person)

    def read(ids):
        with _GATE.open():
            return index.read(ids, size)

    def load(ids):
        images = tf.numpy_function(read, [ids], tf.uint8, stateful=False)
        rec = {"image": tf.ensure_shape(images, (None, size, size, 3))}
        if index.has_gaze:
            rec["gaze"] = tf.gather(gaze, ids)
        rec["head"] = tf.gather(head, ids)
        rec["person"] = tf.gather(persons, tf.gather(person, ids))
        return rec

    ds = _id_stream(np.arange(len(index)), seed, shuffle, infinite).batch(block)
    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).unbatch().prefetch(tf.data.AUTOTUNE)
