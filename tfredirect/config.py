"""Model and training configurations, and the presets `tiny`, `demo` and `base`: the one place
where a setting, its default, its check and its help are written.

`tiny` (32x32) is for unit tests, `demo` (64x64) trains on 2 CPU cores in minutes, `base`
(128x128, the field's usual input) is meant for GPUs. `PRESETS` holds their model sizes,
`TRAIN_PRESETS` their whole training recipes (`TrainConfig.from_preset`). A training config
has sections by concept: loss weights (`LossConfig`), the swap's random choices
(`SwapConfig`) and the adversarial schedule (`GanSchedule`). `EstimatorConfig` trains the
independent gaze/head estimator. Model configs are frozen dataclasses so a model can be
rebuilt exactly from the dict stored in its `.keras` file.
"""

import dataclasses
import json

SUPPORTED_SIZES = (32, 64, 128)
NORMALIZED_FOCAL_224 = 960.0  # focal length (px) of the normalized camera for a 224 px patch (ETH-XGaze)
UPSAMPLE = ("first", "mid")  # where a decoder stage doubles its resolution (ModelConfig.upsample)
# decoder outputs (models.decoder): decoded colour, warp + colour, warp + anchored colour + gain
DECODER_OUTPUTS = ("rgb", "warp", "move")
# how the geometric gaze flow moves the pixels of the eyeball map (ModelConfig.eyeball): "added"
# (the learned flow plus the iris displacement), "rigid" (the flow of the face around the eye plus
# the iris displacement) or "own" (rigid, and the moved eyeball shows its own pixels: no colour,
# no brightness gain)
EYEBALL_MOTIONS = ("added", "rigid", "own")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Sizes of the generator (encoder, IAD, CAS, decoder) and discriminator."""

    image_size: int = 64
    channels: tuple = (32, 64, 128, 256)  # encoder widths, one stride-2 stage each
    face_dim: int = 256  # face feature f (encoder output)
    split_dim: int = 128  # width of f_id and f_res (equal, so orthogonality is defined)
    id_dim: int = 128  # identity feature z_id
    rot_dim: int = 16  # F in the 3xF gaze and head features
    head_hidden: int = 64  # hidden width of the auxiliary pitch/yaw heads
    groups: int = 0  # GroupNormalization groups in residual blocks; 0 = none (SkipInit gates)
    disc_channels: tuple = (32, 64, 128)  # PatchGAN widths, one stride-2 stage each
    # decoder output: "rgb" (colour), "warp" (warp the source + colour, blended) or "move"
    # (warp + colour anchored to the source's colours, re-lit by a brightness gain)
    decoder: str = "rgb"
    flow_stride: int = 2  # warp decoder: the flow is predicted at image_size / flow_stride, then upsampled
    # highest-resolution encoder and decoder stages (each) with depthwise-separable convolutions
    separable_stages: int = 0
    # where a decoder stage doubles the resolution: "first" (both convolutions at the new size)
    # or "mid" (after the first convolution, which then costs a quarter)
    upsample: str = "first"
    # the normalized camera of the faces it was trained on (focal 960 px per 224 px of image at
    # this distance): photos are normalized the same way, so that their faces have the training
    # faces' size and place (CAMERA_DISTANCE_MM)
    camera_distance_mm: float = 720.0
    # warp decoders: the eyeball radius (mm) of the geometric gaze flow, which moves the pixels
    # the decoder marks as eyeball by the iris's own displacement for the requested gaze change
    # (geometry.gaze_shift); 0 = no geometric flow, every move is learned
    gaze_flow_mm: float = 0.0
    eyeball: str = "added"  # with gaze_flow_mm: EYEBALL_MOTIONS

    def __post_init__(self):
        if self.image_size not in SUPPORTED_SIZES:
            raise ValueError(
                f"image_size must be one of {SUPPORTED_SIZES}, got {self.image_size}"
            )
        if self.image_size % (2 ** len(self.channels)):
            raise ValueError(
                f"image_size {self.image_size} is not divisible by 2**{len(self.channels)} "
                f"(one halving per encoder stage in channels={self.channels})"
            )
        for name in ("face_dim", "split_dim", "id_dim", "rot_dim", "head_hidden"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.groups < 0:
            raise ValueError(f"groups must be >= 0, got {self.groups}")
        for c in self.channels:
            if self.groups and c % self.groups:
                raise ValueError(f"channels {self.channels} must be multiples of groups={self.groups}")
        if self.decoder not in DECODER_OUTPUTS:
            raise ValueError(f"decoder must be one of {DECODER_OUTPUTS}, got {self.decoder!r}")
        if self.flow_stride not in [2**i for i in range(len(self.channels))]:
            raise ValueError(f"flow_stride must be a power of 2 below 2**{len(self.channels)} (a decoder stage's "
                             f"resolution), got {self.flow_stride}")
        if not 0 <= self.separable_stages <= len(self.channels):
            raise ValueError(f"separable_stages must be in [0, {len(self.channels)}] (one per encoder stage), "
                             f"got {self.separable_stages}")
        if self.upsample not in UPSAMPLE:
            raise ValueError(f"upsample must be 'first' or 'mid', got {self.upsample!r}")
        if not self.camera_distance_mm > 0:
            raise ValueError(f"camera_distance_mm must be positive, got {self.camera_distance_mm}")
        if not 0 <= self.gaze_flow_mm <= 30:
            raise ValueError(f"gaze_flow_mm must be an eyeball radius in mm in [0, 30] (0 = off), got {self.gaze_flow_mm}")
        if self.gaze_flow_mm and self.decoder == "rgb":
            raise ValueError("gaze_flow_mm needs a warping decoder (decoder='warp' or 'move'), got decoder='rgb'")
        if self.eyeball not in EYEBALL_MOTIONS:
            raise ValueError(f"eyeball must be one of {EYEBALL_MOTIONS}, got {self.eyeball!r}")
        if self.eyeball != "added" and not self.gaze_flow_mm:
            raise ValueError(f"eyeball={self.eyeball!r} says how the geometric gaze flow moves the eyeballs: it needs "
                             "gaze_flow_mm > 0")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "disc_channels", tuple(int(c) for c in self.disc_channels))

    @property
    def bottleneck_size(self):
        return self.image_size // (2 ** len(self.channels))

    def to_dict(self):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d):
        return cls(**d)


def _field(default, help, **checks):
    """A config field with its help text (also its flag's help) and checks: `choices`,
    `min` and `max` (inclusive), `positive` (> 0), `below` (exclusive upper bound); a tuple
    field's checks apply to each of its items, and `length` fixes their count."""
    return dataclasses.field(default=default, metadata={"help": help, **checks})


def _section(cls, flag_prefix, help):
    """A nested config field; its flags are its fields' names after `flag_prefix`."""
    return dataclasses.field(default_factory=cls, metadata={"help": help, "flag_prefix": flag_prefix})


def field_error(field, value):
    """Why `value` does not pass `field`'s checks, or None (also the flags' validator)."""
    meta = field.metadata
    if not isinstance(value, tuple):
        return _value_error(meta, value)
    if "length" in meta and len(value) != meta["length"]:
        return f"must be {meta['length']} values, got {len(value)}"
    return next(filter(None, (_value_error(meta, v) for v in value)), None)


def _value_error(meta, value):
    """Why one value fails the checks in `meta`, or None; NaN fails every bound."""
    if "choices" in meta and value not in meta["choices"]:
        return f"must be one of {', '.join(map(str, meta['choices']))}, got {value!r}"
    low = high = None  # (bracket, bound, whether value is within it)
    if meta.get("positive"):
        low = ("(", 0, value > 0)
    elif "min" in meta:
        low = ("[", meta["min"], value >= meta["min"])
    if "max" in meta:
        high = (meta["max"], "]", value <= meta["max"])
    elif "below" in meta:
        high = (meta["below"], ")", value < meta["below"])
    if all(bound is None or bound[2] for bound in (low, high)):
        return None
    if low and high:
        return f"must be in {low[0]}{low[1]}, {high[0]}{high[1]}, got {value}"
    if low:
        return f"must be positive, got {value}" if meta.get("positive") else f"must be >= {low[1]}, got {value}"
    return f"must be {'<=' if high[1] == ']' else '<'} {high[0]}, got {value}"


def _check_fields(config):
    for field in dataclasses.fields(config):
        error = field_error(field, getattr(config, field.name))
        if error:
            raise ValueError(f"{field.name} {error}")


def _build(cls, d, where=""):
    """`cls` from a dict of its fields (nested sections from nested dicts); an unknown or
    misplaced key is refused by name."""
    if not isinstance(d, dict):
        raise ValueError(f"{where.rstrip('.') or cls.__name__} must be a mapping of fields, got {type(d).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {', '.join(where + k for k in unknown)}")
    kw = {k: _build(fields[k].type, v, f"{where}{k}.") if dataclasses.is_dataclass(fields[k].type) else v
          for k, v in d.items()}
    return cls(**kw)


def merge(base, overrides):
    """`base` (a dict) with `overrides` applied, nested dicts merged key by key."""
    out = dict(base)
    for key, value in overrides.items():
        if dataclasses.is_dataclass(value):
            value = dataclasses.asdict(value)
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


class _Section:
    def __post_init__(self):
        _check_fields(self)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        return _build(cls, d)


def _weight(default, help):
    return _field(default, help, min=0.0)


@dataclasses.dataclass(frozen=True)
class LossConfig(_Section):
    """Weights of the generator's loss terms (MODEL.md, [0044]-[0055]); 0 turns an optional
    term off."""

    rec: float = _weight(200.0, "Weight of the L1 reconstruction loss.")
    # ST-ED uses 5; 20 converges faster here
    label: float = _weight(20.0, "Weight of the auxiliary gaze/head label loss.")
    orth: float = _weight(1.0, "Weight of the orthogonality loss of f_id/f_res and z_g/z_h (claim 7).")
    adv: float = _weight(1.0, "Weight of the adversarial loss after its warm-up (--gan_start, --gan_warmup).")
    consistency: float = _weight(0.0, "Weight of the optional consistency loss: a frozen estimator "
                                      "(--consistency_estimator) judges the outputs' gaze/head against the targets.")
    # as ST-ED does with its gaze network
    feature: float = _weight(0.0, "Weight of matching the frozen estimator's stage features and judged angles "
                                  "between output and real target image (needs --consistency_estimator).")
    eye: float = _weight(0.0, "Weight of the L1 reconstruction inside the eye region (TrainConfig.eye_region: the "
                              "fixed synthgaze.eye_region_map or each image's rendered eyes).")
    flow_smooth: float = _weight(0.0, "Warp decoder: weight of the coarse flow's total variation.")
    paint: float = _weight(0.0, "Warp and move decoders: weight of the mean colour share (1 - blend mask) of the "
                                "swapped outputs, so the decoder moves the source's pixels and paints only what "
                                "moving cannot show.")
    eyeball: float = _weight(0.0, "Geometric gaze flow (--gaze_flow_mm): weight of teaching the decoder's eyeball map "
                                  "the rendered eye openings of the image it rebuilds (balanced L1; SynthGaze with "
                                  "--eye_region=rendered).")
    cross: float = _weight(0.0, "SynthGaze only: weight of the cross-redirection term: image a redirected as at "
                                "inference (its own features, gaze rotated to b's gaze, or head to b's head) against "
                                "SynthGaze's exact render of that target (L1 plus the eye-region L1).")
    keep: float = _weight(0.0, "Weight of the keep term: image a redirected as at inference (its own features, gaze "
                               "rotated to b's gaze) must keep its own pixels outside the eye region (L1 weighted by "
                               "1 - the eye-region weights). Any data; no render needed.")


@dataclasses.dataclass(frozen=True)
class SwapConfig(_Section):
    """The per-sample random choices of the pair swap (S102)."""

    gaze_prob: float = _field(0.5, "Probability that a sample's target feature is gaze, else head (claim 4).",
                              min=0.0, max=1.0)
    # Without the identity swap the decoder can read the whole pose from a's own identity
    # feature and ignore the rotated features (measured: head redirection no better than the
    # input); with it, pose must come through the gaze and head features.
    id_swap_prob: float = _field(1.0, "Probability of also swapping the identity features within a pair (claim 6).",
                                 min=0.0, max=1.0)
    # The same argument for the attribute that is not redirected: in a gaze-only swap, a's own
    # head feature reaches the decoder and can carry a's gaze. With "both" (gaze then head,
    # [0021]) nothing computed from the image being rebuilt reaches its decoder input (with the
    # identity swap). Measured at 1,500 steps: head error 6.1 -> 3.2 deg, gaze 13.8 -> 12.8.
    both_prob: float = _field(0.0, "Probability that both target features of a sample are rotated and swapped "
                              "(gaze then head, [0021]); the rest is split by --gaze_prob.", min=0.0, max=1.0)


@dataclasses.dataclass(frozen=True)
class GanSchedule(_Section):
    """When the adversarial term comes in: weight 0 until `start`, then a linear ramp to
    LossConfig.adv over `warmup` steps."""

    start: int = _field(0, "Step at which the adversarial weight starts to ramp up.", min=0)
    warmup: int = _field(1000, "Steps of the linear ramp of the adversarial weight from 0 to --w_adv.", min=0)


PRESETS = {
    "tiny": ModelConfig(
        image_size=32,
        channels=(16, 32, 64),
        face_dim=128,
        split_dim=64,
        id_dim=64,
        rot_dim=8,
        head_hidden=32,
        disc_channels=(16, 32),
    ),
    "demo": ModelConfig(),
    # 0.69 GFLOP per redirected image. TFLite float32, 2 threads, batch 1, on idle cores: 5.8 ms,
    # 7.3 ms with the warp decoder (budget 9), where the former base (channels[0] 24, full
    # convolutions, upsample "first": 1.67 GFLOP) took 11.2 ms in the same run of
    # benchmarks/lite_variants.py. Narrow full-resolution maps (16),
    # depthwise-separable 128 and 64 px stages, the decoder's first convolutions before the
    # upsampling; the 32 to 4 px stages keep their widths and weights.
    "base": ModelConfig(
        image_size=128,
        channels=(16, 64, 128, 256, 256),
        separable_stages=2,
        upsample="mid",
        face_dim=512,
        split_dim=256,
        id_dim=256,
        rot_dim=32,
        head_hidden=128,
        disc_channels=(32, 64, 128, 256),
    ),
}


# ModelConfig fields that a training run may set on top of its preset (TrainConfig fields too)
MODEL_OVERRIDES = ("decoder", "flow_stride", "gaze_flow_mm", "eyeball")


def preset(name, **overrides):
    """The named preset, optionally with some fields replaced."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return dataclasses.replace(PRESETS[name], **overrides)


STRATEGIES = ("default", "one_device", "mirrored", "multiworker")
DATA_SOURCES = ("synthgaze", "xgaze", "sted", "folder")
DATA_PATH_HELP = "Real data: h5 file, folder or glob, or a CSV (folder)."  # the tools' --data_path
SYNTH_APPEARANCES = ("plain", "textured")  # synthgaze_render.APPEARANCES
SYNTH_NUISANCES = ("person", "image")  # light and background shared within a person, or drawn per image
# Normalized camera distance of each source's faces, in mm (focal 960 px per 224 px): SynthGaze
# renders at 720 (synthgaze_render.DISTANCE); ETH-XGaze's patches are normalized at 600, and the
# other readers are taken to follow it. A face normalized at 600 mm is 1.2 times the size of a
# SynthGaze face, so a SynthGaze-trained model sees photos normalized at 720.
CAMERA_DISTANCE_MM = {"synthgaze": 720.0, "xgaze": 600.0, "sted": 600.0, "folder": 600.0}


def run_model_config(preset_name, data="synthgaze", **overrides):
    """The ModelConfig a training run on `data` builds: its preset, the MODEL_OVERRIDES it sets
    and the data's camera distance."""
    if data not in CAMERA_DISTANCE_MM:
        raise ValueError(f"unknown data source {data!r}; choose one of {DATA_SOURCES}")
    return preset(preset_name, camera_distance_mm=CAMERA_DISTANCE_MM[data], **overrides)
# Fields that moved out of `loss` (config.json of older runs): name there -> (section, name)
_MOVED_FROM_LOSS = {"gan_start": ("gan", "start"), "gan_warmup": ("gan", "warmup"),
                    "gaze_prob": ("swap", "gaze_prob"), "id_swap_prob": ("swap", "id_swap_prob")}


def migrate(d):
    """A TrainConfig dict (config.json) in today's layout: older runs kept the adversarial
    schedule and the swap probabilities in `loss`."""
    d = dict(d)
    if isinstance(d.get("loss"), dict):
        loss = dict(d["loss"])
        for old, (section, name) in _MOVED_FROM_LOSS.items():
            if old in loss:
                d[section] = {**d.get(section, {}), name: loss.pop(old)}
        d["loss"] = loss
    return d


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs. tools/train.py derives one flag per field
    (tfredirect.config_flags; a section's fields after its flag prefix: `--w_rec`,
    `--gaze_prob`, `--gan_start`) and starts from a whole recipe, `TrainConfig.from_preset`;
    config.json holds `to_dict()`, which `from_dict` reads back (older layouts too)."""

    out_dir: str = dataclasses.field(metadata={"help": "Output directory (checkpoints, logs, model, pictures)."})
    preset: str = _field("demo", "Recipe (model size, losses, schedule, data, steps, learning rates): tiny (32 px, "
                         "tests), demo (64 px, CPU), base (128 px, GPU); every other flag defaults to the recipe's "
                         "value (the defaults shown are the demo recipe's).", choices=tuple(sorted(PRESETS)))
    data: str = _field("synthgaze", "Training data source.", choices=DATA_SOURCES)
    data_path: str = _field("", "Real data: an h5 file, a folder of h5 files, a glob, or a CSV (folder).")
    synth_nuisance: str = _field("person", "SynthGaze light and background: shared within a person (small jitter) "
                                 "or per image.", choices=SYNTH_NUISANCES)
    synth_appearance: str = _field("plain", "SynthGaze appearance: plain (flat colours) or textured (per-person "
                                   "skin and iris textures, corneal glint, camera noise: a generator cannot paint "
                                   "them, so it learns to move the person's own pixels).",
                                   choices=SYNTH_APPEARANCES)
    min_angle_deg: float = _field(0.0, "Real data: minimum gaze or head difference within a pair (degrees).", min=0.0)
    eye_region: str = _field("fixed", "Where --w_eye weighs the L1: fixed (one eye-region map in normalized face "
                             "coordinates, any data) or rendered (SynthGaze: each image's own rendered eye openings "
                             "and their rim).", choices=("fixed", "rendered"))
    batch_size: int = _field(16, "Global batch size in pairs (split across replicas).", min=1)
    steps: int = _field(3000, "Total training steps (generator updates). --resume may raise it: the cosine schedule "
                        "then decays from the rate reached at the resumed step to its floor at the new --steps.", min=1)
    g_lr: float = _field(1.5e-3, "Generator learning rate (Adam, beta1 0.9).", positive=True)
    d_lr: float = _field(2e-4, "Discriminator learning rate (Adam, beta1 0.5).", positive=True)
    lr_schedule: str = _field("cosine", "Learning-rate schedule over --steps.", choices=("cosine", "constant"))
    decoder: str = _field("rgb", "Decoder output (ModelConfig.decoder): rgb (decoded colour), warp (warp the "
                          "source image + colour, blended by a mask) or move (warp + a colour held to the source's "
                          "own colours, re-lit by a brightness gain).", choices=DECODER_OUTPUTS)
    flow_stride: int = _field(2, "Warp decoder (ModelConfig.flow_stride): predict the flow at image size / "
                              "flow_stride, then upsample.", min=1)
    gaze_flow_mm: float = _field(0.0, "Warp decoders (ModelConfig.gaze_flow_mm): eyeball radius in mm of the "
                                 "geometric gaze flow, which moves the pixels the decoder marks as eyeball by the "
                                 "iris's displacement for the gaze change; 0 = every move is learned.",
                                 min=0.0, max=30.0)
    eyeball: str = _field("added", "Geometric gaze flow (ModelConfig.eyeball): how the pixels of the eyeball map "
                          "move. added: the learned flow plus the iris displacement; rigid: the flow of the face "
                          "around the eye (the learned flow averaged over a quarter of the image) plus the iris "
                          "displacement, so no learned flow holds the iris back; own: rigid, and an eyeball pixel "
                          "moved from an eyeball pixel keeps its own value (no colour, no brightness gain), so "
                          "colour only fills what the moved eyeball uncovers.", choices=EYEBALL_MOTIONS)
    precision: str = _field("float32", "Compute dtype of encoder, decoder and discriminator (IAD, CAS, losses and "
                            "the saved model stay float32).", choices=("float32", "mixed_bfloat16"))
    loss: LossConfig = _section(LossConfig, "w_", "Loss weights.")
    swap: SwapConfig = _section(SwapConfig, "", "Random choices of the pair swap.")
    gan: GanSchedule = _section(GanSchedule, "gan_", "Schedule of the adversarial weight.")
    consistency_estimator: str = _field("", "GazeHeadEstimator .keras for --w_consistency/--w_feature "
                                        "(tools/train_estimator.py), or auto: train one on the run's data first, in "
                                        "<out_dir>/consistency_estimator.")
    consistency_estimator_steps: int = _field(2500, "Training steps of the auto consistency estimator.", min=1)
    seed: int = _field(0, "Random seed (weights, data, per-sample choices).")
    strategy: str = _field("default", "tf.distribute strategy; multiworker reads TF_CONFIG.", choices=STRATEGIES)
    checkpoint_every: int = _field(500, "Checkpoint (and validate) every N steps; --steps must be a multiple.", min=1)
    keep_checkpoints: int = _field(3, "How many recent checkpoints to keep.", min=1)
    log_every: int = _field(25, "TensorBoard scalar interval in steps.", min=1)
    val_batches: int = _field(4, "Validation batches per checkpoint.", min=1)
    resume: bool = _field(False, "Continue the run in --out_dir from its last checkpoint. Only a larger --steps, "
                          "--checkpoint_every, --keep_checkpoints, --log_every, --val_batches, --strategy and "
                          "--verbose may differ from its config.json (the old one is kept as config-<step>.json).")
    overwrite: bool = _field(False, "Replace an existing run in --out_dir, its auto consistency estimator included "
                             "(nothing is removed before the new run's settings and data are checked).")
    verbose: int = _field(1, "Keras verbosity: 0 silent, 1 progress bar (one line per epoch when the output is "
                          "not a terminal), 2 one line per epoch.", min=0, max=2)
    # Cosine schedule pieces [start, end], filled by train(): one per run, plus one per
    # resume that extended --steps (see loop.PiecewiseCosine). Not a flag.
    lr_segments: list = dataclasses.field(default_factory=list, metadata={"flag": False})

    def __post_init__(self):
        for field in dataclasses.fields(self):
            if dataclasses.is_dataclass(field.type) and isinstance(getattr(self, field.name), dict):
                setattr(self, field.name, field.type.from_dict(getattr(self, field.name)))
        _check_fields(self)
        self.model_config()
        if self.steps % self.checkpoint_every:
            raise ValueError(
                f"steps ({self.steps}) must be a multiple of checkpoint_every ({self.checkpoint_every})"
            )
        if self.loss.cross > 0 and self.data != "synthgaze":
            raise ValueError(f"--w_cross needs exact renders of the redirected targets (--data=synthgaze), "
                             f"not --data={self.data}")
        if self.eye_region == "rendered" and self.data != "synthgaze":
            raise ValueError(f"--eye_region=rendered needs rendered eye masks (--data=synthgaze), not --data={self.data}")
        if self.loss.eyeball > 0 and (self.eye_region != "rendered" or not self.gaze_flow_mm):
            raise ValueError("--w_eyeball teaches the geometric gaze flow's eyeball map from rendered eye openings: it "
                             f"needs --gaze_flow_mm > 0 and --eye_region=rendered (got --gaze_flow_mm={self.gaze_flow_mm}, "
                             f"--eye_region={self.eye_region})")
        if self.resume and self.overwrite:
            raise ValueError("--resume and --overwrite exclude each other")

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        """The config of a `to_dict()` (a run's config.json), older layouts included."""
        return _build(cls, migrate(d))

    @classmethod
    def from_json(cls, path):
        """The config stored in a run's config.json; errors name the file."""
        try:
            with open(path) as fh:
                return cls.from_dict(json.load(fh))
        except (OSError, ValueError, TypeError) as err:
            raise ValueError(f"{path}: {err}") from None

    @classmethod
    def from_preset(cls, name, **overrides):
        """The whole recipe `name` (TRAIN_PRESETS), with some fields replaced (sections merge:
        `loss={"eye": 200.0}` keeps the recipe's other weights)."""
        if name not in TRAIN_PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(TRAIN_PRESETS)}")
        return cls.from_dict(merge(TRAIN_PRESETS[name], overrides))

    def replace(self, **overrides):
        """A copy with some fields replaced; sections merge as in `from_preset`."""
        return self.from_dict(merge(self.to_dict(), overrides))

    def model_config(self):
        """The run's ModelConfig: the preset's size with the decoder choice and the data's
        camera distance applied."""
        return run_model_config(self.preset, self.data, **{k: getattr(self, k) for k in MODEL_OVERRIDES})


# The recipes behind tools/flags/*.flags: every field a recipe sets (the rest are the defaults).
TRAIN_PRESETS = {
    # smoke runs and tests, about a minute on 2 CPU cores
    "tiny": {"preset": "tiny", "batch_size": 16, "steps": 200, "checkpoint_every": 100, "gan": {"warmup": 50},
             "out_dir": "runs/tiny"},
    # the main job, under 30 minutes on 2 CPU cores: first a small gaze/head estimator on the
    # run's data (auto, about 4 minutes); frozen, it judges the generator's outputs
    # (consistency loss), which makes the eyes follow the target gaze instead of the head, and
    # its features tie the output to the real target (feature); the eye-region L1 and the
    # "both" swap kind for half the pairs; the warp decoder (the source's own pixels, moved by a
    # smooth flow, blended with the decoded colour) with the keep term (a gaze-only redirection
    # keeps the face outside the eyes; without it the flow moves the whole face): the best arm
    # of the README's ablation, judged and judge-free, on any data; bfloat16 (about 1.4x
    # faster, equal quality at equal steps)
    "demo": {"preset": "demo", "batch_size": 16, "steps": 3000, "checkpoint_every": 500, "g_lr": 1.5e-3,
             "d_lr": 2e-4, "gan": {"start": 1500, "warmup": 1000}, "precision": "mixed_bfloat16",
             "decoder": "warp",
             "loss": {"consistency": 30.0, "feature": 30.0, "eye": 200.0, "flow_smooth": 1.0, "keep": 200.0},
             "swap": {"both_prob": 0.5}, "consistency_estimator": "auto", "out_dir": "runs/demo"},
    # the field's usual 128x128 input, meant for GPUs (e.g. --strategy=mirrored)
    "base": {"preset": "base", "batch_size": 64, "steps": 100000, "checkpoint_every": 1000, "g_lr": 2e-4,
             "d_lr": 2e-4, "gan": {"start": 5000, "warmup": 10000}, "out_dir": "runs/base"},
}


@dataclasses.dataclass
class EstimatorConfig:
    """Training of the independent gaze/head estimator (training.estimation.train_estimator):
    the judge of redirections, the consistency loss's estimator and the downstream model.
    tools/train_estimator.py derives one flag per field."""

    out_dir: str = _field("runs/estimator", "Output folder (estimator.keras, summary.json).")
    data: str = _field("synthgaze", "Training data source.", choices=DATA_SOURCES)
    data_path: str = _field("", DATA_PATH_HELP)
    # the redirector's sizes (training.estimation.ESTIMATOR_CHANNELS has a network for each)
    size: int = _field(64, "Image size (32, 64 or 128); match the redirector it will judge.", choices=SUPPORTED_SIZES)
    batch_size: int = _field(32, "Batch size.", min=1)
    steps: int = _field(2000, "Training steps.", min=1)
    lr: float = _field(1e-3, "Adam learning rate (cosine decay).", positive=True)
    seed: int = _field(0, "Seed (weights and data).")
    max_gaze_deg: float = _field(0.0, "SynthGaze: train only on samples with |gaze| below this (0 = all).", min=0.0,
                                 below=90.0)
    appearance: str = _field("plain", "SynthGaze appearance; match the redirector's training data (its "
                             "--synth_appearance).", choices=SYNTH_APPEARANCES)
    overwrite: bool = _field(False, "Replace an existing estimator in --out_dir.")
    verbose: int = _field(1, "0 silent, 1 progress bar, 2 one line per epoch.", min=0, max=2)

    def __post_init__(self):
        _check_fields(self)
        if self.data != "synthgaze" and not self.data_path:
            raise ValueError(f"--data={self.data} needs --data_path")
