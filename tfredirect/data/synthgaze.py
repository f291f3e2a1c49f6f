"""SynthGaze: the built-in procedural face dataset with exact ground truth.

Every image is a deterministic function of (dataset seed, person id, sample index): the
person fixes the identity parameters, the sample fixes gaze, head pose and nuisance (light,
background). So for any sample the *true* image at any other (gaze, head) can be rendered
with the same identity and nuisance (`render_target`), which is the yardstick for
redirection. Persons are split into disjoint train/val/test sets by id.

Randomness is counter-based (SplitMix64 of the key), so any sample can be drawn alone, in
any order, vectorized, with the same result.
"""

import dataclasses
import functools
import math
import os

import numpy as np
import tensorflow as tf

from tfredirect import geometry
from tfredirect.data import sted
from tfredirect.data.synthgaze_render import (
    IDENTITY_FIELDS,
    NUISANCE_FIELDS,
    SUPPORTED_SIZES,
    check_appearance,
    head_rotation,
    mask_names,
    pitchyaw_vector_np,
    render_arrays,
    scene_params,
)
from tfredirect.progress import Progress

SPLITS = ("train", "val", "test")
# Label ranges in radians (ETH-XGaze convention): (max |pitch|, max |yaw|).
HEAD_RANGE = (math.radians(30), math.radians(45))
GAZE_RANGE = (math.radians(40), math.radians(50))
EYE_IN_HEAD_RANGE = (math.radians(35), math.radians(35))
# Uniform ranges of the identity parameters (see synthgaze_render.IDENTITY_FIELDS).
IDENTITY_RANGES = {
    "skin_tone": (0.0, 1.0),
    "skin_warmth": (0.0, 1.0),
    "hair_dark": (0.0, 1.0),
    "hair_red": (0.0, 1.0),
    "hair_line": (0.42, 0.78),
    "hair_length": (-0.3, 0.7),
    "iris_hue": (0.0, 1.0),
    "iris_dark": (0.0, 1.0),
    "face_width": (0.9, 1.1),
    "face_height": (0.93, 1.07),
    "eye_spacing": (0.92, 1.08),
    "eye_size": (0.92, 1.15),
    "nose_size": (0.8, 1.25),
    "mouth_width": (0.8, 1.2),
    "brow_thickness": (0.6, 1.5),
    "brow_height": (-2.0, 3.0),
}
# Nuisance ranges: light direction (rad), intensity, ambient, background colour, gradient.
NUISANCE_RANGES = {
    "light_azimuth": (math.radians(-50), math.radians(50)),
    "light_elevation": (math.radians(-15), math.radians(45)),
    "light_intensity": (0.5, 0.85),
    "ambient": (0.22, 0.45),
    "bg_r": (0.08, 0.92),
    "bg_g": (0.08, 0.92),
    "bg_b": (0.08, 0.92),
    "bg_gradient": (0.0, 0.35),
}
# Per-image jitter around a person's nuisance when nuisance="person" (half-widths).
PERSON_JITTER = {"light_azimuth": 0.12, "light_elevation": 0.12, "light_intensity": 0.05, "ambient": 0.03,
                 "bg_r": 0.03, "bg_g": 0.03, "bg_b": 0.03, "bg_gradient": 0.03}

_STREAMS = {"split": 1, "identity": 2, "labels": 3, "nuisance": 4, "person_nuisance": 5}
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x):
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
    return x ^ (x >> np.uint64(31))


def hash_uniform(seed, stream, person, index, count):
    """Uniform [0, 1) floats of shape (N, count), a pure function of the integer keys."""
    person = np.asarray(person, np.uint64).reshape(-1)
    index = np.broadcast_to(np.asarray(index, np.uint64), person.shape)
    with np.errstate(over="ignore"):
        key = _splitmix64(np.uint64(seed) ^ (np.uint64(_STREAMS[stream]) << np.uint64(56)))
        key = _splitmix64(key ^ person)
        key = _splitmix64(key ^ (index * np.uint64(0x632BE59BD9B4E019)))
        lanes = _splitmix64(key[:, None] ^ np.arange(1, count + 1, dtype=np.uint64)[None])
    return (lanes >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _scale(u, ranges):
    lo = np.array([r[0] for r in ranges.values()])
    hi = np.array([r[1] for r in ranges.values()])
    return lo + (hi - lo) * u


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_label_range(angles, name, limits):
    """check_pitchyaw plus the SynthGaze range of this label (ValueError naming `name`)."""
    return geometry.check_pitchyaw(angles, name, source="SynthGaze", max_abs=(limits[0] + 1e-5, limits[1] + 1e-5))


def render(identity_params, gaze, head, nuisance, size, supersample=2, return_masks=False, appearance="plain"):
    """Render uint8 RGB images (N, size, size, 3) of given identities, labels and nuisance.

    identity_params: (N, len(IDENTITY_FIELDS)); nuisance: (N, len(NUISANCE_FIELDS));
    gaze, head: (N, 2) pitch/yaw radians. With `return_masks`, also a dict of float
    coverage maps (N, size, size): `eye` (visible eyeball), `iris` (iris and pupil),
    `nose_tip`, `face`. appearance: "plain" (flat colours) or "textured" (iris, skin and
    brow textures, a corneal glint and camera effects; see synthgaze_render), each a pure
    function of the arguments.
    """
    check_appearance(appearance)
    if size not in SUPPORTED_SIZES:
        raise ValueError(f"size must be one of {SUPPORTED_SIZES}, got {size!r}")
    _positive_int("supersample", supersample)
    identity_params = np.asarray(identity_params, np.float32)
    nuisance = np.asarray(nuisance, np.float32)
    n = len(identity_params)
    if identity_params.ndim != 2 or identity_params.shape[1] != len(IDENTITY_FIELDS):
        raise ValueError(f"identity_params must have shape (N, {len(IDENTITY_FIELDS)}), got {identity_params.shape}")
    if nuisance.shape != (n, len(NUISANCE_FIELDS)):
        raise ValueError(f"nuisance must have shape ({n}, {len(NUISANCE_FIELDS)}), got {nuisance.shape}")
    gaze = check_label_range(gaze, "gaze", GAZE_RANGE)
    head = check_label_range(head, "head", HEAD_RANGE)
    for name, arr in (("gaze", gaze), ("head", head)):
        if arr.shape != (n, 2):
            raise ValueError(f"{name} must have shape ({n}, 2), got {arr.shape}")
    if not (np.all(np.isfinite(identity_params)) and np.all(np.isfinite(nuisance))):
        raise ValueError("identity_params and nuisance must be finite")
    params = scene_params(identity_params, gaze, head, nuisance, appearance)
    images, masks = render_arrays(params, size, supersample, appearance=appearance)
    if not return_masks:
        return images
    return images, {name: masks[..., i] for i, name in enumerate(mask_names())}


def sample_labels(seed, person, index):
    """Gaze and head (N, 2) radians for samples, within the documented ranges.

    Head is uniform in its range; the eye-in-head direction is uniform within +/-35 deg
    per axis; of 8 candidates the first whose camera-frame gaze is within range is kept
    (else the eyes look straight ahead, which is always in range).
    """
    tries = 8
    u = hash_uniform(seed, "labels", person, index, 2 + 2 * tries)
    head = np.stack([(2 * u[:, 0] - 1) * HEAD_RANGE[0], (2 * u[:, 1] - 1) * HEAD_RANGE[1]], -1)
    m = head_rotation(head)
    gaze = head.copy()
    done = np.zeros(len(head), bool)
    for k in range(tries):
        eye = np.stack([(2 * u[:, 2 + 2 * k] - 1) * EYE_IN_HEAD_RANGE[0],
                        (2 * u[:, 3 + 2 * k] - 1) * EYE_IN_HEAD_RANGE[1]], -1)
        v = np.einsum("nij,nj->ni", m, pitchyaw_vector_np(eye))
        cand = np.stack([np.arcsin(np.clip(-v[:, 1], -1, 1)), np.arctan2(-v[:, 0], -v[:, 2])], -1)
        ok = (np.abs(cand[:, 0]) <= GAZE_RANGE[0]) & (np.abs(cand[:, 1]) <= GAZE_RANGE[1]) & ~done
        gaze[ok] = cand[ok]
        done |= ok
    return gaze.astype(np.float32), head.astype(np.float32)


def one_attribute_ways_in_range(gaze_a, head_a, gaze_b, head_b):
    """(gaze way, head way) per pair, NumPy bool: whether a redirected to b's gaze (b's gaze
    under a's head), and a redirected to b's head (a's gaze under b's head), keep the eyes
    within EYE_IN_HEAD_RANGE, as faces can."""
    return (geometry.within_eye_range(gaze_b, head_a, EYE_IN_HEAD_RANGE),
            geometry.within_eye_range(gaze_a, head_b, EYE_IN_HEAD_RANGE))


@dataclasses.dataclass(frozen=True)
class SynthGaze:
    """The SynthGaze dataset: persons, samples, pairs, exact targets and h5 export.

    size: image size (one of synthgaze_render.SUPPORTED_SIZES); seed: dataset seed;
    num_persons: persons 0..num_persons-1, split by a hash of (seed, id) into
    train/val/test with the given fractions; samples_per_person: samples in finite views
    (`samples`, finite `pairs`, `write_h5`); nuisance: "image" (drawn per image) or
    "person" (drawn per person with small per-image jitter); appearance: "plain" (flat
    colours, the default) or "textured" (per-person iris, skin and brow textures, a corneal
    glint and per-image camera effects, all pure functions of the sample, so `render_target`
    stays exact).
    """

    size: int = 64
    seed: int = 0
    num_persons: int = 2000
    samples_per_person: int = 16
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    nuisance: str = "image"
    supersample: int = 2
    appearance: str = "plain"

    def __post_init__(self):
        if self.size not in SUPPORTED_SIZES:
            raise ValueError(f"size must be one of {SUPPORTED_SIZES}, got {self.size!r}")
        _positive_int("num_persons", self.num_persons)
        _positive_int("samples_per_person", self.samples_per_person)
        _positive_int("supersample", self.supersample)
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        for name in ("val_fraction", "test_fraction"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("val_fraction + test_fraction must leave some training persons")
        if self.nuisance not in ("image", "person"):
            raise ValueError(f"nuisance must be 'image' or 'person', got {self.nuisance!r}")
        check_appearance(self.appearance)

    # ------------------------------------------------------------------ ids and parameters
    def persons(self, split):
        """Person ids (int64, sorted) of a split."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        ids = np.arange(self.num_persons, dtype=np.int64)
        u = hash_uniform(self.seed, "split", ids, 0, 1)[:, 0]
        which = np.where(u < self.test_fraction, 2, np.where(u < self.test_fraction + self.val_fraction, 1, 0))
        return ids[which == SPLITS.index(split)]

    def identity(self, person_ids):
        """Identity parameters (N, len(IDENTITY_FIELDS)) float32 of persons."""
        u = hash_uniform(self.seed, "identity", person_ids, 0, len(IDENTITY_FIELDS))
        return _scale(u, IDENTITY_RANGES).astype(np.float32)

    def nuisance_params(self, person_ids, sample_indices):
        """Nuisance parameters (N, len(NUISANCE_FIELDS)) float32 of samples."""
        if self.nuisance == "image":
            u = hash_uniform(self.seed, "nuisance", person_ids, sample_indices, len(NUISANCE_FIELDS))
            return _scale(u, NUISANCE_RANGES).astype(np.float32)
        base = _scale(hash_uniform(self.seed, "person_nuisance", person_ids, 0, len(NUISANCE_FIELDS)), NUISANCE_RANGES)
        jitter = np.array([PERSON_JITTER[k] for k in NUISANCE_FIELDS])
        u = hash_uniform(self.seed, "nuisance", person_ids, sample_indices, len(NUISANCE_FIELDS))
        lo = np.array([r[0] for r in NUISANCE_RANGES.values()])
        hi = np.array([r[1] for r in NUISANCE_RANGES.values()])
        return np.clip(base + (2 * u - 1) * jitter, lo, hi).astype(np.float32)

    def labels(self, person_ids, sample_indices):
        """(gaze, head), each (N, 2) float32 radians, of samples."""
        return sample_labels(self.seed, person_ids, sample_indices)

    def _keys(self, person_ids, sample_indices):
        pid = np.asarray(person_ids, np.int64).reshape(-1)
        idx = np.broadcast_to(np.asarray(sample_indices, np.int64), pid.shape).reshape(-1)
        if np.any(pid < 0) or np.any(pid >= self.num_persons):
            raise ValueError(f"person_ids must be in [0, {self.num_persons}), got range [{pid.min()}, {pid.max()}]")
        if np.any(idx < 0):
            raise ValueError("sample_indices must be non-negative")
        return pid, idx

    # ------------------------------------------------------------------ rendering
    def render_samples(self, person_ids, sample_indices, return_masks=False):
        """(images uint8 (N,S,S,3), gaze (N,2), head (N,2)) [+ masks] of samples."""
        pid, idx = self._keys(person_ids, sample_indices)
        gaze, head = self.labels(pid, idx)
        out = render(self.identity(pid), gaze, head, self.nuisance_params(pid, idx), self.size,
                     self.supersample, return_masks, appearance=self.appearance)
        if return_masks:
            return out[0], gaze, head, out[1]
        return out, gaze, head

    def render_target(self, person_ids, sample_indices, gaze=None, head=None, return_masks=False):
        """The exact image of each sample's identity and nuisance at new labels (None keeps
        the sample's own) - the ground truth of a redirection; with `return_masks` also its
        masks (as `render`)."""
        pid, idx = self._keys(person_ids, sample_indices)
        own_gaze, own_head = self.labels(pid, idx)
        gaze = own_gaze if gaze is None else check_label_range(gaze, "gaze", GAZE_RANGE)
        head = own_head if head is None else check_label_range(head, "head", HEAD_RANGE)
        return render(self.identity(pid), gaze, head, self.nuisance_params(pid, idx), self.size, self.supersample,
                      return_masks, appearance=self.appearance)

    # ------------------------------------------------------------------ tf.data views
    def _sample_signature(self):
        s = self.size
        return {
            "image": tf.TensorSpec((s, s, 3), tf.uint8),
            "gaze": tf.TensorSpec((2,), tf.float32),
            "head": tf.TensorSpec((2,), tf.float32),
            "person": tf.TensorSpec((), tf.string),
        }

    def samples(self, split, chunk_persons=16):
        """Finite tf.data.Dataset of sample records: every person of the split x
        samples_per_person, in id order."""
        persons = self.persons(split)
        k = self.samples_per_person

        def gen():
            for s in range(0, len(persons), chunk_persons):
                pid = np.repeat(persons[s : s + chunk_persons], k)
                idx = np.tile(np.arange(k), len(pid) // k)
                images, gaze, head = self.render_samples(pid, idx)
                for i in range(len(pid)):
                    yield {"image": images[i], "gaze": gaze[i], "head": head[i], "person": str(pid[i]).encode()}

        return tf.data.Dataset.from_generator(gen, output_signature=self._sample_signature())

    def sample_keys(self, split, count, rng, fresh=True, max_gaze_deg=None):
        """(person, index) arrays of `count` samples of a split; `max_gaze_deg` keeps only
        samples whose |gaze pitch| and |gaze yaw| are below it (a narrow-pose subset)."""
        persons = self.persons(split)
        if len(persons) == 0:
            raise ValueError(f"split '{split}' has no persons (num_persons={self.num_persons})")
        high = 2**31 - 1 if fresh else self.samples_per_person
        pid, idx = np.empty(0, np.int64), np.empty(0, np.int64)
        for _ in range(1000):
            p = rng.choice(persons, 4 * count if max_gaze_deg else count)
            i = rng.integers(0, high, len(p))
            if max_gaze_deg:
                gaze, _ = self.labels(p, i)
                keep = np.all(np.abs(np.degrees(gaze)) < max_gaze_deg, axis=1)
                p, i = p[keep], i[keep]
            pid, idx = np.concatenate([pid, p]), np.concatenate([idx, i])
            if len(pid) >= count:
                return pid[:count], idx[:count]
        raise ValueError(f"could not draw {count} samples with |gaze| < {max_gaze_deg} deg")

    def sample_stream(self, split, batch_size, seed=0, fresh=True, max_gaze_deg=None):
        """Endless tf.data.Dataset of batched sample records (image, gaze, head; no person),
        rendered on the fly; deterministic for a given `seed`."""
        batch_size = _positive_int("batch_size", batch_size)

        def gen():
            rng = np.random.default_rng([self.seed, int(seed), 7, SPLITS.index(split)])
            while True:
                images, gaze, head = self.render_samples(*self.sample_keys(split, batch_size, rng, fresh, max_gaze_deg))
                yield {"image": images, "gaze": gaze, "head": head}

        s = self.size
        sig = {"image": tf.TensorSpec((batch_size, s, s, 3), tf.uint8),
               "gaze": tf.TensorSpec((batch_size, 2), tf.float32), "head": tf.TensorSpec((batch_size, 2), tf.float32)}
        return tf.data.Dataset.from_generator(gen, output_signature=sig).prefetch(2)

    def pair_keys(self, split, count, rng, fresh=True, min_angle_deg=0.0):
        """(person, index_a, index_b) arrays of `count` same-person pairs with a != b.

        fresh: indices anywhere in [0, 2**31) (unlimited poses); else in
        [0, samples_per_person). min_angle_deg: gaze or head must differ by at least this.
        """
        persons = self.persons(split)
        if len(persons) == 0:
            raise ValueError(f"split '{split}' has no persons (num_persons={self.num_persons})")
        high = 2**31 - 1 if fresh else self.samples_per_person
        if high < 2:
            raise ValueError("pairs need samples_per_person >= 2 when fresh=False")
        pid = rng.choice(persons, count)
        a = rng.integers(0, high, count)
        b = (a + rng.integers(1, high, count)) % high
        if min_angle_deg > 0:
            for _ in range(64):
                ga, ha = self.labels(pid, a)
                gb, hb = self.labels(pid, b)
                diff = np.maximum(np.asarray(geometry.angular_error(ga, gb)), np.asarray(geometry.angular_error(ha, hb)))
                bad = diff < min_angle_deg
                if not bad.any():
                    break
                b[bad] = (a[bad] + rng.integers(1, high, int(bad.sum()))) % high
            else:
                raise ValueError(f"could not find pairs differing by min_angle_deg={min_angle_deg}")
        return pid, a, b

    def pair_batch(self, pid, a, b, eye_masks=False, cross=False):
        """A batch of pair records (dict of NumPy arrays) for given keys; `eye_masks` adds
        each image's visible-eyeball coverage (N, S, S) float32 as `eye_a`, `eye_b`;
        `cross` adds `image_cross`, the exact render of sample a redirected to b's gaze (even
        records, `cross_head` 0) or to b's head (odd records, `cross_head` 1), the rest of a
        kept: what a one-attribute redirection of image_a should give. Where that way asks for
        eyes beyond their range in the head and the other way does not, the record takes the
        other way; `cross_weight` is 0 where neither is a face that can exist, else 1."""
        out = self.render_samples(np.concatenate([pid, pid]), np.concatenate([a, b]), return_masks=eye_masks)
        images, gaze, head = out[:3]
        n = len(pid)
        batch = {
            "image_a": images[:n], "gaze_a": gaze[:n], "head_a": head[:n],
            "image_b": images[n:], "gaze_b": gaze[n:], "head_b": head[n:],
        }
        if eye_masks:
            batch.update(eye_a=out[3]["eye"][:n], eye_b=out[3]["eye"][n:])
        if cross:
            ok_gaze, ok_head = one_attribute_ways_in_range(batch["gaze_a"], batch["head_a"], batch["gaze_b"],
                                                           batch["head_b"])
            cross_head = np.arange(n) % 2 == 1
            cross_head = np.where(cross_head, ok_head | ~ok_gaze, ~ok_gaze & ok_head)
            gaze_to = np.where(cross_head[:, None], batch["gaze_a"], batch["gaze_b"])
            head_to = np.where(cross_head[:, None], batch["head_b"], batch["head_a"])
            batch.update(image_cross=self.render_target(pid, a, gaze=gaze_to, head=head_to),
                         cross_head=cross_head.astype(np.int32), cross_weight=(ok_gaze | ok_head).astype(np.float32))
        return batch

    def pairs(self, split, batch_size, seed=0, infinite=True, fresh=True, min_angle_deg=0.0, num_batches=None,
              start=0, shards=1, shard_ids=None, eye_masks=False, cross=False):
        """tf.data.Dataset of batched same-person pair records (PAIR_KEYS).

        Global batch k (k = start, start + 1, ...) of `batch_size` pairs has keys drawn by a
        generator seeded with (dataset seed, `seed`, split, k), so a stream can start at any
        batch and repeats exactly. infinite: endless; otherwise `num_batches` global batches
        (default: one pass over persons x samples / 2). shards: each global batch is cut
        into this many equal consecutive parts of batch_size / shards pairs, and the stream
        yields, per global batch, the parts in `shard_ids` (default all), rendering only
        those: input pipelines of a multi-worker job each render their own share.
        eye_masks: records also carry `eye_a`, `eye_b`; cross: `image_cross`, `cross_head`
        (see `pair_batch`).
        """
        batch_size = _positive_int("batch_size", batch_size)
        shards = _positive_int("shards", shards)
        if batch_size % shards:
            raise ValueError(f"batch_size ({batch_size}) must be divisible by shards ({shards})")
        shard_ids = list(range(shards)) if shard_ids is None else [int(i) for i in shard_ids]
        if not shard_ids or min(shard_ids) < 0 or max(shard_ids) >= shards:
            raise ValueError(f"shard_ids must be a non-empty subset of range({shards}), got {shard_ids}")
        if not infinite:
            total = len(self.persons(split)) * self.samples_per_person // 2
            num_batches = num_batches or max(1, total // batch_size)
            _positive_int("num_batches", num_batches)
        part = batch_size // shards

        def gen():
            k = int(start)
            while infinite or k < start + num_batches:
                rng = np.random.default_rng([self.seed, int(seed), SPLITS.index(split), k])
                pid, a, b = self.pair_keys(split, batch_size, rng, fresh, min_angle_deg)
                for j in shard_ids:
                    cut = slice(j * part, (j + 1) * part)
                    yield self.pair_batch(pid[cut], a[cut], b[cut], eye_masks, cross)
                k += 1

        s = self.size
        img = tf.TensorSpec((part, s, s, 3), tf.uint8)
        ang = tf.TensorSpec((part, 2), tf.float32)
        sig = {"image_a": img, "gaze_a": ang, "head_a": ang, "image_b": img, "gaze_b": ang, "head_b": ang}
        if eye_masks:
            sig.update(eye_a=tf.TensorSpec((part, s, s), tf.float32), eye_b=tf.TensorSpec((part, s, s), tf.float32))
        if cross:
            sig.update(image_cross=img, cross_head=tf.TensorSpec((part,), tf.int32),
                       cross_weight=tf.TensorSpec((part,), tf.float32))
        return tf.data.Dataset.from_generator(gen, output_signature=sig).prefetch(2)

    # ------------------------------------------------------------------ export
    def write_h5(self, path, split, overwrite=False, chunk_persons=16, verbose=0, stream=None):
        """Write a split in the ST-ED layout with the ST-ED writer (`sted.write`: atomic,
        streaming): one group per person (zero-padded id), `pixels` (N,S,S,3) uint8 RGB and
        `labels` (N,8) float32 [gaze p/y, head p/y, left-eye p/y, right-eye p/y] (both eyes
        along the gaze, as SynthGaze renders them). An existing file is kept unless
        `overwrite`. `verbose` (0 silent, 1 a bar on a terminal, 2 lines) reports the persons
        rendered and the rate on `stream` (stderr). Returns (persons, samples)."""
        if os.path.exists(path) and not overwrite:
            raise ValueError(f"{path} exists; pass overwrite=True to replace it")
        persons = self.persons(split)
        if len(persons) == 0:
            raise ValueError(f"split '{split}' has no persons")
        k = self.samples_per_person

        def blocks(progress):
            for s in range(0, len(persons), chunk_persons):
                chunk = persons[s : s + chunk_persons]
                images, gaze, head = self.render_samples(np.repeat(chunk, k), np.tile(np.arange(k), len(chunk)))
                labels = sted.labels(gaze, head, np.concatenate([gaze, gaze], axis=1))
                for j, person in enumerate(chunk):
                    yield f"{person:06d}", {"pixels": images[j * k : (j + 1) * k], "labels": labels[j * k : (j + 1) * k]}
                progress.update(len(chunk))

        attrs = dict(source="SynthGaze", seed=self.seed, size=self.size, split=split, nuisance=self.nuisance,
                     appearance=self.appearance)
        with Progress(len(persons), f"SynthGaze {split}", "persons", verbose, stream) as progress:
            return sted.write(path, blocks(progress), attrs=attrs, overwrite=overwrite)


@functools.lru_cache(maxsize=4)
def eye_region_map(size, samples=1024, seed=0):
    """A fixed (size, size) float32 weight map of where eyes are in normalized faces: the
    visible-eyeball coverage of SynthGaze test faces averaged over the whole head and gaze
    range, scaled to a maximum of 1. The faces are normalized as real datasets are (MODEL.md),
    so the map serves real data, which has no eye masks, as well as SynthGaze."""
    synth = SynthGaze(size=size, seed=seed)
    pid, idx = synth.sample_keys("test", samples, np.random.default_rng([seed, 7]))
    masks = synth.render_samples(pid, idx, return_masks=True)[3]
    coverage = masks["eye"].mean(axis=0)
    return (coverage / coverage.max()).astype(np.float32)
