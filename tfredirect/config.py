"""Model and training configurations with the presets `tiny`, `demo` and `base`.

`tiny` (32x32) is for unit tests, `demo` (64x64) trains on 2 CPU cores in minutes, `base`
(128x128, the field's usual input) is meant for GPUs. Configs are frozen dataclasses so a
model can be rebuilt exactly from the dict stored in its `.keras` file.
"""

import dataclasses

SUPPORTED_SIZES = (32, 64, 128)


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
    decoder: str = "rgb"  # decoder output: "rgb" (colour) or "warp" (warp the source + colour, blended)
    flow_stride: int = 2  # warp decoder: the flow is predicted at image_size / flow_stride, then upsampled

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
        if self.decoder not in ("rgb", "warp"):
            raise ValueError(f"decoder must be 'rgb' or 'warp', got {self.decoder!r}")
        if self.flow_stride not in [2**i for i in range(len(self.channels))]:
            raise ValueError(f"flow_stride must be a power of 2 below 2**{len(self.channels)} (a decoder stage's "
                             f"resolution), got {self.flow_stride}")
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


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Loss weights and the schedule of the adversarial term (MODEL.md, [0044]-[0055])."""

    rec: float = 200.0  # L1 reconstruction
    label: float = 20.0  # auxiliary gaze/head heads (ST-ED uses 5; 20 converges faster here)
    orth: float = 1.0  # orthogonality of f_id/f_res and z_g/z_h (claim 7)
    adv: float = 1.0  # adversarial, after warm-up
    consistency: float = 0.0  # gaze/head of the outputs judged by a frozen estimator (optional)
    # The frozen estimator's stage features and judged angles of the output matched to those of
    # the real target image (as ST-ED does with its gaze network); needs the estimator.
    feature: float = 0.0
    eye: float = 0.0  # L1 reconstruction inside the eye-region weight map (losses.eye_region_map)
    flow_smooth: float = 0.0  # warp decoder: total variation of the coarse flow (pixels per cell)
    gan_start: int = 0  # step at which the adversarial weight starts to ramp up
    gan_warmup: int = 1000  # steps of the linear ramp from 0 to `adv`
    gaze_prob: float = 0.5  # probability that a sample's target feature is gaze (claim 4)
    # Probability of swapping identity features within a pair (claim 6). Without the swap the
    # decoder can read the whole pose from a's own identity feature and ignore the rotated
    # features (measured: head redirection no better than the input); with it, pose must
    # come through the gaze and head features.
    id_swap_prob: float = 1.0

    def __post_init__(self):
        for name in ("rec", "label", "orth", "adv", "consistency", "feature", "eye", "flow_smooth"):
            if getattr(self, name) < 0:
                raise ValueError(f"loss weight {name} must be >= 0, got {getattr(self, name)}")
        for name in ("gaze_prob", "id_swap_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.gan_start < 0 or self.gan_warmup < 0:
            raise ValueError("gan_start and gan_warmup must be >= 0")

    def to_dict(self):
        return dataclasses.asdict(self)


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
    "base": ModelConfig(
        image_size=128,
        channels=(24, 64, 128, 256, 256),  # 1.67 GFLOP per redirected image (budget: 2)
        face_dim=512,
        split_dim=256,
        id_dim=256,
        rot_dim=32,
        head_hidden=128,
        disc_channels=(32, 64, 128, 256),
    ),
}


# ModelConfig fields that a training run may set on top of its preset (TrainConfig fields too)
MODEL_OVERRIDES = ("decoder", "flow_stride")


def preset(name, **overrides):
    """The named preset, optionally with some fields replaced."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return dataclasses.replace(PRESETS[name], **overrides)
