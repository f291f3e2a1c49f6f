"""Data normalization for gaze and head pose (Zhang, Sugano, Bulling, ETRA 2018,
"Revisiting Data Normalization for Appearance-Based Gaze Estimation"), and paste-back.

Normalization turns a face in any photo into the patch a *normalized camera* would see:
the camera is rotated to look at the face centre (its x axis kept in the plane of the
head's x axis, so head roll is cancelled), moved to a fixed distance by scaling, and the
image is warped with the resulting homography `W = K_n S R K^-1`. Labels follow: gaze is
rotated by R (not scaled), head pose is R @ head rotation. The defaults are ETH-XGaze's
normalized camera (focal 960 px for a 224 px patch at 600 mm), scaled with the patch size,
so patches and labels are interchangeable with ETH-XGaze / ST-ED data.

Pixel coordinates follow OpenCV (pixel centres at integers). Lens distortion is applied
exactly inside the warp (no separate undistortion pass), and warps are supersampled and
area-averaged when they shrink, so small patches of large photos do not alias.
"""

import dataclasses
from typing import Optional

import cv2
import numpy as np

from tfredirect import geometry
from tfredirect.config import NORMALIZED_FOCAL_224

REFERENCE_SIZE = 224  # patch size at which `focal` is given (ETH-XGaze)
MAX_SUPERSAMPLE = 4


@dataclasses.dataclass(frozen=True)
class Camera:
    """Pinhole intrinsics `matrix` (3, 3) in pixels and OpenCV `distortion` coefficients
    (k1, k2, p1, p2[, k3[, k4, k5, k6]]), zeros when the lens is ideal."""

    matrix: np.ndarray
    distortion: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(5))

    def __post_init__(self):
        matrix = np.asarray(self.matrix, np.float64)
        dist = np.asarray(self.distortion, np.float64).ravel()
        if matrix.shape != (3, 3) or matrix[0, 0] <= 0 or matrix[1, 1] <= 0:
            raise ValueError(f"camera matrix must be 3x3 with positive focal lengths, got {matrix.tolist()}")
        if dist.size not in (4, 5, 8, 12, 14):
            raise ValueError(f"distortion must have 4, 5, 8, 12 or 14 coefficients, got {dist.size}")
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "distortion", dist)

    @property
    def distorted(self):
        return bool(np.any(self.distortion))

    def undistort_points(self, points):
        """Pixel coordinates (n, 2) with the lens distortion removed (ideal pinhole pixels)."""
        points = np.asarray(points, np.float64).reshape(-1, 1, 2)
        if not self.distorted:
            return points.reshape(-1, 2)
        return cv2.undistortPoints(points, self.matrix, self.distortion, P=self.matrix).reshape(-1, 2)

    def distort_points(self, points):
        """Inverse of `undistort_points`: ideal pinhole pixels (n, 2) -> image pixels."""
        points = np.asarray(points, np.float64).reshape(-1, 2)
        if not self.distorted:
            return points
        rays = cv2.convertPointsToHomogeneous((points - self.matrix[:2, 2]) / np.diag(self.matrix)[:2])
        zero = np.zeros(3)
        return cv2.projectPoints(rays, zero, zero, self.matrix, self.distortion)[0].reshape(-1, 2)


@dataclasses.dataclass(frozen=True)
class NormalizedFace:
    """A normalized face and everything needed to label it and paste a new patch back."""

    patch: np.ndarray  # (size, size, 3) uint8 RGB
    rotation: np.ndarray  # R (3, 3): camera frame -> normalized camera frame
    warp: np.ndarray  # W (3, 3): undistorted image pixels -> patch pixels
    head: np.ndarray  # (2,) float32 normalized head (pitch, yaw) radians; (0, 0) faces the camera
    head_rotation: np.ndarray  # R @ head rotation (3, 3)
    face_centre: np.ndarray  # (3,) mm, camera frame
    landmarks: np.ndarray  # (K, 2) the input landmarks in patch pixels
    camera: Camera  # the photo's camera
    normalized_camera: np.ndarray  # K_n (3, 3)
    image_shape: tuple  # (height, width) of the photo
    magnification: float  # photo pixels per patch pixel at the face centre
    gaze: Optional[np.ndarray] = None  # (2,) float32 normalized gaze (pitch, yaw), given a target
    gaze_vector: Optional[np.ndarray] = None  # (3,) unit gaze in the normalized frame

    @property
    def size(self):
        return self.patch.shape[0]


def head_pitchyaw(rotation):
    """Head (pitch, yaw) of a head rotation matrix (3, 3) as ETH-XGaze derives it: the
    direction the face points, -rotation[:, 2] (the head model's z axis points into the head),
    in the gaze convention of MODEL.md, i.e. pitch = asin(R[1,2]), yaw = atan2(R[0,2], R[2,2])."""
    return np.asarray(geometry.vector_to_pitchyaw(-np.asarray(rotation, np.float64)[:, 2]), np.float32)


def estimate_head_pose(landmarks, face_model, camera):
    """Head pose (rvec, tvec) of `face_model` (K, 3) mm seen at `landmarks` (K, 2) px, by
    cv2.solvePnP (EPnP start, then iterative Levenberg-Marquardt refinement, with the lens
    distortion), as in the ETRA 2018 reference code."""
    landmarks, face_model = _check_landmarks(landmarks, face_model)
    ok, rvec, tvec = cv2.solvePnP(face_model, landmarks, camera.matrix, camera.distortion, flags=cv2.SOLVEPNP_EPNP)
    if not ok:
        raise ValueError("solvePnP failed: landmarks do not match the face model")
    ok, rvec, tvec = cv2.solvePnP(face_model, landmarks, camera.matrix, camera.distortion, rvec, tvec, True)
    if not ok or tvec[2, 0] <= 0:
        raise ValueError("solvePnP failed: no head pose in front of the camera fits the landmarks")
    return rvec.ravel(), tvec.ravel()


def _check_landmarks(landmarks, face_model):
    landmarks = np.asarray(landmarks, np.float64).reshape(-1, 2)
    face_model = np.asarray(face_model, np.float64)
    if face_model.shape != (len(landmarks), 3) or len(landmarks) < 4:
        raise ValueError(
            f"need K >= 4 landmarks (K, 2) and a face model (K, 3); got {landmarks.shape} and {face_model.shape}"
        )
    if not np.all(np.isfinite(landmarks)):
        raise ValueError("landmarks contain NaN or inf")
    return landmarks, face_model


def _resample(src, to_source, shape, factor, origin=(0.0, 0.0)):
    """Resample `src` on an output grid of `shape` (h, w) whose pixel (x, y) (offset by
    `origin`) maps to source pixels by `to_source(x, y)`; sampled `factor` x per axis and
    area-averaged. Outside the source is 0."""
    h, w = shape
    xs = origin[0] + (np.arange(w * factor) + 0.5) / factor - 0.5
    ys = origin[1] + (np.arange(h * factor) + 0.5) / factor - 0.5
    x, y = np.meshgrid(xs, ys)
    sx, sy = to_source(x.ravel(), y.ravel())
    shape_f = (h * factor, w * factor)
    out = cv2.remap(src, sx.reshape(shape_f).astype(np.float32), sy.reshape(shape_f).astype(np.float32),
                    cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out if factor == 1 else cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA)


def _apply_homography(matrix, x, y):
    p = matrix @ np.stack([x, y, np.ones_like(x)])
    return p[0] / p[2], p[1] / p[2]


def _supersample(ratio):
    return int(np.clip(np.ceil(ratio - 1e-6), 1, MAX_SUPERSAMPLE))


def normalize(image, landmarks, face_model, camera, size=REFERENCE_SIZE, *, focal=NORMALIZED_FOCAL_224, distance=600.0,
              reference_size=REFERENCE_SIZE, centre_weights=None, gaze_target=None, head_pose=None):
    """Normalize the face in `image` (uint8 RGB, H x W x 3).

    landmarks (K, 2) px and face_model (K, 3) mm (same order, K >= 4; the model's x axis
    points to the person's left, y down, z into the head) give the head pose by solvePnP,
    unless `head_pose` = (rvec, tvec) is given. camera: `Camera` of the photo.
    The face centre is the weighted mean of the 3-D landmarks (`centre_weights`, default
    equal: the mean of the six points for MPIIFaceGaze's four eye corners and two mouth
    corners). The normalized camera has focal `focal * size / reference_size` px, the
    principal point at the patch centre, and sits `distance` mm from the face centre.
    gaze_target: optional 3-D point (mm, camera frame) the person looks at; the normalized
    gaze is R @ (target - face centre), normalized. Returns a `NormalizedFace`.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (H, W, 3) RGB, got {image.dtype} {image.shape}")
    landmarks, face_model = _check_landmarks(landmarks, face_model)
    rvec, tvec = estimate_head_pose(landmarks, face_model, camera) if head_pose is None else head_pose
    head_rot = cv2.Rodrigues(np.asarray(rvec, np.float64).reshape(3, 1))[0]
    points = face_model @ head_rot.T + np.asarray(tvec, np.float64).reshape(1, 3)
    weights = np.ones(len(points)) if centre_weights is None else np.asarray(centre_weights, np.float64)
    centre = weights @ points / weights.sum()

    dist = np.linalg.norm(centre)
    forward = centre / dist
    down = np.cross(forward, head_rot[:, 0])
    down /= np.linalg.norm(down)
    right = np.cross(down, forward)
    rotation = np.stack([right, down, forward])
    f = focal * size / reference_size
    cam_norm = np.array([[f, 0.0, size / 2.0], [0.0, f, size / 2.0], [0.0, 0.0, 1.0]])
    warp = cam_norm @ np.diag([1.0, 1.0, distance / dist]) @ rotation @ np.linalg.inv(camera.matrix)

    inverse = np.linalg.inv(warp)

    def to_photo(x, y):
        return camera.distort_points(np.stack(_apply_homography(inverse, x, y), 1)).T

    ratio = np.mean(np.diag(camera.matrix)[:2]) * distance / (f * dist)
    patch = _resample(np.ascontiguousarray(image), to_photo, (size, size), _supersample(ratio))

    head_norm = rotation @ head_rot
    gaze = gaze_vector = None
    if gaze_target is not None:
        gaze_vector = rotation @ (np.asarray(gaze_target, np.float64).ravel() - centre)
        gaze_vector /= np.linalg.norm(gaze_vector)
        gaze = np.asarray(geometry.vector_to_pitchyaw(gaze_vector), np.float32)
    lm = _photo_to_patch(warp, camera, landmarks)
    return NormalizedFace(
        patch=patch, rotation=rotation, warp=warp, head=head_pitchyaw(head_norm), head_rotation=head_norm,
        face_centre=centre, landmarks=lm, camera=camera, normalized_camera=cam_norm,
        image_shape=image.shape[:2], magnification=float(ratio), gaze=gaze, gaze_vector=gaze_vector,
    )


def _photo_to_patch(warp, camera, points):
    return np.stack(_apply_homography(warp, *camera.undistort_points(points).T), 1)


def to_patch(normalized_face, points):
    """Photo pixels (n, 2) -> the normalized patch's pixels (lens distortion removed, then W)."""
    return _photo_to_patch(normalized_face.warp, normalized_face.camera, np.asarray(points, np.float64).reshape(-1, 2))


def face_mask(size, feather=0.15, axes=(0.42, 0.48)):
    """Blend weights (size, size) float32 over the face in a normalized patch: 1 inside an
    ellipse centred on the face centre (the patch centre) with semi-axes `axes` x size,
    falling smoothly to 0 over the outer `feather` fraction of the radius, 0 at the border."""
    c = size / 2.0
    y, x = np.mgrid[:size, :size].astype(np.float64)
    r = np.hypot((x - c) / (axes[0] * size), (y - c) / (axes[1] * size))
    t = np.clip((1.0 - r) / feather, 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def _photo_box(face):
    """(x0, y0, x1, y1): the photo pixels the patch covers (its border mapped back through
    W^-1 and the lens), or None when it covers none."""
    t = np.linspace(-0.5, face.size - 0.5, 33)
    edge = np.concatenate([np.stack([t, np.full_like(t, e)], 1) for e in (t[0], t[-1])] +
                          [np.stack([np.full_like(t, e), t], 1) for e in (t[0], t[-1])])
    border = face.camera.distort_points(np.stack(_apply_homography(np.linalg.inv(face.warp), *edge.T), 1))
    h, w = face.image_shape
    x0, y0 = np.maximum(np.floor(border.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(border.max(0)).astype(int) + 2, (w, h))
    return None if x1 <= x0 or y1 <= y0 else (x0, y0, x1, y1)


def _to_patch_pixels(face, x, y):
    """Photo pixels -> patch pixels (lens distortion removed, then W)."""
    return _apply_homography(face.warp, *face.camera.undistort_points(np.stack([x, y], 1)).T)


def _to_photo_pixels(face, x, y):
    """Patch pixels -> photo pixels (W^-1, then the lens distortion)."""
    return face.camera.distort_points(np.stack(_apply_homography(np.linalg.inv(face.warp), x, y), 1)).T


def _check_photo(original, face):
    original = np.asarray(original)
    if original.shape[:2] != tuple(face.image_shape) or original.dtype != np.uint8 or original.ndim != 3:
        raise ValueError(
            f"original must be the uint8 {tuple(face.image_shape)} RGB photo, got {original.dtype} {original.shape}"
        )
    return original


def _blend_into(original, box, content, alpha):
    """A copy of `original` with `content` (float RGB 0-255 over the box) blended in by
    `alpha` (box, 1); pixels where alpha is 0 keep their exact value."""
    x0, y0, x1, y1 = box
    out = original.copy()
    region = out[y0:y1, x0:x1]
    blended = np.rint(region * (1.0 - alpha) + content * alpha)
    region[...] = np.where(alpha > 0, np.clip(blended, 0, 255), region).astype(np.uint8)
    return out


def paste_back(original, normalized_face, new_patch, feather=0.15, mask=None):
    """Warp `new_patch` (a redirected version of normalized_face.patch, uint8 RGB, any
    square size) back into the photo `original` with the inverse normalization warp (and
    the lens distortion), and blend it in with `mask` (new_patch's size, in [0, 1]; default
    the feathered elliptic face mask `face_mask`). Pixels where the mask is 0 are returned
    unchanged; returns a new uint8 RGB image."""
    face = normalized_face
    original = _check_photo(original, face)
    new_patch = np.asarray(new_patch)
    if new_patch.ndim != 3 or new_patch.shape[0] != new_patch.shape[1] or new_patch.shape[2] != 3:
        raise ValueError(f"new_patch must be a square (S, S, 3) RGB image, got {new_patch.shape}")
    scale = new_patch.shape[0] / face.size
    if mask is None:
        mask = face_mask(new_patch.shape[0], feather)
    mask = np.asarray(mask, np.float32)
    if mask.shape != new_patch.shape[:2]:
        raise ValueError(f"mask must be the patch's size {new_patch.shape[:2]}, got {mask.shape}")

    box = _photo_box(face)
    if box is None:
        return original.copy()
    x0, y0, x1, y1 = box

    def to_patch(x, y):
        qx, qy = _to_patch_pixels(face, x, y)
        return (qx + 0.5) * scale - 0.5, (qy + 0.5) * scale - 0.5

    src = np.dstack([new_patch.astype(np.float32), mask])
    warped = _resample(src, to_patch, (y1 - y0, x1 - x0), _supersample(scale / face.magnification), origin=(x0, y0))
    return _blend_into(original, box, warped[..., :3], warped[..., 3:])


def paste_moved(original, normalized_face, flow, blend, colour, mask, gain=None):
    """A warping decoder's output composed at the photo's own resolution, so that the pixels
    it moves keep the photo's sharpness instead of the patch's: each photo pixel under `mask`
    takes the photo at its patch position moved by `flow`, blended with the decoded `colour`
    by `blend` and re-lit by `gain`, as the decoder composes its patch.

    flow (S, S, 2: dx, dy in patch pixels, the decoder's backward flow), blend and gain
    (S, S) (gain default 1), colour (S, S, 3) uint8 and mask (S, S) in [0, 1], all at the
    patch's size S; returns a new uint8 RGB photo, equal to `original` where the mask is 0."""
    face = normalized_face
    original = _check_photo(original, face)
    size = face.size
    gain = np.ones((size, size), np.float32) if gain is None else gain
    maps = [np.asarray(flow, np.float32), np.asarray(blend, np.float32)[..., None],
            np.asarray(gain, np.float32)[..., None], np.asarray(colour, np.float32),
            np.asarray(mask, np.float32)[..., None]]
    if any(m.shape[:2] != (size, size) for m in maps) or maps[0].shape[2] != 2 or maps[3].shape[2] != 3:
        raise ValueError(f"flow, blend, gain, colour and mask must be the patch's size {size}x{size}, got "
                         f"{[m.shape for m in maps]}")
    box = _photo_box(face)
    if box is None:
        return original.copy()
    x0, y0, x1, y1 = box
    stack = np.dstack(maps)  # 2 + 1 + 1 + 3 + 1 channels, sampled 4 at a time (cv2.remap's limit)

    def to_patch(x, y):
        return _to_patch_pixels(face, x, y)

    shape = (y1 - y0, x1 - x0)
    sampled = np.dstack([_resample(np.ascontiguousarray(stack[..., i:i + 4]), to_patch, shape, 1, origin=(x0, y0))
                         for i in (0, 4)])
    alpha = sampled[..., 7:8]
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    qx, qy = to_patch(xs.ravel(), ys.ravel())
    sx, sy = _to_photo_pixels(face, qx + sampled[..., 0].ravel(), qy + sampled[..., 1].ravel())
    moved = cv2.remap(original, sx.reshape(shape).astype(np.float32), sy.reshape(shape).astype(np.float32),
                      cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32) / 127.5 - 1.0
    m, g, rgb = sampled[..., 2:3], sampled[..., 3:4], sampled[..., 4:7] / 127.5 - 1.0
    composed = np.clip((m * moved + (1.0 - m) * rgb + 1.0) * g - 1.0, -1.0, 1.0)
    return _blend_into(original, box, (composed + 1.0) * 127.5, alpha)
