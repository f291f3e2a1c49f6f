"""Decoder (claim 1, [0018]): generates the face image from the (rotated) detail features.

Three output heads, chosen by `ModelConfig.decoder`:
- `rgb`: the image is the decoded colour (tanh);
- `warp` (warp and refine, after DeepWarp, Ganin et al. 2016): the decoder also sees the
  warp source's own unrotated gaze/head features, and predicts a coarse flow field (1/
  `flow_stride` of the image size, bilinearly upsampled), a blend mask and a colour image;
  the output is `mask * warp(source, flow) + (1 - mask) * rgb`. Warping moves the source's
  own pixels (sharp skin, iris, highlights); the colour fills what warping cannot. The flow
  starts at zero and the mask near one, so the first outputs are a copy of the source.
- `move` (the appearance-keeping output; after the flow-plus-brightness eye-contact
  corrector of Isikdogan et al. 2020): as `warp`, but the colour is anchored to the source's
  own colours, `mean(source) + std(source) * tanh(.)` per channel, so it cannot paint a
  colour the person does not have, and the blend is re-lit by a per-pixel brightness gain
  in [1/2, 2] (shading that moving cannot give: a lid lowered over the eye, a darker
  socket). The training's paint term (LossConfig.paint) keeps `1 - mask` small, so the
  colour fills only what moving cannot (sclera or lid revealed). The gain starts at one.

Geometric gaze flow (`gaze_flow`, ModelConfig.gaze_flow_mm > 0, warping outputs): the gaze
change is known, so the iris's displacement is too (`geometry.iris_shift`, passed in as
`gaze_shift`). The decoder predicts a full-resolution eyeball map in [0, 1] and the flow
moves the pixels it marks by that displacement. The learned part no longer has to discover,
at a quarter of the resolution, how far an iris moves; it only has to say where the eyeballs
are, which carries over to real eyes. `eyeball` says how the marked pixels move:
- `added`: the learned flow plus the displacement. The learned flow is free inside the eye,
  and trained models use it to hold the iris back (it moved 62-83% as far as it should);
- `rigid`: the flow of the face around the eye (the learned flow averaged over a window of a
  quarter of the image, wider than an eye) plus the displacement: an eyeball turns in a
  socket that moves with the face, and nothing local can hold it back;
- `own`: rigid, and an eyeball pixel moved from an eyeball pixel shows its own value, neither
  blended with the colour nor re-lit: the colour only fills what the moved eyeball uncovers
  (sclera turning into view) and the lids, so the iris keeps the person's own colour by
  construction.
"""

import math

import keras
from keras import layers, ops

from tfredirect.config import DECODER_OUTPUTS, EYEBALL_MOTIONS
from tfredirect.models.layers import ResidualBlock
from tfredirect.models.warp import warp

WARPING = ("warp", "move")  # outputs that move the source's pixels
MASK_INIT = 0.88  # initial blend weight of the warped source
MAX_GAIN_LOG = math.log(2.0)  # move: the brightness gain is exp(tanh(.) * this), in [1/2, 2]
EYE_INIT = 0.12  # initial eyeball-map value of the geometric gaze flow (nearly nothing moves)


def source_anchored(source, colour):
    """Colour in [-1, 1] (tanh) mapped into the source's own colour range: per image and
    channel, `mean + std * colour` over the source's pixels, clipped to [-1, 1]."""
    mean = ops.mean(source, axis=(1, 2), keepdims=True)
    std = ops.sqrt(ops.mean(ops.square(source - mean), axis=(1, 2), keepdims=True) + 1e-6)
    return ops.clip(mean + std * colour, -1.0, 1.0)


@keras.saving.register_keras_serializable(package="tfredirect")
class Decoder(keras.Model):
    """call(z_id, z_g, z_h, source_image, source_z_g, source_z_h) -> (B, S, S, 3) in [-1, 1].

    Input is [z_id, vec(z_g), vec(z_h)] (+ [vec(source_z_g), vec(source_z_h)] for `warp`); a
    dense layer makes the bottleneck map, then one upsampling residual stage per encoder
    stage, mirrored (the last `separable_stages`, the highest resolutions, depthwise-
    separable; `upsample` says where in a stage the resolution doubles, see ResidualBlock).
    The `rgb` decoder ignores the source arguments. `return_parts=True`
    returns a dict (image, and for `warp` also flow (full resolution, what the warp uses),
    coarse_flow (the learned part), mask, rgb, warped; `eye`, the eyeball map, with
    `gaze_flow`). `gaze_shift` (B, 2) is the iris displacement in pixels for the geometric
    gaze flow (None: no gaze change); `eyeball` (EYEBALL_MOTIONS) how it moves the eyeballs.
    The parts' mask and gain are those the image was composed with.
    """

    def __init__(self, image_size, channels, id_dim, rot_dim, groups=0, output="rgb", flow_stride=4,
                 separable_stages=0, upsample="first", gaze_flow=False, eyeball="added", **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.channels = int(image_size), tuple(channels)
        self.id_dim, self.rot_dim, self.groups = int(id_dim), int(rot_dim), int(groups)
        if output not in DECODER_OUTPUTS:
            raise ValueError(f"decoder output must be one of {DECODER_OUTPUTS}, got {output!r}")
        self.kind, self.flow_stride = output, int(flow_stride)
        self.warps = output in WARPING
        self.gaze_flow = bool(gaze_flow)
        if self.gaze_flow and not self.warps:
            raise ValueError(f"the geometric gaze flow needs a warping decoder output {WARPING}, got {output!r}")
        if eyeball not in EYEBALL_MOTIONS:
            raise ValueError(f"eyeball must be one of {EYEBALL_MOTIONS}, got {eyeball!r}")
        self.eyeball = eyeball
        self.bottleneck = self.image_size // (2 ** len(self.channels))
        top = self.channels[-1]
        self.fc = layers.Dense(self.bottleneck * self.bottleneck * top)
        widths = list(reversed(self.channels))[1:] + [self.channels[0]]
        self.separable_stages, self.upsample = int(separable_stages), upsample
        self.stages = [ResidualBlock(c, scale=2, groups=self.groups, separable=i >= len(widths) - self.separable_stages,
                                     upsample=upsample) for i, c in enumerate(widths)]
        self.to_rgb = layers.Conv2D(3, 3, padding="same")
        if self.warps:
            flow_size = self.image_size // self.flow_stride
            sizes = [self.bottleneck * 2 ** (i + 1) for i in range(len(self.stages))]
            if flow_size not in sizes:
                raise ValueError(f"flow_stride {self.flow_stride} gives a {flow_size}px flow; the decoder's stages "
                                 f"are {sizes}px")
            self.flow_stage = sizes.index(flow_size)
            self.max_flow = self.image_size / 4.0  # pixels; tanh-bounded
            self.to_flow = layers.Conv2D(2, 3, padding="same", kernel_initializer="zeros")
            self.to_mask = layers.Conv2D(
                1, 3, padding="same", kernel_initializer="zeros",
                bias_initializer=keras.initializers.Constant(math.log(MASK_INIT / (1 - MASK_INIT))))
        if self.kind == "move":
            self.to_gain = layers.Conv2D(1, 3, padding="same", kernel_initializer="zeros")
        if self.gaze_flow:
            self.to_eye = layers.Conv2D(
                1, 3, padding="same", kernel_initializer="zeros",
                bias_initializer=keras.initializers.Constant(math.log(EYE_INIT / (1 - EYE_INIT))))

    @property
    def input_dim(self):
        return self.id_dim + (12 if self.warps else 6) * self.rot_dim

    def build(self, input_shape=None):
        self.fc.build((None, self.input_dim))
        shape = (None, self.bottleneck, self.bottleneck, self.channels[-1])
        for i, stage in enumerate(self.stages):
            stage.build(shape)
            shape = stage.compute_output_shape(shape)
            if self.warps and i == self.flow_stage:
                self.to_flow.build(shape)
        self.to_rgb.build(shape)
        if self.warps:
            self.to_mask.build(shape)
        if self.kind == "move":
            self.to_gain.build(shape)
        if self.gaze_flow:
            self.to_eye.build(shape)
        self.built = True

    def call(self, z_id, z_g, z_h, source_image=None, source_z_g=None, source_z_h=None, gaze_shift=None,
             return_parts=False):
        flat = lambda z: ops.reshape(z, (-1, 3 * self.rot_dim))
        parts = [z_id, flat(z_g), flat(z_h)]
        if self.warps:
            if source_image is None or source_z_g is None or source_z_h is None:
                raise ValueError("the warp decoder needs source_image, source_z_g and source_z_h")
            parts += [flat(source_z_g), flat(source_z_h)]
        x = self.fc(ops.concatenate(parts, axis=-1))
        x = ops.reshape(x, (-1, self.bottleneck, self.bottleneck, self.channels[-1]))
        x = keras.activations.leaky_relu(x, 0.2)
        coarse_flow = None
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if self.warps and i == self.flow_stage:
                coarse_flow = self.max_flow * ops.tanh(self.to_flow(x))
        # outputs in float32 whatever the compute dtype (mixed_bfloat16 training): pixel
        # coordinates and losses need the precision
        rgb = ops.cast(ops.tanh(self.to_rgb(x)), "float32")
        if self.kind == "rgb":
            return {"image": rgb} if return_parts else rgb
        size = (self.image_size, self.image_size)
        source_image = ops.cast(source_image, "float32")
        coarse_flow = ops.cast(coarse_flow, "float32")
        flow = coarse_flow if self.flow_stride == 1 else ops.image.resize(coarse_flow, size, interpolation="bilinear")
        parts = {"coarse_flow": coarse_flow}
        kept = None
        if self.gaze_flow:
            eye = ops.cast(ops.sigmoid(self.to_eye(x)), "float32")
            parts["eye"] = eye
            # backward flow: the pixel that lands at x comes from x - shift
            shift = 0.0 if gaze_shift is None else ops.reshape(ops.cast(gaze_shift, "float32"), (-1, 1, 1, 2))
            if self.eyeball == "added":
                flow = flow - eye * shift
            else:
                flow = (1.0 - eye) * flow + eye * (self._around(coarse_flow, size) - shift)
        mask = ops.cast(ops.sigmoid(self.to_mask(x)), "float32")
        warped = warp(source_image, flow)
        if self.eyeball == "own":
            kept = eye * warp(eye, flow)  # eyeball pixels moved from eyeball pixels
            mask = kept + (1.0 - kept) * mask
        parts.update({"flow": flow, "mask": mask, "warped": warped})
        if self.kind == "move":
            rgb = source_anchored(source_image, rgb)
            log_gain = MAX_GAIN_LOG * ops.tanh(ops.cast(self.to_gain(x), "float32"))
            gain = ops.exp(log_gain if kept is None else (1.0 - kept) * log_gain)
            image = ops.clip((mask * warped + (1.0 - mask) * rgb + 1.0) * gain - 1.0, -1.0, 1.0)
            parts["gain"] = gain
        else:
            image = mask * warped + (1.0 - mask) * rgb
        if not return_parts:
            return image
        return {"image": image, "rgb": rgb, **parts}

    def _around(self, coarse_flow, size):
        """The learned flow averaged over a window a quarter of the image wide (wider than an
        eye), at full resolution: how the face around each eye moves."""
        window = max(1, self.image_size // (4 * self.flow_stride))
        around = ops.average_pool(coarse_flow, window, strides=1, padding="same")
        return around if self.flow_stride == 1 else ops.image.resize(around, size, interpolation="bilinear")

    def get_config(self):
        return {
            **super().get_config(),
            "image_size": self.image_size,
            "channels": list(self.channels),
            "id_dim": self.id_dim,
            "rot_dim": self.rot_dim,
            "groups": self.groups,
            "output": self.kind,
            "flow_stride": self.flow_stride,
            "separable_stages": self.separable_stages,
            "upsample": self.upsample,
            "gaze_flow": self.gaze_flow,
            "eyeball": self.eyeball,
        }
