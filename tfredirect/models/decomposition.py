"""Irrelevant attribute decomposition, IAD (claim 1, [0016], [0020]).

A decomposer splits the face feature f into identity information f_id and the remaining
information f_res; two fully connected layers then give the detail features: the identity
feature z_id (from f_id) and the 3xF gaze and head features z_g, z_h (from f_res).
Auxiliary heads regress gaze and head pitch/yaw from z_g and z_h ([0020], [0050]).
"""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="tfredirect")
class PitchYawHead(keras.layers.Layer):
    """Small MLP from a flattened 3xF feature to (pitch, yaw) in radians."""

    def __init__(self, hidden, **kwargs):
        super().__init__(**kwargs)
        self.hidden = int(hidden)
        self.fc1 = layers.Dense(self.hidden, dtype=self.dtype_policy)
        self.fc2 = layers.Dense(2, dtype=self.dtype_policy)

    def build(self, input_shape):
        flat = (input_shape[0], input_shape[-2] * input_shape[-1])
        self.fc1.build(flat)
        self.fc2.build((input_shape[0], self.hidden))

    def call(self, z):
        x = ops.reshape(z, (-1, z.shape[-2] * z.shape[-1]))
        return self.fc2(keras.activations.leaky_relu(self.fc1(x), 0.2))

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden}


@keras.saving.register_keras_serializable(package="tfredirect")
class IrrelevantAttributeDecomposition(keras.Model):
    """f -> dict(f_id, f_res, z_id, z_g, z_h, gaze, head).

    z_g and z_h have shape (B, 3, F) so that the CAS module can rotate them in 3-D.
    """

    def __init__(self, face_dim, split_dim, id_dim, rot_dim, head_hidden, **kwargs):
        super().__init__(**kwargs)
        self.face_dim, self.split_dim = int(face_dim), int(split_dim)
        self.id_dim, self.rot_dim, self.head_hidden = int(id_dim), int(rot_dim), int(head_hidden)
        # sub-layers take this model's dtype policy (the redirector keeps IAD in float32
        # under mixed_bfloat16: angles and rotatable features need the precision)
        dtype = self.dtype_policy
        self.decomposer = layers.Dense(2 * self.split_dim, dtype=dtype)
        self.fc_identity = layers.Dense(self.id_dim, dtype=dtype)
        self.fc_rotatable = layers.Dense(2 * 3 * self.rot_dim, dtype=dtype)
        self.gaze_head = PitchYawHead(self.head_hidden, dtype=dtype)
        self.head_head = PitchYawHead(self.head_hidden, dtype=dtype)

    def build(self, input_shape=None):
        self.decomposer.build((None, self.face_dim))
        self.fc_identity.build((None, self.split_dim))
        self.fc_rotatable.build((None, self.split_dim))
        self.gaze_head.build((None, 3, self.rot_dim))
        self.head_head.build((None, 3, self.rot_dim))
        self.built = True

    def call(self, f):
        parts = keras.activations.leaky_relu(self.decomposer(f), 0.2)
        f_id, f_res = parts[:, : self.split_dim], parts[:, self.split_dim :]
        z_id = self.fc_identity(f_id)
        rot = ops.reshape(self.fc_rotatable(f_res), (-1, 2, 3, self.rot_dim))
        z_g, z_h = rot[:, 0], rot[:, 1]
        return {
            "f_id": f_id,
            "f_res": f_res,
            "z_id": z_id,
            "z_g": z_g,
            "z_h": z_h,
            "gaze": self.gaze_head(z_g),
            "head": self.head_head(z_h),
        }

    def get_config(self):
        return {
            **super().get_config(),
            "face_dim": self.face_dim,
            "split_dim": self.split_dim,
            "id_dim": self.id_dim,
            "rot_dim": self.rot_dim,
            "head_hidden": self.head_hidden,
        }
