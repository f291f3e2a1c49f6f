"""Residual building blocks shared by the encoder, decoder and discriminator."""

import keras
from keras import layers, ops

from tfredirect.config import UPSAMPLE


def _doubled(shape):
    return (shape[0], shape[1] * 2, shape[2] * 2, shape[3])


def _upsample(x):
    """Nearest 2x: an image resize (not UpSampling2D, whose reshape loses the static channel
    count under a dynamic batch and so blocks TFLite's builtin conv)."""
    return ops.image.resize(x, (x.shape[1] * 2, x.shape[2] * 2), interpolation="nearest")


@keras.saving.register_keras_serializable(package="tfredirect")
class ResidualBlock(layers.Layer):
    """Two 3x3 convolutions and a 1x1 shortcut; resamples by `scale`.

    `scale` 0.5 halves the resolution (strided conv, average-pooled shortcut), 2 doubles it
    (nearest upsampling first), 1 keeps it. `groups=0` (default) uses no normalization and a
    residual gate initialised at zero (SkipInit), so each block starts as its shortcut: per-
    sample normalization would erase the absolute colours (skin, light, background) that a
    face code must carry, and batch statistics would differ between replicas and at batch-1
    inference. `groups>0` adds GroupNormalization after each convolution. `separable=True`
    makes both 3x3 convolutions depthwise-separable (a 3x3 per channel, then a 1x1 across
    them): about 1/9 of the multiply-adds when the widths are equal, for the wide maps of the
    high-resolution stages where the full convolutions cost the most. `upsample` ("first" or
    "mid", for `scale` 2) is where the resolution doubles: before both convolutions, or
    after the first, which then runs on a quarter of the pixels (the 1x1 shortcut too, which
    commutes with nearest upsampling).
    """

    def __init__(self, filters, scale=1, groups=0, separable=False, upsample="first", **kwargs):
        super().__init__(**kwargs)
        if scale not in (0.5, 1, 2):
            raise ValueError(f"scale must be 0.5, 1 or 2, got {scale}")
        if upsample not in UPSAMPLE:
            raise ValueError(f"upsample must be one of {UPSAMPLE}, got {upsample!r}")
        self.filters, self.scale, self.groups = int(filters), scale, int(groups)
        self.separable, self.upsample = bool(separable), upsample
        self._up_first, self._up_mid = scale == 2 and upsample == "first", scale == 2 and upsample == "mid"
        stride = 2 if scale == 0.5 else 1
        norm = self.groups > 0
        conv = layers.SeparableConv2D if self.separable else layers.Conv2D
        self.conv1 = conv(filters, 3, strides=stride, padding="same", use_bias=not norm)
        self.norm1 = layers.GroupNormalization(groups) if norm else None
        self.conv2 = conv(filters, 3, padding="same", use_bias=not norm)
        self.norm2 = layers.GroupNormalization(groups) if norm else None
        self.pool = layers.AveragePooling2D(2) if scale == 0.5 else None
        self.shortcut = None
        self.gate = None

    def build(self, input_shape):
        shape = tuple(input_shape)
        if self._up_first:
            shape = _doubled(shape)
        self.conv1.build(shape)
        mid = self.conv1.compute_output_shape(shape)
        if self._up_mid:
            mid = _doubled(mid)
        self.conv2.build(mid)
        if self.groups:
            self.norm1.build(mid)
            self.norm2.build(mid)
        else:
            self.gate = self.add_weight(name="gate", shape=(), initializer="zeros")
        if shape[-1] != self.filters:
            self.shortcut = layers.Conv2D(self.filters, 1, use_bias=False)
            self.shortcut.build(shape)

    def call(self, x):
        if self._up_first:
            x = _upsample(x)
        norm1 = self.norm1 or (lambda t: t)
        h = keras.activations.leaky_relu(norm1(self.conv1(x)), 0.2)
        if self._up_mid:
            h = _upsample(h)
        h = self.conv2(h)
        h = self.norm2(h) if self.groups else h * self.gate
        s = self.pool(x) if self.pool is not None else x
        if self.shortcut is not None:
            s = self.shortcut(s)
        if self._up_mid:
            s = _upsample(s)
        return keras.activations.leaky_relu(h + s, 0.2)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        f = {0.5: 0.5, 1: 1, 2: 2}[self.scale]
        size = lambda d: None if d is None else int(d * f)
        return (b, size(h), size(w), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "scale": self.scale, "groups": self.groups,
                "separable": self.separable, "upsample": self.upsample}


def build_conv_tower(stem, stages, image_size):
    """Build a stem conv and its residual stages for square RGB inputs of `image_size`;
    returns the flattened width of the last stage (the input of the following Dense)."""
    shape = (None, image_size, image_size, 3)
    stem.build(shape)
    shape = stem.compute_output_shape(shape)
    for stage in stages:
        stage.build(shape)
        shape = stage.compute_output_shape(shape)
    return shape[1] * shape[2] * shape[3]
