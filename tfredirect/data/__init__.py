"""Datasets: SynthGaze (built in) and readers for user-supplied real data.

Every reader yields the same *sample record*, a dict of
``image`` uint8 (S, S, 3) RGB, ``gaze`` and ``head`` float32 (2,) pitch/yaw radians
(MODEL.md conventions) and ``person`` a tf.string id. Pair datasets yield *pair records*:
``image_a, gaze_a, head_a, image_b, gaze_b, head_b`` with the same dtypes, both images of
one person.
"""

SAMPLE_KEYS = ("image", "gaze", "head", "person")
PAIR_KEYS = ("image_a", "gaze_a", "head_a", "image_b", "gaze_b", "head_b")
