"""Residual building blocks shared by the encoder, decoder and discriminator."""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="tfredirect")
class ResidualBlock(layers.Layer):
    """Two 3x3 convolutions and a 1x1 shortcut; resamples by `scale`.

    `scale` 0.5 halves the resolution (strided conv, average-pooled shortcut), 2 doubles it
    (nearest upsampling first), 1 keeps it. `groups=0` (default) uses no normalization and a
    residual gate initialised at zero (SkipInit), so each block starts as its shortcut: per-
    sample normalization would erase the absolute colours (skin, light, background) that a
    face code must carry, and batch statistics would differ between replicas and at batch-1
    inference. `groups>0` adds GroupNormalization after each convolution.
    """

    def __init__(self, filters, scale=1, groups=0, **kwargs):
        super().__init__(**kwargs)
        if scale not in (0.5, 1, 2):
            raise ValueError(f"scale must be 0.5, 1 or 2, got {scale}")
        self.filters, self.scale, self.groups = int(filters), scale, int(groups)
        stride = 2 if scale == 0.5 else 1
        norm = self.groups > 0
        self.conv1 = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=not norm)
        self.norm1 = layers.GroupNormalization(groups) if norm else None
        self.conv2 = layers.Conv2D(filters, 3, padding="same", use_bias=not norm)
        self.norm2 = layers.GroupNormalization(groups) if norm else None
        self.pool = layers.AveragePooling2D(2) if scale == 0.5 else None
        self.shortcut = None
        self.gate = None

    def build(self, input_shape):
        shape = tuple(input_shape)
        if self.scale == 2:
            shape = (shape[0], shape[1] * 2, shape[2] * 2, shape[3])
        self.conv1.build(shape)
        mid = self.conv1.compute_output_shape(shape)
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
        if self.scale == 2:
            # image resize (not UpSampling2D, whose reshape loses the static channel count
            # under a dynamic batch and so blocks TFLite's builtin conv)
            x = ops.image.resize(x, (x.shape[1] * 2, x.shape[2] * 2), interpolation="nearest")
        norm1 = self.norm1 or (lambda t: t)
        h = keras.activations.leaky_relu(norm1(self.conv1(x)), 0.2)
        h = self.conv2(h)
        h = self.norm2(h) if self.groups else h * self.gate
        s = self.pool(x) if self.pool is not None else x
        if self.shortcut is not None:
            s = self.shortcut(s)
        return keras.activations.leaky_relu(h + s, 0.2)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        f = {0.5: 0.5, 1: 1, 2: 2}[self.scale]
        size = lambda d: None if d is None else int(d * f)
        return (b, size(h), size(w), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "scale": self.scale, "groups": self.groups}


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
