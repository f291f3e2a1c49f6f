"""Residual building blocks shared by the encoder, decoder and discriminator."""

import keras
from keras import layers


@keras.saving.register_keras_serializable(package="tfredirect")
class ResidualBlock(layers.Layer):
    """Two 3x3 convolutions with GroupNorm and a 1x1 shortcut; resamples by `scale`.

    `scale` 0.5 halves the resolution (strided conv, average-pooled shortcut), 2 doubles it
    (nearest upsampling first), 1 keeps it. GroupNorm keeps the block independent of the batch
    size, so a replica's batch split under MirroredStrategy and batch-1 TFLite inference
    behave alike.
    """

    def __init__(self, filters, scale=1, groups=8, **kwargs):
        super().__init__(**kwargs)
        if scale not in (0.5, 1, 2):
            raise ValueError(f"scale must be 0.5, 1 or 2, got {scale}")
        self.filters, self.scale, self.groups = int(filters), scale, int(groups)
        stride = 2 if scale == 0.5 else 1
        self.up = layers.UpSampling2D(2, interpolation="nearest") if scale == 2 else None
        self.conv1 = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)
        self.norm1 = layers.GroupNormalization(groups)
        self.conv2 = layers.Conv2D(filters, 3, padding="same", use_bias=False)
        self.norm2 = layers.GroupNormalization(groups)
        self.pool = layers.AveragePooling2D(2) if scale == 0.5 else None
        self.shortcut = None

    def build(self, input_shape):
        shape = tuple(input_shape)
        if self.up is not None:
            shape = (shape[0], shape[1] * 2, shape[2] * 2, shape[3])
        self.conv1.build(shape)
        mid = self.conv1.compute_output_shape(shape)
        self.norm1.build(mid)
        self.conv2.build(mid)
        self.norm2.build(mid)
        if shape[-1] != self.filters:
            self.shortcut = layers.Conv2D(self.filters, 1, use_bias=False)
            self.shortcut.build(shape)

    def call(self, x):
        if self.up is not None:
            x = self.up(x)
        h = keras.activations.leaky_relu(self.norm1(self.conv1(x)), 0.2)
        h = self.norm2(self.conv2(h))
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
