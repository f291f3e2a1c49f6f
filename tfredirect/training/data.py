"""Training data for a run: pair streams, preview pairs and sweep images, per source.

The train and validation streams are dataset functions for
`strategy.distribute_datasets_from_function`: global batch k is the same set of pairs
whatever the number of workers and replicas, and each input pipeline renders or reads only
its replicas' parts of it (replica r gets pairs [r * B / R, (r + 1) * B / R) of the batch).
"""

import dataclasses
import zlib
from typing import Callable, Optional

import numpy as np

from tfredirect.data.synthgaze import SynthGaze


@dataclasses.dataclass
class DataBundle:
    train: Callable  # InputContext or None -> endless tf.data.Dataset of per-replica pair batches
    val: Callable  # InputContext or None -> finite, repeatable tf.data.Dataset of per-replica pair batches
    preview: dict  # a few pairs (NumPy) for TensorBoard image grids
    preview_truth: Optional[np.ndarray]  # exact renders of image_a at b's labels (SynthGaze)
    sweep: dict  # images, gaze, head (NumPy) of a few test faces for the sweep picture
    sweep_truth: Optional[Callable]  # (gaze, head) -> exact renders of the sweep faces
    description: str


def shards(input_context, batch_size):
    """{shards, shard_ids} of an input pipeline: one part of each global batch per replica in
    sync, and the consecutive parts of this pipeline's replicas (all parts without a context)."""
    if input_context is None:
        return {"shards": 1, "shard_ids": None}
    replicas = input_context.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(f"--batch_size ({batch_size}) must be divisible by the number of replicas ({replicas})")
    local = replicas // input_context.num_input_pipelines
    first = input_context.input_pipeline_id * local
    return {"shards": replicas, "shard_ids": range(first, first + local)}


def _synthgaze(cfg, size, start_step):
    synth = SynthGaze(size=size, seed=cfg.seed, nuisance=cfg.synth_nuisance, appearance=cfg.synth_appearance)
    masks = cfg.eye_region == "rendered"  # the eye-region L1 weighs each image's own eyes
    rng = np.random.default_rng([cfg.seed, 99])
    pid, a, b = synth.pair_keys("val", 8, rng)
    preview = synth.pair_batch(pid, a, b)
    truth = synth.render_target(pid, a, gaze=preview["gaze_b"], head=preview["head_b"])
    # sweep: the four most frontal of 64 test samples, so sweeps stay natural
    tp = rng.choice(synth.persons("test"), 64)
    ti = rng.integers(0, 2**31 - 1, 64)
    _, heads = synth.labels(tp, ti)
    pick = np.argsort(np.linalg.norm(heads, axis=1))[:4]
    images, gaze, head = synth.render_samples(tp[pick], ti[pick])
    return DataBundle(
        # global batch k feeds step k, so a resumed run sees what an uninterrupted one would
        train=lambda ctx=None: synth.pairs("train", cfg.batch_size, seed=cfg.seed, start=start_step,
                                           eye_masks=masks, cross=cfg.loss.cross > 0, **shards(ctx, cfg.batch_size)),
        val=lambda ctx=None: synth.pairs("val", cfg.batch_size, seed=1, infinite=False, num_batches=cfg.val_batches,
                                         eye_masks=masks, **shards(ctx, cfg.batch_size)),
        preview=preview,
        preview_truth=truth,
        sweep={"image": images, "gaze": gaze, "head": head},
        sweep_truth=lambda g, h: synth.render_target(tp[pick], ti[pick], gaze=g, head=h),
        description=f"SynthGaze {size}x{size} (seed {cfg.seed}, {len(synth.persons('train'))} training persons)",
    )


def split_index(index, split, val_fraction=0.1):
    """The persons of a real dataset split by a stable hash of their id into 'train' and
    'val' (about `val_fraction` of persons); 'all' keeps everyone."""
    if split == "all":
        return index
    u = np.array([zlib.crc32(p.encode()) / 2**32 for p in index.persons])
    chosen = (u < val_fraction) if split == "val" else (u >= val_fraction)
    mask = chosen[index.person]
    renumber = np.cumsum(chosen) - 1  # old person number -> number among the chosen
    fields = ("gaze", "head", "location", "row")
    return dataclasses.replace(
        index, description=f"{index.description} [{split} persons]",
        persons=tuple(p for p, c in zip(index.persons, chosen) if c),
        person=renumber[index.person[mask]].astype(index.person.dtype),
        **{f: getattr(index, f)[mask] for f in fields})


def _real(cfg, size, start_step):
    from tfredirect.data import pairs, sources

    if not cfg.data_path:
        raise ValueError(f"--data={cfg.data} needs --data_path")
    index = sources.build_index(cfg.data, cfg.data_path)
    train_index, val_index = split_index(index, "train"), split_index(index, "val")
    if len(val_index) < 2 * cfg.batch_size:
        train_index = val_index = index  # too few persons to hold some out

    def train(ctx=None):
        return pairs.pair_dataset(train_index, size, cfg.batch_size, seed=cfg.seed, min_angle_deg=cfg.min_angle_deg,
                                  infinite=True, start=start_step, **shards(ctx, cfg.batch_size))

    def val(ctx=None):
        part = shards(ctx, cfg.batch_size)
        local = 1 if part["shard_ids"] is None else len(part["shard_ids"])
        return pairs.pair_dataset(val_index, size, cfg.batch_size, seed=1, min_angle_deg=cfg.min_angle_deg,
                                  infinite=True, **part).take(cfg.val_batches * local).cache()

    preview = {k: np.asarray(v)[:8] for k, v in next(iter(val())).items()}
    sweep = {"image": preview["image_a"][:4], "gaze": preview["gaze_a"][:4], "head": preview["head_a"][:4]}
    held_out = "held-out" if val_index is not train_index else "all (too few persons to hold out)"
    return DataBundle(train, val, preview, None, sweep, None,
                      f"{cfg.data} data at {cfg.data_path} ({len(train_index)} samples; validation: {held_out})")


def build_data(cfg, size, start_step=0):
    """DataBundle for `cfg.data` at the model's image size; training starts at global batch
    `start_step`."""
    if cfg.data == "synthgaze":
        return _synthgaze(cfg, size, start_step)
    if cfg.data in ("xgaze", "sted", "folder"):
        return _real(cfg, size, start_step)
    raise ValueError(f"unknown data source {cfg.data!r}")
