"""GazeHeadEstimator: an independent CNN regressing gaze and head pitch/yaw from a face.

It never shares weights with the redirector, so it can judge redirected images (the field's
redirection-error protocol) and measure what augmentation does for a downstream estimator.
"""

import keras
from keras import layers

from tfredirect.models.layers import ResidualBlock, build_conv_tower


@keras.saving.register_keras_serializable(package="tfredirect")
class GazeHeadEstimator(keras.Model):
    """(B, S, S, 3) images in [-1, 1] -> dict(gaze=(B, 2), head=(B, 2)) radians.

    A residual CNN (one stride-2 stage per entry of `channels`), the flattened last map
    through one hidden dense layer, and two linear heads.
    """

    def __init__(self, image_size=64, channels=(32, 64, 128, 128), hidden=128, **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.channels, self.hidden = int(image_size), tuple(channels), int(hidden)
        self.stem = layers.Conv2D(self.channels[0], 3, padding="same")
        self.stages = [ResidualBlock(c, scale=0.5) for c in self.channels]
        self.flatten = layers.Flatten()
        self.fc = layers.Dense(self.hidden)
        self.gaze_out = layers.Dense(2)
        self.head_out = layers.Dense(2)

    def build(self, input_shape=None):
        self.fc.build((None, build_conv_tower(self.stem, self.stages, self.image_size)))
        self.gaze_out.build((None, self.hidden))
        self.head_out.build((None, self.hidden))
        self.built = True

    def call(self, images, return_features=False):
        """`return_features=True` adds "features": each stage's output and the hidden layer
        (for feature matching against a frozen estimator)."""
        x = keras.activations.leaky_relu(self.stem(images), 0.2)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        h = keras.activations.leaky_relu(self.fc(self.flatten(x)), 0.2)
        out = {"gaze": self.gaze_out(h), "head": self.head_out(h)}
        if return_features:
            out["features"] = features + [h]
        return out

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "channels": list(self.channels),
                "hidden": self.hidden}
