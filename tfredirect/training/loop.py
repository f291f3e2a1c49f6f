"""The training job behind tools/train.py: data, strategy, checkpoints, logs, outputs.

Output directory layout:
    config.json        the TrainConfig of the run (checked on --resume)
    checkpoints/       tf.train.CheckpointManager checkpoints (models, optimizers, step)
    logs/              TensorBoard scalars (train/validation) and image grids
    redirector.keras   the trained generator
    sweep.png          gaze and head sweeps of test images (with exact renders on SynthGaze)
    summary.json       steps, time, throughput, FLOPs, final metrics
"""

import dataclasses
import json
import os
import shutil
import time

import keras
import tensorflow as tf

from tfredirect import profiling, visualize
from tfredirect.config import LossConfig, preset
from tfredirect.training.callbacks import CheckpointEveryEpoch, ImageGrid, Throughput, batch_to_numpy
from tfredirect.training.data import build_data
from tfredirect.training.gan import RedirectionGAN

STRATEGIES = ("default", "one_device", "mirrored", "multiworker")
OUTPUTS = ("config.json", "checkpoints", "logs", "redirector.keras", "sweep.png", "summary.json")


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs; tools/train.py fills it from flags."""

    out_dir: str
    preset: str = "demo"
    data: str = "synthgaze"  # synthgaze | xgaze | sted | folder
    data_path: str = ""
    synth_nuisance: str = "person"  # SynthGaze light/background: per "person" or per "image"
    min_angle_deg: float = 0.0  # real data: minimum gaze/head difference within a pair
    batch_size: int = 16  # global batch (split across replicas)
    steps: int = 3000
    g_lr: float = 1.5e-3
    d_lr: float = 2e-4
    lr_schedule: str = "cosine"  # cosine | constant
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    consistency_estimator: str = ""  # GazeHeadEstimator .keras judging outputs (loss.consistency > 0), or "auto"
    consistency_estimator_steps: int = 2500  # "auto": train one on the run's data first, for this many steps
    seed: int = 0
    strategy: str = "default"
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 25
    val_batches: int = 4
    resume: bool = False
    overwrite: bool = False
    verbose: int = 1

    def __post_init__(self):
        if isinstance(self.loss, dict):
            self.loss = LossConfig(**self.loss)
        preset(self.preset)
        for name in ("batch_size", "steps", "checkpoint_every", "keep_checkpoints", "log_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.steps % self.checkpoint_every:
            raise ValueError(
                f"steps ({self.steps}) must be a multiple of checkpoint_every ({self.checkpoint_every})"
            )
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        if self.g_lr <= 0 or self.d_lr <= 0:
            raise ValueError("learning rates must be positive")
        if self.resume and self.overwrite:
            raise ValueError("--resume and --overwrite exclude each other")

    def to_dict(self):
        return dataclasses.asdict(self)


def make_strategy(name):
    """A tf.distribute strategy by name; `multiworker` reads the cluster from TF_CONFIG."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(tf.config.list_logical_devices("CPU")[0].name)
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


def _prepare_out_dir(cfg):
    """Refuse to clobber a previous run unless --overwrite; check the config on --resume."""
    path = os.path.join(cfg.out_dir, "config.json")
    existing = [name for name in OUTPUTS if os.path.exists(os.path.join(cfg.out_dir, name))]
    if cfg.resume:
        if not os.path.exists(path):
            raise ValueError(f"--resume: {path} not found; nothing to resume in {cfg.out_dir}")
        with open(path) as fh:
            old = json.load(fh)
        for key in ("preset", "batch_size", "data", "seed"):
            if old.get(key) != getattr(cfg, key):
                raise ValueError(
                    f"--resume: {path} was written with {key}={old.get(key)!r}, this run has {getattr(cfg, key)!r}"
                )
        for name in ("redirector.keras", "sweep.png", "summary.json"):
            if os.path.exists(os.path.join(cfg.out_dir, name)):
                os.remove(os.path.join(cfg.out_dir, name))
    elif existing:
        if not cfg.overwrite:
            raise ValueError(
                f"{cfg.out_dir} already holds a run ({', '.join(existing)}); pass --resume to continue it "
                "or --overwrite to replace it"
            )
        for name in existing:
            target = os.path.join(cfg.out_dir, name)
            shutil.rmtree(target) if os.path.isdir(target) else os.remove(target)
    os.makedirs(cfg.out_dir, exist_ok=True)
    with open(path, "w") as fh:
        json.dump(cfg.to_dict(), fh, indent=2)


def _optimizer(lr, steps, schedule, beta_1):
    if schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps, alpha=0.05)
    return keras.optimizers.Adam(lr, beta_1=beta_1, beta_2=0.999)


def _write_atomic(path, writer):
    tmp = path + ".tmp" + os.path.splitext(path)[1]
    writer(tmp)
    os.replace(tmp, path)
    return path


def train_flops_per_pair(gan, batch_size=2):
    """FLOPs of one training step per pair (forward, backward, both networks)."""
    s = gan.model_config.image_size
    img = tf.TensorSpec((batch_size, s, s, 3), tf.uint8)
    ang = tf.TensorSpec((batch_size, 2), tf.float32)

    def step(ia, ga, ha, ib, gb, hb):
        data = dict(image_a=ia, gaze_a=ga, head_a=ha, image_b=ib, gaze_b=gb, head_b=hb)
        head_a, head_b, swap = gan._choices(data, batch_size, 0, 0)
        with tf.GradientTape() as tape:
            out = gan.swap_forward(data, head_a, head_b, swap)
            terms = gan._generator_terms(out)
            fake = gan.discriminator(out["x_hat"])
            loss = tf.reduce_mean(terms["rec"] + terms["label"] + terms["orth"]) + tf.reduce_mean(fake)
        g = tape.gradient(loss, gan.generator.trainable_variables)
        with tf.GradientTape() as tape:
            d = tf.reduce_mean(gan.discriminator(out["x"])) - tf.reduce_mean(gan.discriminator(tf.stop_gradient(out["x_hat"])))
        return g, tape.gradient(d, gan.discriminator.trainable_variables)

    return profiling.count_flops(step, [img, ang, ang, img, ang, ang]) / batch_size


def _consistency_estimator(cfg, out_dir, size):
    """Path of the frozen estimator for the consistency loss; with "auto", one trained on the
    run's data (seed + 1, so it is not the judge that tools/train_estimator.py makes by
    default) in <out_dir>/consistency_estimator, or reused from there on resume."""
    if not cfg.consistency_estimator:
        raise ValueError("--w_consistency > 0 needs --consistency_estimator (a tools/train_estimator.py model, "
                         "or auto)")
    if cfg.consistency_estimator != "auto":
        return cfg.consistency_estimator
    from tfredirect.training.estimation import EstimatorConfig, train_estimator

    est_dir = os.path.join(out_dir, "consistency_estimator")
    path = os.path.join(est_dir, "estimator.keras")
    if not os.path.exists(path):
        print(f"training the consistency estimator ({cfg.consistency_estimator_steps} steps) in {est_dir}")
        summary = train_estimator(EstimatorConfig(
            out_dir=est_dir, data=cfg.data, data_path=cfg.data_path, size=size, steps=cfg.consistency_estimator_steps,
            seed=cfg.seed + 1, verbose=cfg.verbose))
        print(f"wrote {path} ({summary['seconds']} s)")
    return path


def train(cfg):
    """Run (or resume) a training job; returns the summary dict (also written as JSON)."""
    t_start = time.perf_counter()
    strategy = make_strategy(cfg.strategy)
    chief = _is_chief(strategy)
    if chief:
        _prepare_out_dir(cfg)
    out_dir = cfg.out_dir if chief else os.path.join(cfg.out_dir, "workers", str(strategy.cluster_resolver.task_id))
    keras.utils.set_random_seed(cfg.seed)
    model_cfg = preset(cfg.preset)

    with strategy.scope():
        estimator = None
        if cfg.loss.consistency > 0:
            from tfredirect.training.estimation import load_estimator

            estimator = load_estimator(_consistency_estimator(cfg, out_dir, model_cfg.image_size))
        gan = RedirectionGAN(model_cfg, cfg.loss, seed=cfg.seed, estimator=estimator)
        gan.compile(
            # beta1 0.9 lets the generator's autoencoding converge several times faster than
            # the GAN-customary 0.5, which the discriminator keeps
            g_optimizer=_optimizer(cfg.g_lr, cfg.steps, cfg.lr_schedule, beta_1=0.9),
            d_optimizer=_optimizer(cfg.d_lr, cfg.steps, cfg.lr_schedule, beta_1=0.5),
        )
    ckpt = tf.train.Checkpoint(gan=gan, g_optimizer=gan.g_optimizer, d_optimizer=gan.d_optimizer)
    manager = tf.train.CheckpointManager(ckpt, os.path.join(out_dir, "checkpoints"), max_to_keep=cfg.keep_checkpoints)
    step = lambda: int(gan.g_optimizer.iterations.numpy())
    if cfg.resume:
        if manager.latest_checkpoint is None:
            raise ValueError(f"--resume: no checkpoint under {os.path.join(out_dir, 'checkpoints')}")
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    start_step = step()
    if start_step >= cfg.steps:
        raise ValueError(f"--resume: the run is already at step {start_step} >= --steps {cfg.steps}")

    data = build_data(cfg, model_cfg.image_size, start_step)
    preview = batch_to_numpy(data.preview)
    callbacks = [CheckpointEveryEpoch(manager, step)]
    throughput = Throughput(cfg.batch_size)
    callbacks.append(throughput)
    if chief:
        log_dir = os.path.join(out_dir, "logs")
        callbacks += [
            keras.callbacks.TensorBoard(log_dir, update_freq=cfg.log_every, write_graph=False, profile_batch=0),
            ImageGrid(os.path.join(log_dir, "images"), preview, data.preview_truth, step),
        ]
    history = gan.fit(
        data.train,
        steps_per_epoch=cfg.checkpoint_every,
        epochs=cfg.steps // cfg.checkpoint_every,
        initial_epoch=start_step // cfg.checkpoint_every,
        validation_data=data.val,
        validation_steps=cfg.val_batches,
        callbacks=callbacks,
        shuffle=False,
        verbose=cfg.verbose,
    )
    final = {k: float(v[-1]) for k, v in history.history.items()}
    if not chief:
        return {"step": step(), "final_metrics": final}

    written = {}
    written["redirector.keras"] = _write_atomic(os.path.join(out_dir, "redirector.keras"), gan.generator.save)
    sweep = visualize.sweep_grid(gan.generator, data.sweep["image"], data.sweep["gaze"], data.sweep["head"], data.sweep_truth)
    written["sweep.png"] = visualize.write_png(os.path.join(out_dir, "sweep.png"), sweep, scale=max(1, 128 // model_cfg.image_size))
    pairs_per_s = throughput.pairs_per_second
    flops_pair = train_flops_per_pair(gan)
    peak = profiling.matmul_rate()
    summary = {
        "preset": cfg.preset,
        "data": data.description,
        "start_step": start_step,
        "step": step(),
        "wall_seconds": round(time.perf_counter() - t_start, 1),
        "replicas": strategy.num_replicas_in_sync,
        "train_pairs_per_second": round(pairs_per_s, 2),
        "train_images_per_second": round(2 * pairs_per_s, 2),
        "redirect_gflop_per_image": round(profiling.redirector_flops(gan.generator) / 1e9, 4),
        "train_gflop_per_pair": round(flops_pair / 1e9, 4),
        "achieved_gflop_per_second": round(flops_pair * pairs_per_s / 1e9, 2),
        "matmul_gflop_per_second": round(peak / 1e9, 2),
        "fraction_of_matmul_rate": round(flops_pair * pairs_per_s / peak, 4),
        "final_metrics": final,
        "outputs": written,
    }
    written["summary.json"] = os.path.join(out_dir, "summary.json")
    with open(written["summary.json"], "w") as fh:
        json.dump(summary, fh, indent=2)
    return summary
