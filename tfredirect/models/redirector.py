"""The generator: encoder -> IAD -> CAS -> decoder (claim 1, Fig. 1), with `redirect`."""

import numpy as np
import keras
from keras import ops

from tfredirect import geometry, imaging
from tfredirect.config import NORMALIZED_FOCAL_224, ModelConfig
from tfredirect.models.decoder import Decoder
from tfredirect.models.decomposition import IrrelevantAttributeDecomposition
from tfredirect.models.encoder import Encoder
from tfredirect.models.separation import CrossAttributeSeparation


def check_images(images, size, name="images"):
    """Raise ValueError unless `images` is a (B, size, size, 3) batch (static shape)."""
    shape = tuple(images.shape)
    if len(shape) != 4 or shape[-1] != 3 or tuple(shape[1:3]) != (size, size):
        raise ValueError(
            f"'{name}' must have shape (batch, {size}, {size}, 3) RGB for this model, got {shape}"
        )


def _is_eager_value(x):
    return isinstance(x, np.ndarray) or hasattr(x, "numpy")


@keras.saving.register_keras_serializable(package="tfredirect")
class Redirector(keras.Model):
    """Face redirection generator built from a `ModelConfig`.

    - `encode(images)` -> detail features and auxiliary estimates (dict, see IAD);
    - `rotate(features, ...)` -> features with z_g and/or z_h rotated by CAS;
    - `synthesize(target, source_image, source)` -> images decoded from the `target`
      features; a warp decoder warps `source_image`, whose own features are `source`;
    - `redirect(images, target_gaze, target_head, source_gaze, source_head)`;
    - `estimate(images)` -> (gaze, head) from the auxiliary heads;
    - `call(images)` reconstructs the images through the whole model (no rotation).
    Images are float32 in [-1, 1]; `redirect`/`estimate` also take uint8 RGB (returned as uint8).
    """

    def __init__(self, config=None, **kwargs):
        super().__init__(**kwargs)
        cfg = config if isinstance(config, ModelConfig) else ModelConfig.from_dict(config or {})
        self.config = cfg
        self.encoder = Encoder(cfg.image_size, cfg.channels, cfg.face_dim, cfg.groups, cfg.separable_stages,
                               name="encoder")
        self.iad = IrrelevantAttributeDecomposition(
            cfg.face_dim, cfg.split_dim, cfg.id_dim, cfg.rot_dim, cfg.head_hidden, name="iad", dtype="float32"
        )
        # IAD and CAS stay float32 under a mixed_bfloat16 policy: angles and rotations need it
        self.cas = CrossAttributeSeparation(name="cas", dtype="float32")
        self.decoder = Decoder(cfg.image_size, cfg.channels, cfg.id_dim, cfg.rot_dim, cfg.groups,
                               output=cfg.decoder, flow_stride=cfg.flow_stride,
                               separable_stages=cfg.separable_stages, upsample=cfg.upsample,
                               gaze_flow=cfg.gaze_flow_mm > 0, eyeball=cfg.eyeball, name="decoder")

    @property
    def image_size(self):
        return self.config.image_size

    @property
    def camera_distance_mm(self):
        """The normalized camera distance of its training faces: photos are normalized at it."""
        return self.config.camera_distance_mm

    @property
    def iris_radius_px(self):
        """The geometric gaze flow's eyeball radius in patch pixels (0: no geometric flow)."""
        cfg = self.config
        return cfg.gaze_flow_mm * NORMALIZED_FOCAL_224 * cfg.image_size / 224.0 / cfg.camera_distance_mm

    def build(self, input_shape=None):
        for sub in (self.encoder, self.iad, self.decoder):
            sub.build()
        self.built = True

    def encode(self, images):
        return self.iad(self.encoder(images))

    def synthesize(self, target, source_image, source, return_parts=False):
        """Decode the `target` features (z_id, z_g, z_h). The warp decoder moves the pixels of
        `source_image` and is told where things are in it by its own unrotated features
        `source` (z_g, z_h); at inference the source is the input image itself. When `target`
        also holds `gaze` and `gaze_source` (the gaze asked for and that of `source_image`,
        as `rotate` records them), the geometric gaze flow moves the eyeballs between them."""
        shift = None
        if self.decoder.gaze_flow and "gaze_source" in target:
            shift = geometry.iris_shift(target["gaze_source"], target["gaze"], self.iris_radius_px)
        return self.decoder(target["z_id"], target["z_g"], target["z_h"], source_image, source["z_g"], source["z_h"],
                            gaze_shift=shift, return_parts=return_parts)

    def rotate(self, features, target_gaze=None, target_head=None, source_gaze=None, source_head=None):
        """Rotate z_g to `target_gaze` and/or z_h to `target_head` (None keeps it).

        The current angle is `source_*` when given (a known label), else the auxiliary
        estimate. Both targets together are the chained rotation of [0021]. A gaze rotation
        also records `gaze` (the target) and `gaze_source` (the current angle) for the
        geometric gaze flow.
        """
        out = dict(features)
        for key, target, source, est in (
            ("z_g", target_gaze, source_gaze, "gaze"),
            ("z_h", target_head, source_head, "head"),
        ):
            if target is None:
                continue
            current = features[est] if source is None else ops.cast(source, "float32")
            target = ops.cast(target, "float32")
            out[key] = self.cas(features[key], current, target)
            if key == "z_g":
                out["gaze"], out["gaze_source"] = target, current
        return out

    def call(self, images):
        f = self.encode(images)
        return self.synthesize(f, images, f)

    def _prepare(self, images, angles):
        """Validate public inputs (shape; NaN/degree angles when values are concrete)."""
        check_images(images, self.image_size)
        for name, value in angles.items():
            if value is not None and _is_eager_value(value):
                arr = geometry.check_pitchyaw(value, name, source="Redirector")
                if arr.shape != (images.shape[0], 2) and images.shape[0] is not None:
                    raise ValueError(
                        f"Redirector: '{name}' must have shape ({images.shape[0]}, 2), got {arr.shape}"
                    )
        is_uint8 = keras.backend.standardize_dtype(images.dtype) == "uint8"
        x = imaging.to_model_range(images) if is_uint8 else ops.cast(images, "float32")
        return x, is_uint8

    def redirect(self, images, target_gaze=None, target_head=None, source_gaze=None, source_head=None,
                 return_parts=False):
        """Images with gaze and/or head rotated to the targets (radians, (B, 2)). With
        `return_parts`, the decoder's parts as a dict (image; for the warp decoder also
        `warped`, the input's own pixels moved by the flow, `rgb`, `mask` and `flow`), the
        images among them uint8 when the input is."""
        angles = dict(target_gaze=target_gaze, target_head=target_head,
                      source_gaze=source_gaze, source_head=source_head)
        x, is_uint8 = self._prepare(images, angles)
        f = self.encode(x)
        out = self.synthesize(self.rotate(f, target_gaze, target_head, source_gaze, source_head), x, f,
                              return_parts=return_parts)
        if not return_parts:
            return imaging.to_uint8(out) if is_uint8 else out
        images_out = ("image", "warped", "rgb")
        return {k: imaging.to_uint8(v) if is_uint8 and k in images_out else v for k, v in out.items()}

    def estimate(self, images):
        """(gaze, head) pitch/yaw radians from the auxiliary heads."""
        x, _ = self._prepare(images, {})
        f = self.encode(x)
        return f["gaze"], f["head"]

    def get_config(self):
        return {**super().get_config(), "config": self.config.to_dict()}
