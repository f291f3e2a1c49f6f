"""RedirectionGAN: the pair-swap adversarial training of claims 5-7 (Fig. 3, [0030]-[0055]).

One training step on a batch of same-person pairs (x_a, x_b) with labels:
1. encode and decompose both images (S101);
2. per sample, pick the target feature kind (gaze or head, claim 4) for a and for b
   independently ([0039]); rotate a's target feature to b's angle and b's to a's (CAS);
3. swap: b's rotated feature replaces a's feature of that kind and vice versa (S102);
   optionally swap the identity features too (claim 6);
4. decode x_a_hat and x_b_hat (S103); a warp decoder warps the partner image (x_b for
   x_a_hat), never the image it rebuilds;
5. update all modules from L1 similarity to x_a, x_b, the adversarial loss, the auxiliary
   label loss and the orthogonality loss (S104, claim 7); optionally an eye-region L1, a
   frozen estimator's judgement (consistency) and feature matching, flow smoothness, and
   two terms on image a redirected exactly as at inference: against SynthGaze's exact
   render (cross) or against a itself outside the eyes (keep).

Distribution: every loss is a per-sample vector reduced with `tf.nn.compute_average_loss`
(sum / global batch), because Keras optimizers sum gradients over replicas. Random choices
are stateless draws seeded by (seed, step, replica id), so replicas differ and runs repeat.
"""

import keras
import tensorflow as tf
from keras import ops

from tfredirect import geometry, imaging, losses, metrics
from tfredirect.config import GanSchedule, LossConfig, ModelConfig, SwapConfig
from tfredirect.data import PAIR_KEYS
from tfredirect.data.synthgaze import eye_region_map
from tfredirect.models.discriminator import PatchDiscriminator
from tfredirect.models.redirector import Redirector
from tfredirect.training.keras_compat import SkipSymbolicBuild, in_multi_worker_mode

_OPTIONAL_TERMS = ("consistency", "feature", "eye", "flow_smooth", "paint", "eyeball")  # weighted by the LossConfig field of that name
_TRACKERS = (
    "g_loss", "d_loss", "rec", "label", "orth", "adv", "adv_weight", "gaze_err", "head_err", "psnr", "cross",
    "keep", *_OPTIONAL_TERMS,
)


def _config(cls, value):
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        return cls(**value)
    if value is None:
        return cls()
    raise TypeError(f"expected {cls.__name__} or dict, got {type(value).__name__}")


@keras.saving.register_keras_serializable(package="tfredirect")
class RedirectionGAN(SkipSymbolicBuild, keras.Model):
    """Generator (`Redirector`) + `PatchDiscriminator` trained with the pair swap.

    Use: build inside `strategy.scope()`, `compile(g_optimizer=..., d_optimizer=...)`, then
    `fit(pairs)` where `pairs` yields batched pair records (tfredirect.data.PAIR_KEYS, uint8
    images). Optional int keys `kind_a`, `kind_b` (0 gaze, 1 head, 2 both) and `swap_id` (0/1) in
    the batch override the random choices; optional eye masks `eye_a`, `eye_b` (B, S, S) replace
    the fixed eye-region map of the eye term. `fit` skips Keras' symbolic build
    (SkipSymbolicBuild): __init__ builds the networks, compile the optimizers.
    """

    def __init__(self, model_config=None, loss_config=None, seed=0, estimator=None, swap_config=None,
                 gan_schedule=None, **kwargs):
        super().__init__(**kwargs)
        self.model_config = _config(ModelConfig, model_config)
        self.loss_config = _config(LossConfig, loss_config)
        self.swap_config = _config(SwapConfig, swap_config)
        self.gan_schedule = _config(GanSchedule, gan_schedule)
        self.seed = int(seed)
        for name in ("consistency", "feature"):
            if getattr(self.loss_config, name) > 0 and estimator is None:
                raise ValueError(f"loss_config.{name} > 0 needs a frozen `estimator` (GazeHeadEstimator)")
        # Optional frozen judge for the consistency loss; not part of the saved config.
        self.estimator = estimator
        if estimator is not None:
            if estimator.image_size != self.model_config.image_size:
                raise ValueError(f"estimator image size {estimator.image_size} != model's {self.model_config.image_size}")
            estimator.trainable = False
        self.generator = Redirector(self.model_config, name="generator")
        self.discriminator = PatchDiscriminator(
            self.model_config.image_size, self.model_config.disc_channels, name="discriminator"
        )
        self.generator.build()
        self.discriminator.build()
        self._eye_map = None
        self.built = True
        self.trackers = {name: keras.metrics.Mean(name=name) for name in _TRACKERS}
        self.g_optimizer = None
        self.d_optimizer = None

    @property
    def eye_map(self):
        """The fixed eye-region weights in normalized face coordinates, for batches without
        eye masks (real data has none); rendered on first use (about 30 s at 64 px), so a run
        with --eye_region=rendered never pays for it. Rendered eagerly (init_scope) when first
        asked for while a train step is traced."""
        if self._eye_map is None:
            with tf.init_scope():
                self._eye_map = eye_region_map(self.model_config.image_size)
        return self._eye_map

    @property
    def metrics(self):
        return list(self.trackers.values())

    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        """Attach and build the two optimizers (built now: lazy building fails under
        MirroredStrategy). Call inside the strategy scope that created the model.
        Keras' own `optimizer` is the generator's, so `fit` builds no third optimizer and
        TensorBoard logs the generator's learning rate and step."""
        if "optimizer" in kwargs:
            raise ValueError("RedirectionGAN.compile takes g_optimizer and d_optimizer, not optimizer")
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.999)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.999)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        super().compile(optimizer=self.g_optimizer, **kwargs)

    def call(self, inputs):
        """Reconstruct images in [-1, 1] through the generator; a pair batch (dict) uses its
        uint8 `image_a`, so Keras can build the model from a training batch."""
        if isinstance(inputs, dict):
            inputs = imaging.to_model_range(inputs["image_a"])
        return self.generator(inputs)

    # ------------------------------------------------------------------ helpers
    def _check_batch(self, data):
        """Static checks (ValueError at trace time) and label asserts (at run time)."""
        if not isinstance(data, dict):
            raise ValueError(f"RedirectionGAN expects dict batches with keys {PAIR_KEYS}, got {type(data).__name__}")
        missing = [k for k in PAIR_KEYS if k not in data]
        if missing:
            raise ValueError(f"pair batch is missing keys {missing}; expected {PAIR_KEYS}")
        size = self.model_config.image_size
        unknown = [k for k in PAIR_KEYS if data[k].shape.rank is None]
        if unknown:
            raise ValueError(f"pair batch {unknown} have unknown rank; give the dataset static shapes (tf.ensure_shape)")
        for key in ("image_a", "image_b"):
            shape = tuple(data[key].shape)
            if len(shape) != 4 or shape[1:] != (size, size, 3):
                raise ValueError(f"pair batch '{key}' must have shape (batch, {size}, {size}, 3), got {shape}")
        checks = []
        for key in ("gaze_a", "head_a", "gaze_b", "head_b"):
            shape = tuple(data[key].shape)
            if len(shape) != 2 or shape[-1] != 2:
                raise ValueError(f"pair batch '{key}' must have shape (batch, 2) = pitch/yaw radians, got {shape}")
            value = tf.cast(data[key], tf.float32)
            checks.append(tf.debugging.assert_all_finite(value, f"pair batch '{key}' has NaN or inf labels"))
            checks.append(
                tf.debugging.assert_less_equal(
                    tf.abs(value), geometry.MAX_YAW + 1e-4,
                    message=f"pair batch '{key}' has angles above pi: labels must be radians, not degrees",
                )
            )
        return checks

    def _choices(self, data, batch, step, offset):
        """Per-sample target kinds for a and b (0 gaze, 1 head, 2 both, chained as in [0021])
        and the identity-swap flags."""
        ctx = tf.distribute.get_replica_context()
        replica = ctx.replica_id_in_sync_group if ctx is not None else 0
        seed = tf.stack([
            tf.constant(self.seed + offset, tf.int64),
            tf.cast(step, tf.int64) * 65536 + tf.cast(replica, tf.int64),
        ])
        u = tf.random.stateless_uniform((batch, 3), seed=seed)
        sc = self.swap_config

        def kind(key, v):
            if key in data:
                return tf.cast(data[key], tf.int32)
            single = tf.where(v - sc.both_prob < sc.gaze_prob * (1.0 - sc.both_prob), 0, 1)
            return tf.where(v < sc.both_prob, 2, single)

        swap = data["swap_id"] > 0 if "swap_id" in data else u[:, 2] < sc.id_swap_prob
        return kind("kind_a", u[:, 0]), kind("kind_b", u[:, 1]), swap

    def swap_forward(self, data, kind_a, kind_b, swap_id):
        """Steps 1-4: encode both, rotate to the partner's angles, swap, decode. A kind is 0
        (gaze), 1 (head) or 2 (both); booleans mean head (True) or gaze (False)."""
        x_a = imaging.to_model_range(data["image_a"])
        x_b = imaging.to_model_range(data["image_b"])
        g_a, h_a = tf.cast(data["gaze_a"], tf.float32), tf.cast(data["head_a"], tf.float32)
        g_b, h_b = tf.cast(data["gaze_b"], tf.float32), tf.cast(data["head_b"], tf.float32)
        n = tf.shape(x_a)[0]
        both = self.generator.encode(ops.concatenate([x_a, x_b], axis=0))
        fa = {k: v[:n] for k, v in both.items()}
        fb = {k: v[n:] for k, v in both.items()}
        cas = self.generator.cas
        pick = lambda mask, yes, no: tf.where(mask[:, None, None], yes, no)
        # a's features with b's rotated target (of b's kind) swapped in, and vice versa.
        kind_a, kind_b = (tf.cast(k, tf.int32) for k in (kind_a, kind_b))
        zg_a = pick(kind_b != 1, cas(fb["z_g"], g_b, g_a), fa["z_g"])
        zh_a = pick(kind_b >= 1, cas(fb["z_h"], h_b, h_a), fa["z_h"])
        zg_b = pick(kind_a != 1, cas(fa["z_g"], g_a, g_b), fb["z_g"])
        zh_b = pick(kind_a >= 1, cas(fa["z_h"], h_a, h_b), fb["z_h"])
        zid_a = tf.where(swap_id[:, None], fb["z_id"], fa["z_id"])
        zid_b = tf.where(swap_id[:, None], fa["z_id"], fb["z_id"])
        # gaze / gaze_source: the geometric gaze flow moves the warp source's eyes (b's, then
        # a's) to the gaze of the image being rebuilt, whatever the kind
        target = {"z_id": ops.concatenate([zid_a, zid_b], 0), "z_g": ops.concatenate([zg_a, zg_b], 0),
                  "z_h": ops.concatenate([zh_a, zh_b], 0), "gaze": ops.concatenate([g_a, g_b], 0),
                  "gaze_source": ops.concatenate([g_b, g_a], 0)}
        # The warp source of x_a_hat is x_b (never the image being rebuilt, whose zero flow
        # would copy it), described by b's own unrotated features; and vice versa.
        source = {k: ops.concatenate([fb[k], fa[k]], 0) for k in ("z_g", "z_h")}
        parts = self.generator.synthesize(target, ops.concatenate([x_b, x_a], 0), source, return_parts=True)
        openings = self._eye_openings(data)
        return {
            "x": ops.concatenate([x_a, x_b], 0),
            "eye": self._dilated(openings),
            "eye_masks": openings,
            "x_hat": parts["image"],
            "flow": parts.get("coarse_flow"),
            "eyeball": parts.get("eye"),
            "mask": parts.get("mask"),
            "features": both,
            "gaze": ops.concatenate([g_a, g_b], 0),
            "head": ops.concatenate([h_a, h_b], 0),
        }

    @staticmethod
    def _eye_openings(data):
        """(2B, S, S) rendered eye openings of [x_a, x_b] (the batch's `eye_a`, `eye_b`;
        SynthGaze with eye_region=rendered), or None without masks."""
        if "eye_a" not in data:
            return None
        return ops.concatenate([tf.cast(data["eye_a"], tf.float32), tf.cast(data["eye_b"], tf.float32)], 0)

    @staticmethod
    def _dilated(openings):
        """Eye openings dilated by one pixel, so the lids and their rim count too (None stays)."""
        if openings is None:
            return None
        return ops.max_pool(openings[..., None], 3, strides=1, padding="same")[..., 0]

    def _generator_terms(self, out):
        """Per-image (2B,) reconstruction, label and orthogonality terms and aux errors."""
        f = out["features"]
        terms = {
            "rec": losses.reconstruction(out["x_hat"], out["x"]),
            "label": losses.label(f["gaze"], out["gaze"]) + losses.label(f["head"], out["head"]),
            "orth": losses.orthogonality(f["f_id"], f["f_res"]) + losses.orthogonality(f["z_g"], f["z_h"]),
            "gaze_err": geometry.angular_error(f["gaze"], out["gaze"]),
            "head_err": geometry.angular_error(f["head"], out["head"]),
            "psnr": metrics.psnr(out["x_hat"], out["x"], peak=2.0),
        }
        lc = self.loss_config
        if lc.eye > 0:
            weights = self.eye_map if out["eye"] is None else out["eye"]
            terms["eye"] = losses.eye_reconstruction(out["x_hat"], out["x"], weights)
        if lc.flow_smooth > 0 and out.get("flow") is not None:
            terms["flow_smooth"] = losses.flow_smoothness(out["flow"])
        if lc.paint > 0 and out.get("mask") is not None:
            terms["paint"] = losses.paint_share(out["mask"])
        if lc.eyeball > 0 and out.get("eyeball") is not None and out["eye_masks"] is not None:
            terms["eyeball"] = losses.eyeball_map(out["eyeball"][..., 0], out["eye_masks"])
        if self.estimator is not None:
            judged = self.estimator(out["x_hat"], return_features=lc.feature > 0)
            terms["consistency"] = losses.label(judged["gaze"], out["gaze"]) + losses.label(judged["head"], out["head"])
            if lc.feature > 0:
                real = self.estimator(out["x"], return_features=True)
                real = tf.nest.map_structure(tf.stop_gradient, real)
                terms["feature"] = (losses.feature_matching(judged["features"], real["features"])
                                    + losses.label(judged["gaze"], real["gaze"]) + losses.label(judged["head"], real["head"]))
        return terms

    def _cross_term(self, data, out):
        """Per-pair (B,) cross-redirection term (SynthGaze, LossConfig.cross): image a
        redirected exactly as at inference, from its own features with the gaze rotated to
        b's gaze (or the head to b's head, where `cross_head`), against the exact render of
        that target (`image_cross`): L1 plus the L1 over the fixed eye-region map. Unlike the
        pair swap, the decoder sees the image's own unrotated other feature here, and learns
        not to read the redirected attribute from it. Records whose `cross_weight` is 0 (no
        way is a face that can exist) count 0. `out` is swap_forward's: its images, features
        and labels are [a, b]."""
        n = tf.shape(data["image_a"])[0]
        g_a, g_b, h_a, h_b = out["gaze"][:n], out["gaze"][n:], out["head"][:n], out["head"][n:]
        head = tf.cast(data["cross_head"], tf.bool)[:, None]
        x_hat = self._redirect_a(out, tf.where(head, g_a, g_b), tf.where(head, h_b, h_a))
        truth = imaging.to_model_range(data["image_cross"])
        term = losses.reconstruction(x_hat, truth) + losses.eye_reconstruction(x_hat, truth, self.eye_map)
        return term * tf.cast(data["cross_weight"], term.dtype) if "cross_weight" in data else term

    def _keep_term(self, out):
        """Per-pair (B,) keep term (LossConfig.keep): image a redirected exactly as at
        inference, from its own features with only the gaze rotated to b's gaze, against a
        itself, weighted by 1 - the eye-region weights (the eye term's: the fixed map or a's
        rendered eyes): a gaze redirection changes nothing outside the eyes. The pair swap
        never decodes a target whose head equals its warp source's, so without this term the
        warp decoder moves the whole face a few pixels when only the gaze should change. Needs
        no exact render. `out` is swap_forward's."""
        n = tf.shape(out["gaze"])[0] // 2
        x_hat = self._redirect_a(out, out["gaze"][n:], None)
        eye = self.eye_map if out["eye"] is None else out["eye"][:n]
        return losses.eye_reconstruction(x_hat, out["x"][:n], 1.0 - ops.clip(eye, 0.0, 1.0))

    def _redirect_a(self, out, target_gaze, target_head):
        """Image a redirected exactly as `Redirector.redirect` does at inference: its own
        features (the first half of swap_forward's `out`) rotated from its labels to the
        targets (None keeps that attribute), decoded with a itself as the warp source."""
        n = tf.shape(out["gaze"])[0] // 2
        own = {k: v[:n] for k, v in out["features"].items()}
        target = self.generator.rotate(own, target_gaze, target_head, out["gaze"][:n], out["head"][:n])
        return self.generator.synthesize(target, out["x"][:n], own)

    def _critic(self, images):
        """Discriminator logits in float32 (its compute dtype may be bfloat16)."""
        return ops.cast(self.discriminator(images), "float32")

    def adv_weight(self, step):
        """Adversarial weight at `step`: 0 before the schedule's start, then a linear ramp to `adv`."""
        schedule = self.gan_schedule
        since = tf.cast(step, tf.float32) - schedule.start
        ramp = since / schedule.warmup if schedule.warmup else tf.cast(since >= 0, tf.float32)
        return self.loss_config.adv * tf.clip_by_value(ramp, 0.0, 1.0)

    def _update_trackers(self, values):
        for name, value in values.items():
            self.trackers[name].update_state(ops.mean(value))
        # Keras averages multi-worker logs over axis 0, which scalars lack: give them one
        multi = in_multi_worker_mode(tf.distribute.get_strategy())
        return {name: ops.reshape(self.trackers[name].result(), (1,) if multi else ()) for name in values}

    # ------------------------------------------------------------------ steps
    def train_step(self, data):
        data = keras.utils.unpack_x_y_sample_weight(data)[0]
        if self.g_optimizer is None:
            raise ValueError("RedirectionGAN: call compile(g_optimizer=..., d_optimizer=...) before fit")
        with tf.control_dependencies(self._check_batch(data)):
            step = tf.identity(self.g_optimizer.iterations)
        batch = tf.shape(data["image_a"])[0]
        kind_a, kind_b, swap = self._choices(data, batch, step, offset=0)
        lc = self.loss_config
        adv_w = self.adv_weight(step)
        avg = tf.nn.compute_average_loss  # sum / global batch: right under any strategy

        with tf.GradientTape() as tape:
            out = self.swap_forward(data, kind_a, kind_b, swap)
            terms = self._generator_terms(out)
            adv = losses.generator_adversarial(self._critic(out["x_hat"]))
            per_image = lc.rec * terms["rec"] + lc.label * terms["label"] + lc.orth * terms["orth"] + adv_w * adv
            for name in _OPTIONAL_TERMS:
                if name in terms:
                    per_image += getattr(lc, name) * terms[name]
            g_loss = avg(per_image)
            extra = {}
            if lc.cross > 0 and "image_cross" in data:
                extra["cross"] = self._cross_term(data, out)
                g_loss += lc.cross * avg(extra["cross"])
            if lc.keep > 0:
                extra["keep"] = self._keep_term(out)
                g_loss += lc.keep * avg(extra["keep"])
        g_vars = self.generator.trainable_variables
        self.g_optimizer.apply(tape.gradient(g_loss, g_vars), g_vars)

        x_fake = tf.stop_gradient(out["x_hat"])
        with tf.GradientTape() as tape:
            d_per_image = losses.discriminator(self._critic(out["x"]), self._critic(x_fake))
            d_loss = avg(d_per_image)
        d_vars = self.discriminator.trainable_variables
        self.d_optimizer.apply(tape.gradient(d_loss, d_vars), d_vars)

        return self._update_trackers({
            "g_loss": per_image,
            "d_loss": d_per_image,
            "adv": adv,
            "adv_weight": tf.fill([1], adv_w),
            **terms,
            **extra,
        })

    def test_step(self, data):
        data = keras.utils.unpack_x_y_sample_weight(data)[0]
        self._check_batch(data)
        batch = tf.shape(data["image_a"])[0]
        kind_a, kind_b, swap = self._choices(data, batch, 0, offset=7919)
        terms = self._generator_terms(self.swap_forward(data, kind_a, kind_b, swap))
        return self._update_trackers({k: terms[k] for k in ("rec", "gaze_err", "head_err", "psnr")})

    def get_config(self):
        return {
            **super().get_config(),
            "model_config": self.model_config.to_dict(),
            "loss_config": self.loss_config.to_dict(),
            "swap_config": self.swap_config.to_dict(),
            "gan_schedule": self.gan_schedule.to_dict(),
            "seed": self.seed,
        }
