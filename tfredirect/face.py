"""Faces in the user's own photos: detection, camera, generic 3-D landmarks, normalization.

`prepare_photo` takes an RGB photo to a `normalization.NormalizedFace` (patch, head pose,
and what `normalization.paste_back` needs): the face and its landmarks come from MediaPipe's
face mesh (`tfredirect.facemesh`; MTCNN's five points as a fallback; both ship their weights
in their wheels and run offline) unless the caller gives landmarks, the head pose from
solvePnP against a generic 3-D landmark model, the intrinsics from an OpenCV calibration
file or a default derived from the image size.

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

from tfredirect import facemesh, normalization
from tfredirect.normalization import Camera

# Generic 3-D landmark models in mm: x to the person's left, y down, z into the head; the
# origin is the mean of the four eye corners, which with the mouth corners span the z = 0 plane.
#
# FACE_MODEL_MESH: points of MediaPipe's canonical face model (Apache-2.0, the geometry its
# face mesh is fitted to; its vertices 33, 133, 362, 263, 61, 291, 1 and 6), scaled from cm to
# mm and turned about x by 6.70 deg so that the eye and mouth corners span a plane facing the
# camera, the head frame of ETH-XGaze and MPIIFaceGaze. Rows: the six corners of FACE_MODEL_6,
# the nose tip and the nose bridge between the eyes. The two nose points, well in front of the
# corners, make the pose well-conditioned: six nearly coplanar points alone turn a pixel of
# landmark noise into degrees of pitch (15 deg on a real MPIIFaceGaze frame).
FACE_MODEL_MESH = np.array([
    [-44.46, -0.73, 2.86],   # right eye outer corner
    [-18.56, 0.73, -2.86],   # right eye inner corner
    [18.56, 0.73, -2.86],    # left eye inner corner
    [44.46, -0.73, 2.86],    # left eye outer corner
    [-24.56, 70.15, 0.0],    # right mouth corner
    [24.56, 70.15, 0.0],     # left mouth corner
    [0.0, 41.94, -35.45],    # nose tip
    [0.0, 4.21, -22.89],     # nose bridge
])
MESH_POINTS = facemesh.CORNERS_6 + (1, 6)  # the face mesh's indices of FACE_MODEL_MESH's rows
# FACE_MODEL_6: the corners alone, for six landmarks a user gives. The corners must sit where
# the face mesh puts them (inner corners about 0.42 of the outer ones' distance apart);
# annotations that place them elsewhere (MPIIFaceGaze's) want their own model (--face_model).
FACE_MODEL_6 = FACE_MODEL_MESH[:6]
# FACE_MODEL_5 in the same frame: the eye centres (pupils, as MTCNN marks them) at the
# adult mean interpupillary distance of 63 mm on the eye-corner line, at the corners' mean
# height and depth; the mouth corners of FACE_MODEL_6; the nose tip 36 mm below the eye line
# and 27 mm in front of the eyes and mouth corners (anthropometric means). Good to a few
# degrees of head pose: use your own model (`read_face_model`) when you have one.
FACE_MODEL_5 = np.array([
    [-31.5, 0.0, 0.0],       # right eye centre (pupil)
    [31.5, 0.0, 0.0],        # left eye centre
    [0.0, 36.0, -27.0],      # nose tip
    [-24.56, 70.15, 0.0],    # right mouth corner
    [24.56, 70.15, 0.0],     # left mouth corner
])
# Face centre weights: the mean of the six corners (MPIIFaceGaze's and ETH-XGaze's face
# centre). With five points each eye centre stands for its two corners and the nose is left
# out; the mesh's nose points do not count.
CENTRE_WEIGHTS = {5: np.array([2.0, 2.0, 0.0, 1.0, 1.0]), 6: np.ones(6), 8: np.r_[np.ones(6), np.zeros(2)]}
DETECTORS = ("mesh", "mtcnn")
_MTCNN_ORDER = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


NoFaceError = facemesh.NoFaceError


def load_photo(path):
    """uint8 RGB image from a file, EXIF orientation applied. Raises FileNotFoundError
    "<path>: not found" when there is no such file, ValueError "<path>: cannot read image"
    when it is not an image and "<path>: a damaged <format> file that cannot be decoded" when
    it is cut or corrupted. Decoded with Pillow, which raises where OpenCV's libpng prints to
    the process's stderr and its libjpeg fills a cut JPEG with grey."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: not found")
    try:
        image = Image.open(path)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        raise ValueError(f"{path}: cannot read image") from None
    with image:
        try:
            upright = ImageOps.exif_transpose(image)
            if upright.mode.startswith("I"):  # 16-bit grey: scaled to 8 bits as OpenCV does (convert clips)
                return np.repeat((np.asarray(upright, np.uint32) >> 8).astype(np.uint8)[..., None], 3, axis=-1)
            return np.array(upright.convert("RGB"))
        except (OSError, SyntaxError, ValueError):
            raise ValueError(f"{path}: a damaged {image.format} file that cannot be decoded") from None


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


def read_face_model(path):
    """A 3-D landmark model (K, 3) mm, K = 5 or 6 in this module's landmark order and axes,
    from a text file of K rows x 3 columns or 3 rows x K columns (MPIIFaceGaze's
    faceModelGeneric.txt layout), whitespace or comma separated."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: face model file not found")
    with open(path) as fh:
        text = fh.read().replace(",", " ")
    try:
        rows = [[float(v) for v in line.split()] for line in text.splitlines() if line.strip()]
    except ValueError:
        raise ValueError(f"{path}: face model must be numbers, K rows of x y z (mm)") from None
    if not rows or len({len(r) for r in rows}) != 1:
        raise ValueError(f"{path}: face model rows must all have the same number of values")
    model = np.array(rows)
    if model.ndim == 2 and model.shape[0] == 3 and model.shape[1] in CENTRE_WEIGHTS:
        model = model.T
    if model.ndim != 2 or model.shape[1] != 3 or model.shape[0] not in CENTRE_WEIGHTS:
        raise ValueError(f"{path}: face model must be 5 or 6 points of x y z (K x 3 or 3 x K), "
                         f"got shape {model.shape}")
    if not np.all(np.isfinite(model)):
        raise ValueError(f"{path}: face model contains NaN or inf")
    return model


def prepare_photo(image_rgb, size, camera=None, landmarks=None, face_model=None, gaze_target=None, source=None,
                  detector="mesh", face_index=0, faces=None, **normalize_kwargs):
    """Normalize one face in a photo: `normalization.NormalizedFace` with a (size, size)
    RGB patch, head pose and the warp for `normalization.paste_back`.

    camera: a Camera, a calibration file path (`read_camera_xml`) or None (`default_camera`).
    landmarks: 5 or 6 points (module docstring order) to skip detection; face_model: (K, 3)
    mm for them (default FACE_MODEL_5 / FACE_MODEL_6), or a file for `read_face_model`.
    Without landmarks, `detector` finds the face: "mesh" (the face mesh, `facemesh.detect`;
    face `face_index` of the faces largest first, or of `faces` when already detected; its
    eight FACE_MODEL_MESH points give the pose) or "mtcnn" (five points, the largest face).
    gaze_target, normalize_kwargs: passed to `normalization.normalize`. Raises NoFaceError
    naming `source` if no face, IndexError if there is no face `face_index`.
    """
    image = np.asarray(image_rgb)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise ValueError(f"{source or 'image'}: expected a uint8 RGB image, got {image.dtype} {image.shape}")
    image = np.ascontiguousarray(image[..., :3])
    if camera is None:
        camera = default_camera(*image.shape[:2])
    elif not isinstance(camera, Camera):
        camera = read_camera_xml(camera)
    if landmarks is None and detector == "mesh":
        faces = facemesh.detect(image, source=source) if faces is None else faces
        if not 0 <= face_index < len(faces):
            raise IndexError(f"{source or 'image'}: no face {face_index}; {len(faces)} found (0 is the largest)")
        landmarks = faces[face_index].mesh[list(MESH_POINTS), :2]
        face_model = FACE_MODEL_MESH if face_model is None else face_model
    elif landmarks is None:
        if detector != "mtcnn":
            raise ValueError(f"detector must be one of {DETECTORS}, got {detector!r}")
        landmarks = detect_face(image, source=source)[2]
    landmarks = np.asarray(landmarks, np.float64).reshape(-1, 2)
    if len(landmarks) not in CENTRE_WEIGHTS:
        raise ValueError(f"landmarks must be 5 or 6 points (see tfredirect.face), got {len(landmarks)}")
    if face_model is None:
        face_model = FACE_MODEL_5 if len(landmarks) == 5 else FACE_MODEL_6
    elif isinstance(face_model, (str, os.PathLike)):
        face_model = read_face_model(face_model)
    face_model = np.asarray(face_model, np.float64)
    if face_model.shape != (len(landmarks), 3):
        raise ValueError(f"the face model has shape {face_model.shape} but there are {len(landmarks)} landmarks: "
                         f"it needs one x y z row per landmark, in the same order")
    return normalization.normalize(image, landmarks, face_model, camera, size, gaze_target=gaze_target,
                                   centre_weights=CENTRE_WEIGHTS[len(landmarks)], **normalize_kwargs)
