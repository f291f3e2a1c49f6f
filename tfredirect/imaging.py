"""Pixel conventions: uint8 RGB outside the model, float32 in [-1, 1] NHWC inside."""

from keras import ops


def to_model_range(images):
    """uint8 (or float 0..255) RGB -> float32 in [-1, 1]."""
    return ops.cast(images, "float32") / 127.5 - 1.0


def to_uint8(images):
    """float32 in [-1, 1] -> uint8 RGB, clipped and rounded.

    Written as x * 127.5 + 127.5 (not (x + 1) * 127.5): in a full-integer TFLite model the
    converter gives an add-then-multiply chain the multiply's range, which crushes x + 1 to a
    few levels. Round comes last before the cast: it has no int8 kernel, so it dequantizes
    and the cast sees real values.
    """
    return ops.cast(ops.round(ops.clip(images * 127.5 + 127.5, 0.0, 255.0)), "uint8")
