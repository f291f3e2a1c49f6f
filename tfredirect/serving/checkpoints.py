"""Load a trained generator from a `.keras` file or a tools/train.py run / checkpoint."""

import json
import os

import tensorflow as tf

from tfredirect.models import load_redirector


def load_generator(path):
    """A Redirector from `path`: a redirector `.keras` file, a training run directory (its
    latest checkpoint), or a checkpoint prefix inside a run (`<run>/checkpoints/ckpt-N`).
    Raises ValueError naming the path when it is missing or does not match its config."""
    if path.endswith(".keras"):
        return load_redirector(path)
    run_dir, prefix = path, None
    if not os.path.isdir(path):
        if not os.path.exists(path + ".index"):
            raise ValueError(f"{path}: no such model file, run directory or checkpoint")
        prefix, run_dir = path, os.path.dirname(os.path.dirname(os.path.abspath(path)))
    config_path = os.path.join(run_dir, "config.json")
    if not os.path.exists(config_path):
        raise ValueError(f"{path}: not a training run (no {config_path})")
    with open(config_path) as fh:
        cfg = json.load(fh)
    prefix = prefix or tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    if prefix is None:
        raise ValueError(f"{path}: the run has no checkpoint under {os.path.join(run_dir, 'checkpoints')}")
    from tfredirect.config import preset
    from tfredirect.training.gan import RedirectionGAN

    gan = RedirectionGAN(preset(cfg["preset"]), cfg.get("loss"), seed=cfg.get("seed", 0))
    try:
        tf.train.Checkpoint(gan=gan).restore(prefix).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as err:
        first = (str(err).strip().splitlines() or ["mismatch"])[0][:300]
        raise ValueError(f"{prefix}: checkpoint does not match preset '{cfg['preset']}' of {config_path}: {first}") from err
    return gan.generator
