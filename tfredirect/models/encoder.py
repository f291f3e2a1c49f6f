"""Encoder (claim 1, [0015], [0019]): a residual CNN from a face image to a face feature f."""

import keras
from keras import layers

from tfredirect.models.layers import ResidualBlock, build_conv_tower


@keras.saving.register_keras_serializable(package="tfredirect")
class Encoder(keras.Model):
    """Maps (B, S, S, 3) images in [-1, 1] to the face feature f of shape (B, face_dim).

    A stem convolution, one stride-2 residual stage per entry of `channels`, then a dense
    layer over the flattened bottleneck (flatten, not pooling: where things are matters).
    The first `separable_stages` stages (the highest resolutions) use depthwise-separable
    convolutions.
    """

    def __init__(self, image_size, channels, face_dim, groups=0, separable_stages=0, **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.channels = int(image_size), tuple(channels)
        self.face_dim, self.groups = int(face_dim), int(groups)
        self.separable_stages = int(separable_stages)
        self.stem = layers.Conv2D(self.channels[0], 3, padding="same")
        self.stages = [ResidualBlock(c, scale=0.5, groups=self.groups, separable=i < self.separable_stages)
                       for i, c in enumerate(self.channels)]
        self.flatten = layers.Flatten()
        self.fc = layers.Dense(self.face_dim)

    def build(self, input_shape=None):
        self.fc.build((None, build_conv_tower(self.stem, self.stages, self.image_size)))
        self.built = True

    def call(self, images):
        x = keras.activations.leaky_relu(self.stem(images), 0.2)
        for stage in self.stages:
            x = stage(x)
        return self.fc(self.flatten(x))

    def get_config(self):
        return {
            **super().get_config(),
            "image_size": self.image_size,
            "channels": list(self.channels),
            "face_dim": self.face_dim,
            "groups": self.groups,
            "separable_stages": self.separable_stages,
        }
