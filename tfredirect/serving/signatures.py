"""The on-device contract: `estimate` and `redirect` on raw uint8 RGB pixels.

    estimate(image uint8 (B,S,S,3)) -> gaze float32 (B,2), head float32 (B,2)
    redirect(image uint8 (B,S,S,3), target_gaze float32 (B,2), target_head float32 (B,2))
        -> redirected uint8 (B,S,S,3), redirected_float float32 (B,S,S,3) in [-1, 1]
    redirect_labeled(image, source_gaze, source_head, target_gaze, target_head)
        -> redirected, redirected_float

Angles are (pitch, yaw) radians in the normalized camera frame (MODEL.md). `redirect`
rotates gaze and head from the model's own estimates to the targets; passing the estimate
as a target leaves that attribute unchanged. `redirect_labeled` rotates from known source
labels instead (dataset augmentation: exact, and one pass instead of two); passing the
source label as target leaves that attribute unchanged. Pre- and post-processing (uint8 <-> [-1, 1])
live inside the graph, so callers pass raw pixels and get raw pixels back; the float output
is there for exact parity checks and for callers that post-process themselves.
"""

import tensorflow as tf

from tfredirect import imaging

INPUT_IMAGE, INPUT_GAZE, INPUT_HEAD = "image", "target_gaze", "target_head"
INPUT_SOURCE_GAZE, INPUT_SOURCE_HEAD = "source_gaze", "source_head"
# the output image is not called "image": tf2onnx cannot convert a graph whose input and
# output share a name
OUTPUT_IMAGE, OUTPUT_GAZE, OUTPUT_HEAD = "redirected", "gaze", "head"
OUTPUT_FLOAT = "redirected_float"
ENDPOINTS = ("estimate", "redirect", "redirect_labeled")


def input_specs(size):
    """TensorSpecs of the endpoints, with a dynamic batch dimension."""
    image = tf.TensorSpec((None, size, size, 3), tf.uint8, name=INPUT_IMAGE)
    angle = lambda name: tf.TensorSpec((None, 2), tf.float32, name=name)
    targets = [angle(INPUT_GAZE), angle(INPUT_HEAD)]
    return {"estimate": [image], "redirect": [image, *targets],
            "redirect_labeled": [image, angle(INPUT_SOURCE_GAZE), angle(INPUT_SOURCE_HEAD), *targets]}


def endpoint_functions(redirector):
    """Python callables for the endpoints, returning dicts with the documented names."""

    def estimate(image):
        f = redirector.encode(imaging.to_model_range(image))
        return {OUTPUT_GAZE: f["gaze"], OUTPUT_HEAD: f["head"]}

    def redirect_labeled(image, source_gaze, source_head, target_gaze, target_head):
        x = imaging.to_model_range(image)
        f = redirector.encode(x)
        rotated = redirector.rotate(f, target_gaze=target_gaze, target_head=target_head, source_gaze=source_gaze,
                                    source_head=source_head)
        out = redirector.synthesize(rotated, x, f)
        return {OUTPUT_IMAGE: imaging.to_uint8(out), OUTPUT_FLOAT: out}

    def redirect(image, target_gaze, target_head):
        return redirect_labeled(image, None, None, target_gaze, target_head)

    return {"estimate": estimate, "redirect": redirect, "redirect_labeled": redirect_labeled}
