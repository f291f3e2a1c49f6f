"""Training and evaluating the independent GazeHeadEstimator (tools/train_estimator.py).

The estimator is trained with plain Keras `compile`/`fit` (L1 on pitch/yaw radians per
output) on batched sample records from SynthGaze or a real dataset.
"""

import os
import time

import keras
import numpy as np

from tfredirect import geometry, imaging
from tfredirect.config import EstimatorConfig  # noqa: F401  (the settings of train_estimator)
from tfredirect.fileio import write_atomic, write_json_atomic
from tfredirect.models.estimator import GazeHeadEstimator
from tfredirect.models.keras_file import load_keras_model
from tfredirect.progress import keras_verbosity

ESTIMATOR_CHANNELS = {32: (32, 64, 128), 64: (32, 64, 128, 128), 128: (32, 64, 128, 128, 128)}


@keras.saving.register_keras_serializable(package="tfredirect")
class AngularError(keras.metrics.Mean):
    """Mean angle in degrees between predicted and true pitch/yaw directions."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(geometry.angular_error(y_pred, y_true), sample_weight)


def to_xy(batch):
    """Sample-record batch -> (images in [-1, 1], {gaze, head}) for Keras fit."""
    return imaging.to_model_range(batch["image"]), {"gaze": batch["gaze"], "head": batch["head"]}


def build_estimator(size, seed=0):
    keras.utils.set_random_seed(seed)
    model = GazeHeadEstimator(size, ESTIMATOR_CHANNELS[size])
    model.build()
    return model


def compile_estimator(model, lr, steps):
    schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps, alpha=0.05)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss={"gaze": "mae", "head": "mae"},
        metrics={"gaze": [AngularError(name="deg")], "head": [AngularError(name="deg")]},
    )
    return model


def per_sample_errors(model, batches):
    """(gaze errors (n,), head errors (n,), true gaze (n, 2)): angular errors in degrees of the
    estimator over an iterable of sample-record batches, with the true gaze for binning."""
    g, h, truth = [], [], []
    for batch in batches:
        out = model(imaging.to_model_range(batch["image"]))
        g.append(np.asarray(geometry.angular_error(out["gaze"], batch["gaze"])))
        h.append(np.asarray(geometry.angular_error(out["head"], batch["head"])))
        truth.append(np.asarray(batch["gaze"]))
    return np.concatenate(g), np.concatenate(h), np.concatenate(truth)


def evaluate(model, batches):
    """Mean gaze and head angular errors (deg) over an iterable of sample-record batches."""
    gaze_err, head_err, _ = per_sample_errors(model, batches)
    return float(np.mean(gaze_err)), float(np.mean(head_err))


def synthgaze_test_batches(size, count=1024, batch_size=64, seed=0, nuisance="person", appearance="plain"):
    """Fixed full-range SynthGaze test-person batches (NumPy) for evaluation."""
    from tfredirect.data.synthgaze import SynthGaze

    synth = SynthGaze(size=size, seed=seed, nuisance=nuisance, appearance=appearance)
    pid, idx = synth.sample_keys("test", count, np.random.default_rng([seed, 4242]))
    out = []
    for s in range(0, count, batch_size):
        images, gaze, head = synth.render_samples(pid[s : s + batch_size], idx[s : s + batch_size])
        out.append({"image": images, "gaze": gaze, "head": head})
    return out


def training_batches(cfg):
    """Endless batched sample records for the config's data source."""
    if cfg.data == "synthgaze":
        from tfredirect.data.synthgaze import SynthGaze

        synth = SynthGaze(size=cfg.size, seed=cfg.seed, nuisance="person", appearance=cfg.appearance)
        return synth.sample_stream("train", cfg.batch_size, seed=cfg.seed, max_gaze_deg=cfg.max_gaze_deg or None)
    from tfredirect.data import sources

    return sources.make_samples(cfg.data, cfg.data_path, cfg.size, shuffle=True, seed=cfg.seed,
                                infinite=True).batch(cfg.batch_size, drop_remainder=True)


def train_estimator(cfg, batches=None, eval_batches=None):
    """Train, save `estimator.keras` and `summary.json` in cfg.out_dir; returns the summary.

    `batches` overrides the data (endless batched sample records); `eval_batches` (NumPy
    sample-record batches) defaults to SynthGaze full-range test persons for SynthGaze data.
    """
    path = os.path.join(cfg.out_dir, "estimator.keras")
    if os.path.exists(path) and not cfg.overwrite:
        raise ValueError(f"{path} exists; pass --overwrite to replace it")
    os.makedirs(cfg.out_dir, exist_ok=True)
    start = time.perf_counter()
    model = compile_estimator(build_estimator(cfg.size, cfg.seed), cfg.lr, cfg.steps)
    data = (batches if batches is not None else training_batches(cfg)).map(to_xy).prefetch(2)
    epochs = max(1, cfg.steps // 500)
    hist = model.fit(data, steps_per_epoch=cfg.steps // epochs, epochs=epochs, verbose=keras_verbosity(cfg.verbose),
                     shuffle=False)
    if eval_batches is None and cfg.data == "synthgaze":
        eval_batches = synthgaze_test_batches(cfg.size, seed=cfg.seed, appearance=cfg.appearance)
    summary = {
        "data": cfg.data if cfg.data == "synthgaze" else f"{cfg.data}:{cfg.data_path}",
        "steps": cfg.steps,
        "seconds": round(time.perf_counter() - start, 1),
        "final_train": {k: float(v[-1]) for k, v in hist.history.items()},
    }
    if eval_batches is not None:
        g, h = evaluate(model, eval_batches)
        summary.update(test_gaze_error_deg=g, test_head_error_deg=h)
    write_atomic(path, model.save)
    summary["model"] = path
    write_json_atomic(os.path.join(cfg.out_dir, "summary.json"), summary)
    return summary


def load_estimator(path):
    """The GazeHeadEstimator saved at `path` (tools/train_estimator.py); ValueError naming the
    file and what is wrong with it (missing, not a .keras archive, damaged config or
    weights, another model)."""
    return load_keras_model(path, GazeHeadEstimator, "a GazeHeadEstimator (tools/train_estimator.py)")

