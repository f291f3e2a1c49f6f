"""Faces in the user's own photos: detection, camera, generic 3-D landmarks, normalization.

`prepare_photo` takes an RGB photo to a `normalization.NormalizedFace` (patch, head pose,
and what `normalization.paste_back` needs): the face and five landmarks come from MTCNN
(weights ship with the `mtcnn` package; runs offline) unless the caller gives landmarks,
the head pose from solvePnP against a generic 3-D landmark model, the intrinsics from an
OpenCV calibration file or a default derived from the image size.

Landmark order (person's right/left; for a frontal face the person's right is image left):
- 5 points: right eye centre, left eye centre, nose tip, right mouth corner, left mouth corner
  (MTCNN's `left_eye, right_eye, nose, mouth_left, mouth_right`, which are named in image terms);
- 6 points: right eye outer, right eye inner, left eye inner, left eye outer corner, right
  mouth corner, left mouth corner (MPIIFaceGaze order).
"""

import functools
import os

import cv2
import numpy as np

from tfredirect import normalization
from tfredirect.normalization import Camera

# Generic 3-D landmark models in mm: x to the person's left, y down, z into the head
# (origin between the eyes). Derived from adult anthropometric means, not from any dataset:
# interpupillary distance 63, biocular (outer canthi) width 90, intercanthal width 33,
# mouth width 52, eye line to mouth corners 70, nose tip 36 below the eye line and ~19 in
# front of the pupils / ~27 in front of the mouth corners; the outer eye corners and the
# mouth corners lie deeper than the pupils. Good to a few degrees of head pose: use your
# own model (e.g. MPIIFaceGaze's faceModelGeneric.txt) when you have one.
FACE_MODEL_5 = np.array([
    [-31.5, 0.0, 0.0],    # right eye centre (pupil)
    [31.5, 0.0, 0.0],     # left eye centre
    [0.0, 36.0, -19.0],   # nose tip
    [-26.0, 70.0, 8.0],   # right mouth corner
    [26.0, 70.0, 8.0],    # left mouth corner
])
FACE_MODEL_6 = np.array([
    [-45.0, 0.0, 9.0],    # right eye outer corner
    [-16.5, 0.0, 1.0],    # right eye inner corner
    [16.5, 0.0, 1.0],     # left eye inner corner
    [45.0, 0.0, 9.0],     # left eye outer corner
    [-26.0, 70.0, 8.0],   # right mouth corner
    [26.0, 70.0, 8.0],    # left mouth corner
])
# Face centre weights: the mean of the six MPIIFaceGaze points. With five points each eye
# centre stands for its two corners and the nose is left out, so both agree.
CENTRE_WEIGHTS = {5: np.array([2.0, 2.0, 0.0, 1.0, 1.0]), 6: np.ones(6)}
_MTCNN_ORDER = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class NoFaceError(ValueError):
    """No face (above the confidence threshold) in a photo."""


def load_photo(path):
    """uint8 RGB image from a file, with an error naming it when it cannot be read."""
    image = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: cannot read image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@functools.lru_cache(maxsize=1)
def _detector():
    from mtcnn import MTCNN  # imported lazily: only photo users need it

    return MTCNN()


def detect_face(image_rgb, min_confidence=0.9, source=None):
    """The largest face with MTCNN confidence >= min_confidence in an RGB uint8 image.

    Returns (box (x, y, w, h), confidence, landmarks (5, 2) px in this module's 5-point
    order). Raises NoFaceError naming `source` (e.g. the file) when there is none.
    """
    image = np.ascontiguousarray(np.asarray(image_rgb)[..., :3])
    faces = [f for f in _detector().detect_faces(image) if f["confidence"] >= min_confidence]
    if not faces:
        raise NoFaceError(f"{source or 'image'}: no face found (MTCNN confidence >= {min_confidence})")
    best = max(faces, key=lambda f: f["box"][2] * f["box"][3])
    landmarks = np.array([best["keypoints"][k] for k in _MTCNN_ORDER], np.float64)
    return np.array(best["box"], np.float64), float(best["confidence"]), landmarks


def default_camera(height, width):
    """Intrinsics for an uncalibrated photo: focal length = the longer image side in pixels
    (a ~53 deg field of view across it, typical of phone and webcam cameras), principal
    point at the image centre, no distortion. Head pose and normalization are tolerant of
    this guess because the face is small against the field of view."""
    f = float(max(height, width))
    return Camera(np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]]))


def read_camera_xml(path):
    """Camera from an OpenCV FileStorage calibration (XML/YAML) with nodes `camera_matrix`
    (3x3) and `cam_distortion` (1xN), as MPIIFaceGaze's cameraCalib.xml."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: calibration file not found")
    fs = cv2.FileStorage(path, cv2.FILE_STORAGE_READ)
    try:
        nodes = {}
        for key in ("camera_matrix", "cam_distortion"):
            node = fs.getNode(key)
            nodes[key] = None if node.empty() else node.mat()
            if nodes[key] is None:
                raise ValueError(f"{path}: missing matrix '{key}'")
    finally:
        fs.release()
    try:
        return Camera(nodes["camera_matrix"], nodes["cam_distortion"])
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def prepare_photo(image_rgb, size, camera=None, landmarks=None, face_model=None, gaze_target=None, source=None,
                  **normalize_kwargs):
    """Normalize the face in a photo: `normalization.NormalizedFace` with a (size, size)
    RGB patch, head pose and the warp for `normalization.paste_back`.

    camera: a Camera, a calibration file path (`read_camera_xml`) or None (`default_camera`).
    landmarks: 5 or 6 points (module docstring order) to skip detection; face_model: (K, 3)
    mm for them (default FACE_MODEL_5 / FACE_MODEL_6). gaze_target, normalize_kwargs:
    passed to `normalization.normalize`. Raises NoFaceError naming `source` if no face.
    """
    image = np.asarray(image_rgb)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise ValueError(f"{source or 'image'}: expected a uint8 RGB image, got {image.dtype} {image.shape}")
    image = np.ascontiguousarray(image[..., :3])
    if camera is None:
        camera = default_camera(*image.shape[:2])
    elif not isinstance(camera, Camera):
        camera = read_camera_xml(camera)
    if landmarks is None:
        landmarks = detect_face(image, source=source)[2]
    landmarks = np.asarray(landmarks, np.float64).reshape(-1, 2)
    if len(landmarks) not in CENTRE_WEIGHTS:
        raise ValueError(f"landmarks must be 5 or 6 points (see tfredirect.face), got {len(landmarks)}")
    if face_model is None:
        face_model = FACE_MODEL_5 if len(landmarks) == 5 else FACE_MODEL_6
    return normalization.normalize(image, landmarks, face_model, camera, size, gaze_target=gaze_target,
                                   centre_weights=CENTRE_WEIGHTS[len(landmarks)], **normalize_kwargs)
