"""Cross attribute separation, CAS (claims 2-3, [0022]-[0027]).

Rotates a 3xF target feature (gaze or head) from its current angle to a target angle:
z' = R(target) R(current)^T z with R(pitch, yaw) = R_y(yaw) R_x(pitch) (MODEL.md). The same
operation serves the gaze feature (first rotation matrix) and the head feature (second).
"""

import keras

from tfredirect import geometry


@keras.saving.register_keras_serializable(package="tfredirect")
class CrossAttributeSeparation(keras.layers.Layer):
    """call(z, current, target): z (B, 3, F), angles (B, 2) radians -> rotated z (B, 3, F)."""

    def call(self, z, current, target):
        return geometry.small_matmul(geometry.relative_rotation(target, current), z)

    def compute_output_shape(self, z_shape, current_shape=None, target_shape=None):
        return z_shape
