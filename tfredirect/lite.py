"""LiteRedirector: run an exported `redirector_*.tflite` with the ai-edge-litert interpreter.

Needs only NumPy and `ai_edge_litert` (no TensorFlow import), like an on-device runtime.
Same methods as the Keras `Redirector` on uint8 images:

    lite = LiteRedirector("export/redirector_float32.tflite", num_threads=2)
    gaze, head = lite.estimate(images)                      # (B, 2) radians each
    out = lite.redirect(images, target_gaze=g, target_head=None)   # None keeps the estimate
    out = lite.redirect(images, g, h, source_gaze=g0, source_head=h0)  # from known labels
"""

import numpy as np

from tfredirect.config import CAMERA_DISTANCE_MM

IMAGE, TARGET_GAZE, TARGET_HEAD = "image", "target_gaze", "target_head"
SOURCE_GAZE, SOURCE_HEAD = "source_gaze", "source_head"
REDIRECTED, GAZE, HEAD = "redirected", "gaze", "head"


class LiteRedirector:
    """A TFLite redirector with the `estimate` and `redirect` signatures of tfredirect.serving."""

    def __init__(self, path, num_threads=2, camera_distance_mm=CAMERA_DISTANCE_MM["synthgaze"]):
        """camera_distance_mm: the normalized camera distance of the faces the model was trained
        on (a .tflite file does not record it; the export.json beside it does), at which
        photos are normalized for it."""
        from ai_edge_litert.interpreter import Interpreter

        self.path = path
        self.camera_distance_mm = float(camera_distance_mm)
        try:
            self.interpreter = Interpreter(model_path=path, num_threads=int(num_threads))
        except ValueError as err:
            raise ValueError(f"{path}: not a readable TFLite model ({err})") from err
        found = set(self.interpreter.get_signature_list())
        if not {"estimate", "redirect"} <= found:
            raise ValueError(f"{path}: expected signatures 'estimate' and 'redirect', found {sorted(found)}")
        self._estimate = self.interpreter.get_signature_runner("estimate")
        self._redirect = self.interpreter.get_signature_runner("redirect")
        # older exports have no redirect_labeled
        self._labeled = self.interpreter.get_signature_runner("redirect_labeled") if "redirect_labeled" in found else None
        shape = self._estimate.get_input_details()[IMAGE]["shape_signature"]
        self.image_size = int(shape[1])

    @property
    def takes_source_labels(self):
        """Whether `redirect` can start from known source labels (signature redirect_labeled)."""
        return self._labeled is not None

    def _images(self, images):
        images = np.asarray(images)
        s = self.image_size
        if images.ndim != 4 or images.shape[1:] != (s, s, 3) or images.dtype != np.uint8:
            raise ValueError(f"{self.path}: images must be uint8 (batch, {s}, {s}, 3) RGB, "
                             f"got {images.dtype} {images.shape}")
        return images

    def estimate(self, images):
        """(gaze, head) float32 (B, 2) pitch/yaw radians."""
        out = self._estimate(**{IMAGE: self._images(images)})
        return out[GAZE], out[HEAD]

    def _angles(self, n, **named):
        out = {}
        for name, value in named.items():
            arr = np.asarray(value, np.float32)
            if arr.shape != (n, 2) or not np.all(np.isfinite(arr)) or np.abs(arr).max(initial=0) > np.pi:
                raise ValueError(f"{self.path}: {name} must be finite (batch, 2) pitch/yaw radians, "
                                 f"got shape {arr.shape}")
            out[name] = arr
        return out

    def redirect(self, images, target_gaze=None, target_head=None, source_gaze=None, source_head=None):
        """uint8 images with gaze and/or head rotated to the targets ((B, 2) radians).

        With both `source_gaze` and `source_head` (known labels) the rotation starts from
        them (signature `redirect_labeled`), else from the model's estimates; a target left
        as None keeps the attribute."""
        images = self._images(images)
        n = len(images)
        if source_gaze is not None and source_head is not None and self._labeled is not None:
            target_gaze = source_gaze if target_gaze is None else target_gaze
            target_head = source_head if target_head is None else target_head
            angles = self._angles(n, source_gaze=source_gaze, source_head=source_head, target_gaze=target_gaze,
                                  target_head=target_head)
            return self._labeled(**{IMAGE: images}, **angles)[REDIRECTED]
        if target_gaze is None or target_head is None:
            gaze, head = self.estimate(images)
            target_gaze = gaze if target_gaze is None else target_gaze
            target_head = head if target_head is None else target_head
        angles = self._angles(n, target_gaze=target_gaze, target_head=target_head)
        return self._redirect(**{IMAGE: images}, **angles)[REDIRECTED]
