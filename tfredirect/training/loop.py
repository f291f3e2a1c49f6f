"""The training job behind tools/train.py: data, strategy, checkpoints, logs, outputs.

Output directory layout:
    config.json        the resolved TrainConfig of the run (checked on --resume; repeat the run
                       with tools/train.py --config_json=<it> --out_dir=<new>)
    config-<step>.json the config a resumed run had up to <step>
    checkpoints/       tf.train.CheckpointManager checkpoints (models, optimizers, step)
    logs/              TensorBoard scalars (train/validation) and image grids, all at the generator
                       step (a resumed run continues its curves)
    redirector.keras   the trained generator
    sweep.png          gaze and head sweeps of test images (with exact renders on SynthGaze)
    summary.json       steps, time, throughput, FLOPs, final metrics, the resolved config
    consistency_estimator/  the frozen judge trained by --consistency_estimator=auto

Nothing is written or removed before the whole run is validated (config against the run
being resumed, checkpoint step, data, estimator path).
"""

import contextlib
import dataclasses
import glob
import json
import math
import os
import re
import shutil
import sys
import time
import zipfile

import keras
import tensorflow as tf

from tfredirect import profiling, visualize
from tfredirect.config import STRATEGIES, TrainConfig, migrate
from tfredirect.fileio import remove_orphan_temps, write_atomic, write_json_atomic
from tfredirect.data import PAIR_KEYS
from tfredirect.training.callbacks import (
    CheckpointEveryEpoch, GlobalStepTensorBoard, ImageGrid, StopAtStep, Throughput, batch_to_numpy)
from tfredirect.training.data import build_data
from tfredirect.models.redirector import Redirector
from tfredirect.training.gan import RedirectionGAN
from tfredirect.training.keras_compat import in_multi_worker_mode
from tfredirect.progress import keras_verbosity

OUTPUTS = ("config.json", "checkpoints", "logs", "redirector.keras", "sweep.png", "summary.json",
           "consistency_estimator")
FINAL_OUTPUTS = ("redirector.keras", "sweep.png", "summary.json")  # rewritten by a resumed run
# What a --resume may change besides a larger --steps: bookkeeping, not what is trained.
RESUME_MAY_CHANGE = ("checkpoint_every", "keep_checkpoints", "log_every", "val_batches", "strategy", "verbose")
_NOT_COMPARED = ("out_dir", "resume", "overwrite", "lr_segments") + RESUME_MAY_CHANGE
_STEP_KEY = "g_optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"


def make_strategy(name):
    """A tf.distribute strategy by name; `one_device` takes the first GPU if there is one,
    else the CPU; `multiworker` reads the cluster from TF_CONFIG."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.OneDeviceStrategy(devices[0].name)
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")


def _is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type in ("chief", None) or (
        resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()
    )


def _read_json(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read {path}: {err}") from None


def _flat(d, prefix=""):
    out = {}
    for key, value in d.items():
        out.update(_flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key: value})
    return out


def _resume_differences(old, cfg):
    """'field old->new' for every setting of `cfg` that differs from the resumed run's config
    (a dict) other than RESUME_MAY_CHANGE and a larger --steps; fields missing from an
    older config count as their defaults."""
    defaults = _flat(TrainConfig(out_dir="").to_dict())
    old, new = _flat(migrate(old)), _flat(json.loads(json.dumps(cfg.to_dict())))
    diffs = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key, defaults.get(key)), new.get(key, defaults.get(key))
        if key in _NOT_COMPARED or before == after or (key == "steps" and after > before):
            continue
        diffs.append(f"{key} {before!r}->{after!r}")
    return diffs


def _latest_checkpoint(ckpt_dir):
    """(path, generator step) of the newest checkpoint in `ckpt_dir`, or (None, 0)."""
    path = tf.train.latest_checkpoint(ckpt_dir) if os.path.isdir(ckpt_dir) else None
    if path is None:
        return None, 0
    try:
        return path, int(tf.train.load_variable(path, _STEP_KEY))
    except (tf.errors.OpError, ValueError) as err:
        raise ValueError(f"cannot read the step of checkpoint {path}: {str(err).splitlines()[0]}") from None


def _uses_estimator(cfg):
    return cfg.loss.consistency > 0 or cfg.loss.feature > 0


def _existing_outputs(out_dir):
    names = [name for name in OUTPUTS if os.path.exists(os.path.join(out_dir, name))]
    return names + sorted(os.path.basename(p) for p in glob.glob(os.path.join(out_dir, "config-*.json")))


def _check_run(cfg):
    """Validate --out_dir against --resume/--overwrite and the estimator path, writing
    nothing; returns (start step, the resumed run's config dict or None)."""
    path = os.path.join(cfg.out_dir, "config.json")
    if _uses_estimator(cfg):
        if not cfg.consistency_estimator:
            raise ValueError("--w_consistency or --w_feature > 0 needs --consistency_estimator (a "
                             "tools/train_estimator.py model, or auto)")
        est = cfg.consistency_estimator
        if est != "auto":
            inside = os.path.abspath(est).startswith(os.path.abspath(os.path.join(cfg.out_dir, "consistency_estimator")) + os.sep)
            if cfg.overwrite and inside:
                raise ValueError(f"--overwrite would delete --consistency_estimator {est}; copy it out of {cfg.out_dir} "
                                 "first")
            if not os.path.isfile(est) or not zipfile.is_zipfile(est):
                raise ValueError(f"--consistency_estimator: {est} is not a readable .keras file")
    if not cfg.resume:
        existing = _existing_outputs(cfg.out_dir)
        if existing and not cfg.overwrite:
            raise ValueError(
                f"{cfg.out_dir} already holds a run ({', '.join(existing)}); pass --resume to continue it "
                "or --overwrite to replace it"
            )
        return 0, None
    if not os.path.exists(path):
        raise ValueError(f"--resume: {path} not found; nothing to resume in {cfg.out_dir}")
    old = _read_json(path)
    diffs = _resume_differences(old, cfg)
    if diffs:
        raise ValueError(f"--resume: this run differs from {path}: {', '.join(diffs)}; a resume may only extend "
                         f"--steps and change {', '.join(RESUME_MAY_CHANGE)} (use a new --out_dir otherwise)")
    ckpt_dir = os.path.join(cfg.out_dir, "checkpoints")
    latest, start = _latest_checkpoint(ckpt_dir)
    if latest is None:
        raise ValueError(f"--resume: no checkpoint under {ckpt_dir}")
    finished = all(os.path.exists(os.path.join(cfg.out_dir, name)) for name in FINAL_OUTPUTS)
    if start >= cfg.steps and finished:
        raise ValueError(f"--resume: the run is already at step {start} >= --steps {cfg.steps}; pass a larger "
                         "--steps to extend it")
    return start, old


def _lr_segments(cfg, old, start_step):
    """The schedule pieces of this run: the resumed run's, plus [start, --steps] when this
    resume extends --steps (idempotent: a config already extended gains nothing)."""
    if old is None:
        return [[0, cfg.steps]]
    segments = [list(s) for s in old.get("lr_segments") or [[0, old["steps"]]]]
    if cfg.steps > segments[-1][1]:
        segments.append([start_step, cfg.steps])
    return segments


def _remove(path):
    shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def _commit_run(cfg, start_step):
    """After validation: remove what --overwrite replaces (or the final outputs a resume
    rewrites) and what killed writes left (checkpoint temp folders, and the temp files of
    outputs whose writer is gone), keep a resumed run's old config as config-<step>.json, and
    write config.json."""
    path = os.path.join(cfg.out_dir, "config.json")
    if cfg.resume:
        kept = os.path.join(cfg.out_dir, f"config-{start_step}.json")
        if not os.path.exists(kept):
            shutil.copyfile(path, kept)
        for name in FINAL_OUTPUTS:
            if os.path.exists(os.path.join(cfg.out_dir, name)):
                os.remove(os.path.join(cfg.out_dir, name))
    else:
        for name in _existing_outputs(cfg.out_dir):
            _remove(os.path.join(cfg.out_dir, name))
    for stale in glob.glob(os.path.join(cfg.out_dir, "checkpoints", "*_temp*")):
        _remove(stale)
    remove_orphan_temps(cfg.out_dir)
    os.makedirs(cfg.out_dir, exist_ok=True)
    write_json_atomic(path, cfg.to_dict())


@keras.saving.register_keras_serializable(package="tfredirect")
class PiecewiseCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Cosine decay to `alpha * lr` over each piece [start, end] of `segments`: the first
    from `lr` at step 0, each later one (a resume that extended --steps) from the rate the
    previous piece had reached at its start, so the rate never jumps. One piece [0, T] is
    keras' CosineDecay(lr, T, alpha)."""

    def __init__(self, lr, segments, alpha=0.05):
        self.lr, self.alpha = float(lr), float(alpha)
        self.segments = [[int(a), int(b)] for a, b in segments]
        self.starts = [self.lr]
        for i, (start, _) in enumerate(self.segments[1:]):
            self.starts.append(float(self._piece(i, self._fraction(i, start, min, max), math.cos)))

    def _fraction(self, i, step, lo, hi):
        start, end = self.segments[i]
        return lo(hi((step - start) / max(end - start, 1), 0.0), 1.0)

    def _piece(self, i, fraction, cos):
        floor = self.alpha * self.lr
        return floor + (self.starts[i] - floor) * 0.5 * (1.0 + cos(math.pi * fraction))

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        rate = None
        for i, (start, _) in enumerate(self.segments):
            value = self._piece(i, self._fraction(i, step, tf.minimum, tf.maximum), tf.cos)
            rate = value if rate is None else tf.where(step >= start, value, rate)
        return rate

    def get_config(self):
        return {"lr": self.lr, "segments": self.segments, "alpha": self.alpha}


def _optimizer(lr, segments, schedule, beta_1):
    if schedule == "cosine":
        lr = PiecewiseCosine(lr, segments, alpha=0.05)
    return keras.optimizers.Adam(lr, beta_1=beta_1, beta_2=0.999)


def train_step_flops(gan, batch_size=2):
    """FLOPs of one real `RedirectionGAN.train_step` on `batch_size` pairs (forward, losses,
    backward, both optimizer updates), by part: {top name scope: FLOPs}, a network's
    backward pass under "gradient_tape/<network>" (TF profiler over the traced graph; a
    multiply-add counts as two). Traced on a copy of `gan` with the same configs and
    estimator, built outside any distribution strategy; nothing is run."""
    copy = RedirectionGAN.from_config({**gan.get_config(), "estimator": gan.estimator})
    copy.compile()
    s = gan.model_config.image_size
    spec = {k: tf.TensorSpec((batch_size, s, s, 3) if k.startswith("image") else (batch_size, 2),
                             tf.uint8 if k.startswith("image") else tf.float32) for k in PAIR_KEYS}
    graph = tf.function(copy.train_step).get_concrete_function(spec).graph
    root = profiling.profile_flops(graph, cmd="scope")
    parts = {}

    def add(node):
        if node.children:
            for child in node.children:
                add(child)
            return
        names = node.name.split("/")
        scope = "/".join(names[:2]) if names[0] == "gradient_tape" and len(names) > 2 else names[0]
        scope = re.sub(r"_\d+$", "", scope)  # keras numbers each call's scope: decoder_1 -> decoder
        parts[scope] = parts.get(scope, 0) + int(node.total_float_ops)

    add(root)
    return parts


def train_flops_per_pair(gan, batch_size=2):
    """FLOPs of one training step per pair: the whole real train_step (train_step_flops)."""
    return sum(train_step_flops(gan, batch_size).values()) / batch_size


def _consistency_estimator(cfg, strategy, chief, size):
    """Path of the frozen estimator for the consistency loss; with "auto", one trained on the
    run's data (seed + 1, so it is not the judge that tools/train_estimator.py makes by
    default) in <out_dir>/consistency_estimator, or reused from there on resume. In a
    multi-worker job only the chief trains it; the others wait for it (an all-reduce) and
    read it from the shared --out_dir."""
    if not cfg.consistency_estimator:
        raise ValueError("--w_consistency > 0 needs --consistency_estimator (a tools/train_estimator.py model, "
                         "or auto)")
    if cfg.consistency_estimator != "auto":
        return cfg.consistency_estimator
    from tfredirect.training.estimation import EstimatorConfig, train_estimator

    est_dir = os.path.join(cfg.out_dir, "consistency_estimator")
    path = os.path.join(est_dir, "estimator.keras")
    if chief and not os.path.exists(path):
        print(f"training the consistency estimator ({cfg.consistency_estimator_steps} steps) in {est_dir}")
        summary = train_estimator(EstimatorConfig(
            out_dir=est_dir, data=cfg.data, data_path=cfg.data_path, size=size, steps=cfg.consistency_estimator_steps,
            seed=cfg.seed + 1, appearance=cfg.synth_appearance, verbose=cfg.verbose))
        print(f"wrote {path} ({summary['seconds']} s)")
    if in_multi_worker_mode(strategy):
        strategy.reduce("SUM", strategy.run(lambda: tf.constant(1.0)), axis=None)
        if not os.path.exists(path):
            raise ValueError(f"--consistency_estimator=auto: {path}, written by the chief, is not visible on this "
                             "worker; --out_dir must be on a filesystem all workers share")
    return path


def train(cfg):
    """Run (or resume) a training job; returns the summary dict (also written as JSON)."""
    t_start = time.perf_counter()
    strategy = make_strategy(cfg.strategy)
    if cfg.batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"--batch_size ({cfg.batch_size}) must be divisible by the number of replicas "
                         f"({strategy.num_replicas_in_sync})")
    chief = _is_chief(strategy)
    out_dir = cfg.out_dir if chief else os.path.join(cfg.out_dir, "workers", str(strategy.cluster_resolver.task_id))
    if chief:
        start_step, old = _check_run(cfg)
    else:
        # every worker resumes from the chief's checkpoints (a filesystem all workers share)
        start_step = _latest_checkpoint(os.path.join(cfg.out_dir, "checkpoints"))[1] if cfg.resume else 0
        old_path = os.path.join(cfg.out_dir, "config.json")
        old = _read_json(old_path) if cfg.resume and os.path.exists(old_path) else None
    cfg = dataclasses.replace(cfg, lr_segments=_lr_segments(cfg, old, start_step))
    keras.utils.set_random_seed(cfg.seed)
    model_cfg = cfg.model_config()
    data = build_data(cfg, model_cfg.image_size, start_step)  # checks the data before anything is written
    if chief:
        _commit_run(cfg, start_step)

    if cfg.precision == "mixed_bfloat16" and chief and not profiling.native_bfloat16():
        print("warning: --precision=mixed_bfloat16 on a CPU without AVX-512 BF16 or AMX: bfloat16 is emulated, about "
              "5x slower than --precision=float32 here", file=sys.stderr)
    # outside the scope: the chief trains an "auto" estimator alone
    estimator_path = _consistency_estimator(cfg, strategy, chief, model_cfg.image_size) if _uses_estimator(cfg) else None
    with strategy.scope():
        estimator = None
        if estimator_path:
            from tfredirect.training.estimation import load_estimator

            estimator = load_estimator(estimator_path)
        # the policy applies to the layers built now; the frozen estimator stays float32
        keras.mixed_precision.set_global_policy(cfg.precision)
        keras.utils.set_random_seed(cfg.seed)  # the same weights whether or not an estimator was just trained
        try:
            gan = RedirectionGAN(model_cfg, cfg.loss, seed=cfg.seed, estimator=estimator, swap_config=cfg.swap,
                                 gan_schedule=cfg.gan)
        finally:
            keras.mixed_precision.set_global_policy("float32")
        gan.compile(
            # beta1 0.9 lets the generator's autoencoding converge several times faster than
            # the GAN-customary 0.5, which the discriminator keeps
            g_optimizer=_optimizer(cfg.g_lr, cfg.lr_segments, cfg.lr_schedule, beta_1=0.9),
            d_optimizer=_optimizer(cfg.d_lr, cfg.lr_segments, cfg.lr_schedule, beta_1=0.5),
        )
    ckpt = tf.train.Checkpoint(gan=gan, g_optimizer=gan.g_optimizer, d_optimizer=gan.d_optimizer)
    manager = tf.train.CheckpointManager(ckpt, os.path.join(out_dir, "checkpoints"), max_to_keep=cfg.keep_checkpoints)
    step = lambda: int(gan.g_optimizer.iterations.numpy())
    if cfg.resume:
        latest = tf.train.latest_checkpoint(os.path.join(cfg.out_dir, "checkpoints"))
        if latest is None:
            raise ValueError(f"--resume: no checkpoint under {os.path.join(cfg.out_dir, 'checkpoints')}")
        ckpt.restore(latest).assert_existing_objects_matched()
    start_step = step()

    preview = batch_to_numpy(data.preview)
    # a resume from a step off the checkpoint grid stops exactly at --steps
    callbacks = [StopAtStep(cfg.steps, step), CheckpointEveryEpoch(manager, step)]
    throughput = Throughput(cfg.batch_size)
    callbacks.append(throughput)
    if chief:
        log_dir = os.path.join(out_dir, "logs")
        callbacks += [
            GlobalStepTensorBoard(log_dir, step, update_freq=cfg.log_every),
            ImageGrid(os.path.join(log_dir, "images"), preview, data.preview_truth, step),
        ]
    if start_step < cfg.steps:
        history = gan.fit(
            strategy.distribute_datasets_from_function(data.train),
            steps_per_epoch=cfg.checkpoint_every,
            epochs=cfg.steps // cfg.checkpoint_every,
            initial_epoch=start_step // cfg.checkpoint_every,
            validation_data=strategy.distribute_datasets_from_function(data.val),
            validation_steps=cfg.val_batches,
            callbacks=callbacks,
            shuffle=False,
            verbose=keras_verbosity(cfg.verbose),
        )
        final = {k: _finite_or_none(v[-1]) for k, v in history.history.items()}
    else:  # a resume of a run killed while writing its outputs: validate, then write them
        logs = gan.evaluate(strategy.distribute_datasets_from_function(data.val), steps=cfg.val_batches, return_dict=True, verbose=0)
        final = {f"val_{k}": _finite_or_none(v) for k, v in logs.items()}
    if not chief:
        shutil.rmtree(out_dir, ignore_errors=True)  # the scratch checkpoints of this worker
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(out_dir))  # workers/, once every worker has left
        return {"step": step(), "final_metrics": final}

    written = {}
    generator = float32_generator(gan.generator)
    written["redirector.keras"] = write_atomic(os.path.join(out_dir, "redirector.keras"), generator.save)
    sweep = visualize.sweep_grid(generator, data.sweep["image"], data.sweep["gaze"], data.sweep["head"], data.sweep_truth)
    written["sweep.png"] = visualize.write_png(os.path.join(out_dir, "sweep.png"), sweep, scale=max(1, 128 // model_cfg.image_size))
    pairs_per_s = throughput.pairs_per_second  # None for a run shorter than the timing window
    flops_pair = train_flops_per_pair(gan)
    compute_dtype = keras.mixed_precision.Policy(cfg.precision).compute_dtype
    peak = profiling.matmul_rate(dtype=compute_dtype)  # the rate the run's matmuls can reach
    rate = lambda scale, digits: None if pairs_per_s is None else round(scale * pairs_per_s, digits)
    summary = {
        "preset": cfg.preset,
        "data": data.description,
        "start_step": start_step,
        "step": step(),
        "wall_seconds": round(time.perf_counter() - t_start, 1),
        "replicas": strategy.num_replicas_in_sync,
        "train_pairs_per_second": rate(1, 2),
        "train_images_per_second": rate(2, 2),
        "redirect_gflop_per_image": round(profiling.redirector_flops(gan.generator) / 1e9, 4),
        "train_gflop_per_pair": round(flops_pair / 1e9, 4),
        "achieved_gflop_per_second": rate(flops_pair / 1e9, 2),
        "matmul_dtype": compute_dtype,
        "matmul_gflop_per_second": round(peak / 1e9, 2),
        "fraction_of_matmul_rate": rate(flops_pair / peak, 4),
        "final_metrics": final,
        "config": cfg.to_dict(),
        "outputs": written,
    }
    written["summary.json"] = os.path.join(out_dir, "summary.json")
    write_json_atomic(written["summary.json"], summary)
    return summary


def float32_generator(generator):
    """`generator` itself when it computes in float32, else a float32 copy with the same
    weights (a mixed_bfloat16 model is saved, exported and run in float32)."""
    if generator.dtype_policy.name == "float32" and generator.encoder.dtype_policy.name == "float32":
        return generator
    copy = Redirector(generator.config, name=generator.name, dtype="float32")
    copy.build()
    copy.set_weights(generator.get_weights())
    return copy


def _finite_or_none(value):
    """A float for JSON, None for NaN or inf (JSON has neither)."""
    value = float(value)
    return value if math.isfinite(value) else None
