"""PatchGAN discriminator for the adversarial loss ([0046])."""

import keras
from keras import layers


@keras.saving.register_keras_serializable(package="tfredirect")
class PatchDiscriminator(keras.Model):
    """(B, S, S, 3) images in [-1, 1] -> (B, S/2^n, S/2^n, 1) real/fake logits per patch."""

    def __init__(self, image_size, channels, **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.channels = int(image_size), tuple(channels)
        self.convs = [layers.Conv2D(c, 4, strides=2, padding="same") for c in self.channels]
        self.logits = layers.Conv2D(1, 3, padding="same")

    def build(self, input_shape=None):
        shape = (None, self.image_size, self.image_size, 3)
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        self.logits.build(shape)
        self.built = True

    def call(self, images):
        x = images
        for conv in self.convs:
            x = keras.activations.leaky_relu(conv(x), 0.2)
        return self.logits(x)

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "channels": list(self.channels)}
