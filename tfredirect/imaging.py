"""Pixel conventions: uint8 RGB outside the model, float32 in [-1, 1] NHWC inside."""

from keras import ops


def to_model_range(images):
    """uint8 (or float 0..255) RGB -> float32 in [-1, 1]."""
    return ops.cast(images, "float32") / 127.5 - 1.0


def to_uint8(images):
    """float32 in [-1, 1] -> uint8 RGB, rounded and clipped."""
    return ops.cast(ops.clip(ops.round((images + 1.0) * 127.5), 0.0, 255.0), "uint8")
