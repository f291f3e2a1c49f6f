"""Target sampling: what each generated copy is redirected to (claim 4, [0021]).

The target kind is drawn per copy (gaze or head; or both in sequence) and the angles come
from a distribution the user picks: uniform within ranges, or a kernel density over the
dataset's own labels. Every draw is a pure function of (seed, source index, copy k), so a
resumed run, a run in other chunks and every shard of a sharded run draw exactly what one
uninterrupted process draws for the same sample.
"""

import dataclasses
import math

import numpy as np

from tfredirect import geometry
from tfredirect.augmentation.staging import fingerprint

KINDS = ("gaze", "head", "both")  # codes 0, 1, 2 in the `kind` provenance column
KIND_CHOICES = {"random": (0, 1), "mixed": (0, 1, 2), "gaze": (0,), "head": (1,), "both": (2,)}
TARGET_MODES = ("uniform", "kde")
CANDIDATES = 16  # draws per copy, to find a target within the eye-in-head range


@dataclasses.dataclass(frozen=True)
class TargetSampler:
    """Draws target kinds and angles, deterministically per (seed, source index, k).

    kind: "random" (gaze or head per copy, claim 4), "mixed" (gaze, head or both), "gaze",
    "head" or "both". mode "uniform": pitch/yaw uniform within +/- the ranges (degrees);
    "kde": the labels of a random dataset sample (gaze and head of the same sample, so
    "both" keeps combinations that occur) plus Gaussian noise of `bandwidth_deg` (Scott's
    rule per column when 0), clipped to the ranges. With `reference_gaze`/`reference_head`
    ((M, 2) radians) the kernel density is over those labels instead of the dataset's: e.g.
    full-range labels when the dataset itself covers a narrow range (tools/downstream.py).
    max_eye_in_head_deg: targets must keep the gaze within +/- this (pitch and yaw) of the
    head (`geometry.eye_in_head`), as faces can (SynthGaze's own range); 0 lifts the limit.
    Redirecting the gaze 50 deg left of a head turned 45 deg right asks for an eye no face has,
    and a label no redirector can honour.
    """

    kind: str = "random"
    mode: str = "uniform"
    gaze_range_deg: tuple = (40.0, 50.0)
    head_range_deg: tuple = (30.0, 45.0)
    bandwidth_deg: float = 0.0
    seed: int = 0
    max_eye_in_head_deg: float = 35.0
    reference_gaze: np.ndarray = dataclasses.field(default=None, compare=False)
    reference_head: np.ndarray = dataclasses.field(default=None, compare=False)

    def __post_init__(self):
        if self.kind not in KIND_CHOICES:
            raise ValueError(f"kind must be one of {sorted(KIND_CHOICES)}, got {self.kind!r}")
        if self.mode not in TARGET_MODES:
            raise ValueError(f"target distribution must be 'uniform' or 'kde', got {self.mode!r}")
        for name in ("gaze_range_deg", "head_range_deg"):
            r = tuple(float(v) for v in getattr(self, name))
            if len(r) != 2 or not all(0 < v <= 90 for v in r):
                raise ValueError(f"{name} must be two values in (0, 90] degrees, got {getattr(self, name)}")
            object.__setattr__(self, name, r)
        if not (math.isfinite(self.bandwidth_deg) and 0 <= self.bandwidth_deg <= 90):
            raise ValueError(f"bandwidth_deg must be in [0, 90] (0: Scott's rule), got {self.bandwidth_deg}")
        if not (math.isfinite(self.max_eye_in_head_deg) and 0 <= self.max_eye_in_head_deg <= 90):
            raise ValueError(f"max_eye_in_head_deg must be in [0, 90] (0: no limit), got {self.max_eye_in_head_deg}")
        if (self.reference_gaze is None) != (self.reference_head is None):
            raise ValueError("reference_gaze and reference_head go together")
        if self.reference_gaze is not None:
            ref = [np.asarray(getattr(self, n), np.float64) for n in ("reference_gaze", "reference_head")]
            if ref[0].ndim != 2 or ref[0].shape[1:] != (2,) or ref[0].shape != ref[1].shape or not len(ref[0]):
                raise ValueError(f"reference labels must be two (M, 2) arrays, got {ref[0].shape} and {ref[1].shape}")
            object.__setattr__(self, "reference_gaze", ref[0])
            object.__setattr__(self, "reference_head", ref[1])

    def draw(self, source_ids, k, labels_gaze, labels_head):
        """(kind (n,), target_gaze (n, 2), target_head (n, 2)) radians for sources at copy k;
        unchanged attributes keep the source labels. Of CANDIDATES draws per copy the first
        whose gaze and head a face can show (eye-in-head within max_eye_in_head_deg) is kept,
        else the one nearest to that range."""
        n, t = len(source_ids), CANDIDATES
        kinds = np.empty(n, np.int64)
        src_g = labels_gaze[source_ids].astype(np.float64)
        src_h = labels_head[source_ids].astype(np.float64)
        lim_g, lim_h = np.radians(self.gaze_range_deg), np.radians(self.head_range_deg)
        pool_g, pool_h = (labels_gaze, labels_head) if self.reference_gaze is None else \
            (self.reference_gaze, self.reference_head)
        bw_g, bw_h = self.bandwidth(pool_g, pool_h) if self.mode == "kde" else (None, None)
        cand_g, cand_h = np.empty((n, t, 2)), np.empty((n, t, 2))
        for j, sid in enumerate(source_ids):
            rng = np.random.default_rng([self.seed, int(sid), int(k)])
            kinds[j] = rng.choice(KIND_CHOICES[self.kind])
            if self.mode == "uniform":
                cand_g[j] = rng.uniform(-lim_g, lim_g, (t, 2))
                cand_h[j] = rng.uniform(-lim_h, lim_h, (t, 2))
            else:
                pick = rng.integers(0, len(pool_g), t)
                cand_g[j] = np.clip(pool_g[pick] + rng.normal(0, 1, (t, 2)) * bw_g, -lim_g, lim_g)
                cand_h[j] = np.clip(pool_h[pick] + rng.normal(0, 1, (t, 2)) * bw_h, -lim_h, lim_h)
        new_g = np.isin(kinds, (0, 2))[:, None, None]
        new_h = np.isin(kinds, (1, 2))[:, None, None]
        cand_g = np.where(new_g, cand_g, src_g[:, None])
        cand_h = np.where(new_h, cand_h, src_h[:, None])
        choice = np.zeros(n, np.int64)
        if self.max_eye_in_head_deg and n:
            eye = np.abs(np.asarray(geometry.eye_in_head(cand_g.reshape(-1, 2).astype(np.float32),
                                                         cand_h.reshape(-1, 2).astype(np.float32))))
            excess = np.maximum(eye - math.radians(self.max_eye_in_head_deg), 0).max(-1).reshape(n, t)
            choice = np.argmin(excess, axis=1)  # the first within the range, else the nearest
        rows = np.arange(n)
        return kinds, cand_g[rows, choice].astype(np.float32), cand_h[rows, choice].astype(np.float32)

    def bandwidth(self, gaze, head):
        """Kernel standard deviations (gaze (2,), head (2,)) in radians."""
        if self.bandwidth_deg:
            b = math.radians(self.bandwidth_deg)
            return np.array([b, b]), np.array([b, b])
        factor = max(len(gaze), 2) ** (-1.0 / 6.0)  # Scott's rule in two dimensions
        return np.nanstd(gaze, axis=0) * factor, np.nanstd(head, axis=0) * factor


def sampler_parameters(sampler):
    """A JSON-able description of a sampler (array fields as fingerprints)."""
    params = {"type": type(sampler).__name__}
    fields = dataclasses.fields(sampler) if dataclasses.is_dataclass(sampler) else ()
    for f in fields:
        v = getattr(sampler, f.name)
        if isinstance(v, np.ndarray):
            v = "sha256:" + fingerprint([v])
        elif isinstance(v, tuple):
            v = list(v)
        elif isinstance(v, np.generic):
            v = v.item()
        params[f.name] = v
    return params
