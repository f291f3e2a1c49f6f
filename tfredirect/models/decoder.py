"""Decoder (claim 1, [0018]): generates the face image from the (rotated) detail features."""

import keras
from keras import layers, ops

from tfredirect.models.layers import ResidualBlock


@keras.saving.register_keras_serializable(package="tfredirect")
class Decoder(keras.Model):
    """call(z_id, z_g, z_h) -> (B, S, S, 3) image in [-1, 1].

    Input is [z_id, vec(z_g), vec(z_h)]; a dense layer makes the bottleneck map, then one
    upsampling residual stage per encoder stage, mirrored.
    """

    def __init__(self, image_size, channels, id_dim, rot_dim, groups=0, **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.channels = int(image_size), tuple(channels)
        self.id_dim, self.rot_dim, self.groups = int(id_dim), int(rot_dim), int(groups)
        self.bottleneck = self.image_size // (2 ** len(self.channels))
        top = self.channels[-1]
        self.fc = layers.Dense(self.bottleneck * self.bottleneck * top)
        widths = list(reversed(self.channels))[1:] + [self.channels[0]]
        self.stages = [ResidualBlock(c, scale=2, groups=self.groups) for c in widths]
        self.to_rgb = layers.Conv2D(3, 3, padding="same")

    def build(self, input_shape=None):
        self.fc.build((None, self.id_dim + 6 * self.rot_dim))
        shape = (None, self.bottleneck, self.bottleneck, self.channels[-1])
        for stage in self.stages:
            stage.build(shape)
            shape = stage.compute_output_shape(shape)
        self.to_rgb.build(shape)
        self.built = True

    def call(self, z_id, z_g, z_h):
        flat = lambda z: ops.reshape(z, (-1, 3 * self.rot_dim))
        x = self.fc(ops.concatenate([z_id, flat(z_g), flat(z_h)], axis=-1))
        x = ops.reshape(x, (-1, self.bottleneck, self.bottleneck, self.channels[-1]))
        x = keras.activations.leaky_relu(x, 0.2)
        for stage in self.stages:
            x = stage(x)
        return ops.tanh(self.to_rgb(x))

    def get_config(self):
        return {
            **super().get_config(),
            "image_size": self.image_size,
            "channels": list(self.channels),
            "id_dim": self.id_dim,
            "rot_dim": self.rot_dim,
            "groups": self.groups,
        }
