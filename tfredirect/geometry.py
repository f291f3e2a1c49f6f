"""Angles, vectors and rotation matrices in the MODEL.md conventions.

All angles are ``(pitch, yaw)`` in radians in the normalized camera frame
(ETH-XGaze / ST-ED). Everything here is written with ``keras.ops`` so the same
code runs on NumPy arrays, eager tensors, inside ``tf.function`` and in exported
TFLite/ONNX graphs (only sin, cos, stack, matmul, atan2, asin are used).
"""

import math

import numpy as np
from keras import ops

# Largest magnitude a radian pitch / yaw can have; anything above is taken as degrees.
MAX_PITCH = math.pi / 2
MAX_YAW = math.pi


def rotation_x(pitch):
    """R_x(p) = [[1,0,0],[0,cos p,-sin p],[0,sin p,cos p]] for a batch of angles (..., 3, 3)."""
    c, s = ops.cos(pitch), ops.sin(pitch)
    one, zero = ops.ones_like(c), ops.zeros_like(c)
    rows = [
        ops.stack([one, zero, zero], axis=-1),
        ops.stack([zero, c, -s], axis=-1),
        ops.stack([zero, s, c], axis=-1),
    ]
    return ops.stack(rows, axis=-2)


def rotation_y(yaw):
    """R_y(y) = [[cos y,0,sin y],[0,1,0],[-sin y,0,cos y]] for a batch of angles (..., 3, 3)."""
    c, s = ops.cos(yaw), ops.sin(yaw)
    one, zero = ops.ones_like(c), ops.zeros_like(c)
    rows = [
        ops.stack([c, zero, s], axis=-1),
        ops.stack([zero, one, zero], axis=-1),
        ops.stack([-s, zero, c], axis=-1),
    ]
    return ops.stack(rows, axis=-2)


def small_matmul(a, b):
    """a @ b for small matrices (..., 3, 3) @ (..., 3, F), as broadcast multiply-and-sum.

    Same numbers as matmul, but exported graphs get elementwise MUL/ADD instead of
    BATCH_MATMUL, whose full-integer TFLite kernel loses the rotation (errors of tens of
    quantization steps); elementwise int8 ops keep it.
    """
    return ops.sum(ops.expand_dims(a, -1) * ops.expand_dims(b, -3), axis=-2)


def rotation_matrix(pitch_yaw):
    """R(pitch, yaw) = R_y(yaw) @ R_x(pitch) for angles of shape (..., 2); returns (..., 3, 3)."""
    pitch_yaw = ops.convert_to_tensor(pitch_yaw)
    return small_matmul(rotation_y(pitch_yaw[..., 1]), rotation_x(pitch_yaw[..., 0]))


def relative_rotation(target, current):
    """R(target) @ R(current)^T: the rotation that takes features at `current` to `target`."""
    r_cur = rotation_matrix(current)
    return small_matmul(rotation_matrix(target), ops.swapaxes(r_cur, -1, -2))


def pitchyaw_to_vector(pitch_yaw):
    """Unit direction v = (-cos p sin y, -sin p, -cos p cos y) for angles (..., 2)."""
    pitch_yaw = ops.convert_to_tensor(pitch_yaw)
    p, y = pitch_yaw[..., 0], pitch_yaw[..., 1]
    return ops.stack(
        [-ops.cos(p) * ops.sin(y), -ops.sin(p), -ops.cos(p) * ops.cos(y)], axis=-1
    )


def iris_shift(source, target, radius_px):
    """(..., 2) image displacement (dx, dy) in pixels of the iris centre when an eyeball of
    radius `radius_px` (as seen in the image) turns from gaze `source` to `target`: the iris
    sits at the eyeball centre plus radius * gaze vector, and the camera's x and y are the
    image's (orthographic at the eye). +yaw moves it to the image's left, +pitch up."""
    delta = pitchyaw_to_vector(target) - pitchyaw_to_vector(source)
    return radius_px * delta[..., :2]


def vector_to_pitchyaw(vector):
    """Inverse of `pitchyaw_to_vector`: pitch = asin(-v_y), yaw = atan2(-v_x, -v_z)."""
    vector = ops.convert_to_tensor(vector)
    v = vector / ops.norm(vector, axis=-1, keepdims=True)
    pitch = ops.arcsin(ops.clip(-v[..., 1], -1.0, 1.0))
    yaw = ops.arctan2(-v[..., 0], -v[..., 2])
    return ops.stack([pitch, yaw], axis=-1)


def head_to_camera(head):
    """The rotation taking head-frame directions to the camera frame, R_y(yaw) R_x(-pitch),
    for head pose (..., 2): it maps straight ahead (0, 0, -1) to pitchyaw_to_vector(head)."""
    head = ops.convert_to_tensor(head)
    return small_matmul(rotation_y(head[..., 1]), rotation_x(-head[..., 0]))


def eye_in_head(gaze, head):
    """The gaze direction in the head's frame, (pitch, yaw) (..., 2): the eye rotation a face
    must show for a camera-frame gaze under a head pose; zero when gaze and head coincide."""
    m = head_to_camera(head)
    v = ops.sum(m * ops.expand_dims(pitchyaw_to_vector(gaze), -1), axis=-2)  # M^T v
    return vector_to_pitchyaw(v)


def gaze_from_eye_in_head(eye, head):
    """Inverse of `eye_in_head`: the camera-frame gaze (..., 2) of an eye rotation `eye`
    (pitch, yaw in the head's frame) under a head pose."""
    m = head_to_camera(head)
    v = ops.sum(m * ops.expand_dims(pitchyaw_to_vector(eye), -2), axis=-1)  # M v
    return vector_to_pitchyaw(v)


def transfer_gaze(gaze, head, new_head):
    """The gaze that turns the eyes in the head as (gaze, head) does, under `new_head`: a
    gaze-only target that a face with that head can show whenever the source face could."""
    return gaze_from_eye_in_head(eye_in_head(gaze, head), new_head)


def within_eye_range(gaze, head, limit):
    """Per sample, whether the eye-in-head rotation of (gaze, head) is within +/- `limit`
    ((pitch, yaw) radians): a combination a face can show (NumPy bool (...,))."""
    e = np.abs(np.asarray(eye_in_head(np.asarray(gaze, np.float32), np.asarray(head, np.float32))))
    return (e[..., 0] <= limit[0] + 1e-4) & (e[..., 1] <= limit[1] + 1e-4)


def angular_error(a, b):
    """Per-sample angle in degrees between two directions given as pitch/yaw (..., 2)
    or as 3-D vectors (..., 3)."""
    a = ops.convert_to_tensor(a)
    b = ops.convert_to_tensor(b)
    va = pitchyaw_to_vector(a) if a.shape[-1] == 2 else a
    vb = pitchyaw_to_vector(b) if b.shape[-1] == 2 else b
    cos = ops.sum(va * vb, axis=-1) / (ops.norm(va, axis=-1) * ops.norm(vb, axis=-1))
    return ops.arccos(ops.clip(cos, -1.0, 1.0)) * (180.0 / math.pi)


def check_pitchyaw(angles, name, source="input", max_abs=None):
    """Validate an array of (pitch, yaw) radians and return it as float32 NumPy.

    Raises ValueError naming `source` and `name` for a wrong shape, NaN/inf, or values
    too large to be radians (which almost always means degrees were passed).
    `max_abs` optionally tightens the bound to a (max_pitch, max_yaw) range.
    """
    arr = np.asarray(angles, dtype=np.float32)
    if arr.ndim == 0 or arr.shape[-1] != 2:
        raise ValueError(
            f"{source}: '{name}' must have shape (..., 2) = (pitch, yaw) in radians, "
            f"got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr).all(axis=-1)))
        raise ValueError(f"{source}: '{name}' has {bad} row(s) with NaN or inf")
    limit = (MAX_PITCH, MAX_YAW) if max_abs is None else max_abs
    for axis, label, lim in ((0, "pitch", limit[0]), (1, "yaw", limit[1])):
        worst = float(np.max(np.abs(arr[..., axis]))) if arr.size else 0.0
        if worst > lim + 1e-6:
            hint = " (looks like degrees; pass radians)" if worst > MAX_YAW else ""
            raise ValueError(
                f"{source}: '{name}' {label} reaches {worst:.4f}, outside "
                f"[-{lim:.4f}, {lim:.4f}] radians{hint}"
            )
    return arr
