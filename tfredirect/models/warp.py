"""Backward warping of a source image by a dense flow field (the decoder's warp output).

`warp(source, flow)[b, y, x] = source[b, y + flow_y, x + flow_x]`, bilinear, with the
coordinates clamped to the image (border pixels repeat). Built from floor, cast, clip and
one flat gather, which convert to TFLite builtins (FLOOR, CAST, GATHER) and ONNX (Floor,
Cast, Gather), so exported models need no Flex delegate. Gradients reach the flow through
the bilinear weights and the source through the gathered values.
"""

from keras import ops


def base_grid(height, width):
    """(1, H, W, 2) float32 pixel coordinates (x, y) of every pixel centre index."""
    ys, xs = ops.meshgrid(ops.arange(height, dtype="float32"), ops.arange(width, dtype="float32"), indexing="ij")
    return ops.expand_dims(ops.stack([xs, ys], axis=-1), 0)


def warp(source, flow):
    """Sample `source` (B, H, W, C) at pixel + `flow` (B, H, W, 2 = dx, dy in pixels)."""
    shape = ops.shape(source)
    batch = shape[0]
    height, width, channels = source.shape[1], source.shape[2], source.shape[3]
    coords = base_grid(height, width) + ops.cast(flow, "float32")
    x = ops.clip(coords[..., 0], 0.0, width - 1.0)
    y = ops.clip(coords[..., 1], 0.0, height - 1.0)
    x0, y0 = ops.floor(x), ops.floor(y)
    wx, wy = x - x0, y - y0
    x0i = ops.cast(x0, "int32")
    y0i = ops.cast(y0, "int32")
    x1i = ops.minimum(x0i + 1, width - 1)
    y1i = ops.minimum(y0i + 1, height - 1)
    offset = ops.reshape(ops.arange(batch, dtype="int32") * (height * width), (-1, 1, 1))
    flat = ops.reshape(source, (-1, channels))

    def gather(yi, xi):
        return ops.take(flat, ops.reshape(offset + yi * width + xi, (-1,)), axis=0)

    wx = ops.reshape(wx, (-1, 1))
    wy = ops.reshape(wy, (-1, 1))
    top = gather(y0i, x0i) * (1.0 - wx) + gather(y0i, x1i) * wx
    bottom = gather(y1i, x0i) * (1.0 - wx) + gather(y1i, x1i) * wx
    out = top * (1.0 - wy) + bottom * wy
    return ops.reshape(out, (batch, height, width, channels))
