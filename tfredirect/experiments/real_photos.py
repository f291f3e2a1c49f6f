"""The real-photo benchmark: the user's path (detect, normalize, redirect, paste back) on real
photos, judged by models trained on real faces (MediaPipe's face mesh and iris model,
`tfredirect.facemesh`), never by anything trained on SynthGaze.

For each photo the eyes are turned in the head to yaw -Y and +Y, then pitch +P and -P, the
head kept; the other angle stays at the model's own estimate for the photo (`other="kept"`,
so a yaw test changes only the yaw) or is set to 0 (`"zero"`). The pasted photos are judged:
- iris shift: the iris centre relative to the eye corners, in eye widths, between the two
  yaw outputs (and the two pitch outputs); a real eyeball (radius ~12 mm, eye ~30 mm wide)
  moves it 2 * 12 * sin(Y) / 30 (0.27 for Y = 20 deg);
- right way: the yaw shift has the requested sign;
- mesh drift: how far the face-mesh points outside the eye regions move between the input
  and the yaw outputs, in inter-ocular distances (0 is right for a gaze change);
- rest PSNR: the pasted photos against the original over the face outside the eye regions
  (capped at metrics.MAX_PSNR_DB, which an exact copy reaches);
- iris colour: the largest channel difference of the mean iris colour, output vs input.
"""

import dataclasses
import json
import os

import cv2
import numpy as np

from tfredirect import face, facemesh, geometry, metrics, normalization, photo
from tfredirect.config import CAMERA_DISTANCE_MM

EYEBALL_RADIUS_MM, EYE_WIDTH_MM = 12.0, 30.0
OTHER_AXIS = ("kept", "zero")
SHEET_CELL = 128


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark photo: `name`, `person` (variants of a photo share it), uint8 RGB
    `image` and its `camera` (None: the default from the image size)."""

    name: str
    person: str
    image: np.ndarray
    camera: object = None


def geometric_shift(angle_deg):
    """The iris shift in eye widths of a real eye turned from -angle to +angle."""
    return 2.0 * EYEBALL_RADIUS_MM * np.sin(np.radians(angle_deg)) / EYE_WIDTH_MM


def packaged_photos():
    """The real photos that ship offline with installed packages: skimage's astronaut and
    matplotlib's grace_hopper (cases of two people)."""
    from matplotlib import cbook
    from PIL import Image
    from skimage import data

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as im:
        grace = np.array(im.convert("RGB"))
    return [Case("astronaut", "astronaut", data.astronaut()), Case("grace_hopper", "grace_hopper", grace)]


def mpii_example(folder):
    """A photo in the layout of an MPIIFaceGaze example folder: annotation.json (naming the
    image) and cameraCalib.xml."""
    with open(os.path.join(folder, "annotation.json")) as fh:
        ann = json.load(fh)
    image = face.load_photo(os.path.join(folder, ann["image"]))
    name = os.path.basename(os.path.normpath(folder))
    return Case(name, name, image, face.read_camera_xml(os.path.join(folder, "cameraCalib.xml")))


def with_variants(cases):
    """Each case, its mirror image and a half-size copy (extra cases of the same person)."""
    out = []
    for c in cases:
        h, w = c.image.shape[:2]
        half = cv2.resize(c.image, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        out += [c, Case(c.name + "-mirrored", c.person, np.ascontiguousarray(c.image[:, ::-1]), None),
                Case(c.name + "-half", c.person, half, None)]
    return out


def _nearest(meshes, reference):
    centre = lambda m: m.box[:2] + m.box[2:] / 2
    return min(meshes, key=lambda m: np.linalg.norm(centre(m) - centre(reference)))


def _photo_mask(image_shape, normalized, mask):
    """The photo-space weight (H, W) in [0, 1] with which a patch pasted with `mask` lands."""
    blank = np.zeros(tuple(image_shape) + (3,), np.uint8)
    white = np.full(mask.shape + (3,), 255, np.uint8)
    return normalization.paste_back(blank, normalized, white, mask=mask)[..., 0] / 255.0


def _iris_colour(image, mesh):
    """Mean RGB of the visible iris discs (inside the lid margins) of both eyes."""
    inside = np.zeros(image.shape[:2], np.uint8)
    for iris, ring in zip(mesh.iris, mesh.eye_rings):
        disc = np.zeros_like(inside)
        radius = float(np.mean(np.linalg.norm(iris[1:] - iris[0], axis=1)))
        cv2.circle(disc, tuple(int(v) for v in np.round(iris[0])), max(1, int(round(radius))), 1, -1)
        lids = np.zeros_like(inside)
        cv2.fillPoly(lids, [np.round(ring).astype(np.int32)], 1)
        inside |= disc & lids
    if inside.sum() == 0:
        return np.full(3, np.nan)
    return image[inside.astype(bool)].reshape(-1, 3).astype(np.float64).mean(0)


class ReferenceMove:
    """A stand-in model for calibrating the judges: it moves the person's own pixels inside
    each eye opening of the photo sideways (yaw) or up and down (pitch) by the geometric
    shift, nothing else. What the judges read for it is what a perfect gaze change reads:
    the iris shift they measure and the mesh drift they show even when only the eyes change.
    image_size, camera_distance_mm: the normalized patch whose eye region bounds the rest
    PSNR, as a model's patch does (the move itself is drawn on the photo)."""

    def __init__(self, image_size=64, camera_distance_mm=CAMERA_DISTANCE_MM["synthgaze"]):
        self.image_size = int(image_size)
        self.camera_distance_mm = float(camera_distance_mm)


def _reference_photo(case_image, mesh, p_deg, y_deg):
    out = case_image.copy()
    h, w = out.shape[:2]
    for ring, (a, b) in zip(mesh.eye_rings, ((0, 1), (3, 2))):
        corners = mesh.corners6[[a, b]]
        width = float(np.linalg.norm(corners[1] - corners[0]))
        # +yaw turns the iris to the image's left, +pitch up
        dx = -geometric_shift(y_deg) / 2 * width
        dy = -geometric_shift(p_deg) / 2 * width
        inside = np.zeros((h, w), np.uint8)
        cv2.fillPoly(inside, [np.round(ring).astype(np.int32)], 1)
        moved = cv2.warpAffine(case_image, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        out[inside.astype(bool)] = moved[inside.astype(bool)]
    return out


def eye_targets(yaw_deg, pitch_deg, estimate=None, head=None):
    """{output: (pitch, yaw) eye-in-head degrees} of the four outputs: left/right turn the
    eyes to yaw +Y/-Y, up/down to pitch +P/-P; the angle an output leaves alone is that of the
    camera-frame gaze `estimate` (radians) under `head`, or 0 without an estimate."""
    p0 = y0 = 0.0
    if estimate is not None:
        eye = geometry.eye_in_head(np.asarray(estimate, np.float32)[None], np.asarray(head, np.float32)[None])
        p0, y0 = np.degrees(np.asarray(eye)[0])
    return {"left": (p0, yaw_deg), "right": (p0, -yaw_deg), "up": (pitch_deg, y0), "down": (-pitch_deg, y0)}


def measure(model, case, yaw_deg=20.0, pitch_deg=15.0, keep="auto", eye_pixels="auto", distance_mm=None, other="kept"):
    """(metrics dict, sheet row [input, yaw +Y, yaw -Y, pitch +P, pitch -P] face crops) for
    one case; the photo is normalized at distance_mm, by default the model's own. other: the
    eye-in-head angle each output leaves alone is kept at the model's estimate or set to 0."""
    if other not in OTHER_AXIS:
        raise ValueError(f"other must be one of {OTHER_AXIS}, got {other!r}")
    pf = photo.find_faces(case.image, model.image_size, camera=case.camera, source=case.name,
                          distance=distance_mm or model.camera_distance_mm)[0]
    mesh_in = pf.mesh
    estimate = None
    if other == "kept" and not isinstance(model, ReferenceMove):  # the reference moves from where the eyes are
        estimate = np.asarray(model.estimate(pf.normalized.patch[None])[0], np.float32)[0]
    eih = eye_targets(yaw_deg, pitch_deg, estimate, pf.normalized.head)
    outputs, judged = {}, {}
    for key, (p, y) in eih.items():
        target = np.asarray(geometry.gaze_from_eye_in_head(np.radians([[p, y]]).astype(np.float32),
                                                          pf.normalized.head[None]), np.float32)
        if isinstance(model, ReferenceMove):
            outputs[key] = _reference_photo(case.image, mesh_in, p, y)
        else:
            outputs[key], _ = photo.redirect_photo(model, case.image, [pf], target_gaze=target, keep=keep,
                                                   eye_pixels=eye_pixels)
        judged[key] = _nearest(facemesh.detect(outputs[key], min_score=0.3, source=f"{case.name} ({key})"), mesh_in)
    pos = {k: m.iris_in_eye().mean(0) for k, m in judged.items()}  # (x, y) eye widths, both eyes averaged
    yaw_shift = float(pos["right"][0] - pos["left"][0])  # +yaw turns the iris to the image's left
    pitch_shift = float(pos["down"][1] - pos["up"][1])  # +pitch turns it up
    region = pf.eye_region()
    points = normalization.to_patch(pf.normalized, mesh_in.mesh[:, :2])
    ij = np.clip(np.round(points).astype(int), 0, region.shape[0] - 1)
    outside = (region[ij[:, 1], ij[:, 0]] == 0) & np.all((points >= 0) & (points < region.shape[0]), axis=1)
    drift = np.mean([np.linalg.norm(judged[k].mesh[outside, :2] - mesh_in.mesh[outside, :2], axis=1).mean()
                     for k in ("left", "right")]) / mesh_in.inter_ocular
    eyes_w = _photo_mask(case.image.shape[:2], pf.normalized, region)
    face_w = _photo_mask(case.image.shape[:2], pf.normalized, normalization.face_mask(region.shape[0]))
    rest = (face_w > 0) & (eyes_w == 0)
    mse = np.mean([np.mean((outputs[k][rest].astype(np.float64) - case.image[rest]) ** 2) for k in eih])
    colour_in = _iris_colour(case.image, mesh_in)
    colour = np.max([np.abs(_iris_colour(outputs[k], judged[k]) - colour_in).max() for k in ("left", "right")])
    result = {
        "case": case.name, "person": case.person, "iris_shift_yaw": yaw_shift, "iris_shift_pitch": pitch_shift,
        "right_way": bool(yaw_shift > 0), "mesh_drift": float(drift),
        "rest_psnr": float(metrics.psnr_from_mse(mse, 255.0)),
        "iris_colour_diff": float(colour), "iris_colour_in": [round(float(v), 1) for v in colour_in],
        "landmark_head_deg": [round(float(v), 2) for v in np.degrees(pf.normalized.head)],
    }
    crop = _crop_box(mesh_in, case.image.shape)
    row = [_crop(case.image, crop)] + [_crop(outputs[k], crop) for k in ("left", "right", "up", "down")]
    return result, row


def _crop_box(mesh, shape, margin=0.25):
    lo, hi = mesh.mesh[:, :2].min(0), mesh.mesh[:, :2].max(0)
    centre, half = (lo + hi) / 2, (hi - lo).max() * (0.5 + margin)
    x0, y0 = np.maximum(np.round(centre - half).astype(int), 0)
    x1, y1 = np.minimum(np.round(centre + half).astype(int), (shape[1], shape[0]))
    return x0, y0, x1, y1


def _crop(image, box):
    x0, y0, x1, y1 = box
    return cv2.resize(image[y0:y1, x0:x1], (SHEET_CELL, SHEET_CELL), interpolation=cv2.INTER_AREA)


def summarize(rows, yaw_deg, pitch_deg):
    """Means over the cases and the targets they are held to."""
    col = lambda k: np.array([r[k] for r in rows], np.float64)
    return {
        "cases": len(rows), "persons": len({r["person"] for r in rows}), "yaw_deg": yaw_deg, "pitch_deg": pitch_deg,
        "geometric_shift_yaw": float(geometric_shift(yaw_deg)),
        "geometric_shift_pitch": float(geometric_shift(pitch_deg)),
        "iris_shift_yaw": float(col("iris_shift_yaw").mean()), "iris_shift_pitch": float(col("iris_shift_pitch").mean()),
        "right_way": float(col("right_way").mean()), "mesh_drift": float(col("mesh_drift").mean()),
        "rest_psnr": float(col("rest_psnr").mean()), "iris_colour_diff": float(col("iris_colour_diff").mean()),
    }


def format_table(rows, summary):
    """A Markdown table: one line per case, then the mean and the targets."""
    head = ("| case | iris shift yaw | pitch | right way | mesh drift | rest PSNR | iris colour diff |\n"
            "|---|---|---|---|---|---|---|")
    line = lambda r: (f"| {r['case']} | {r['iris_shift_yaw']:.3f} | {r['iris_shift_pitch']:.3f} | "
                      f"{'yes' if r['right_way'] else 'no'} | {r['mesh_drift']:.4f} | {r['rest_psnr']:.1f} | "
                      f"{r['iris_colour_diff']:.1f} |")
    s = summary
    mean = (f"| **mean of {s['cases']} ({s['persons']} persons)** | {s['iris_shift_yaw']:.3f} | "
            f"{s['iris_shift_pitch']:.3f} | {s['right_way']:.0%} | {s['mesh_drift']:.4f} | {s['rest_psnr']:.1f} | "
            f"{s['iris_colour_diff']:.1f} |")
    target = (f"| target | {s['geometric_shift_yaw']:.3f} +/- 25% | {s['geometric_shift_pitch']:.3f} | 100% | "
              f"<= 0.01 | >= 40 | <= 10 |")
    return "\n".join([head] + [line(r) for r in rows] + [mean, target])


def run(model, cases, yaw_deg=20.0, pitch_deg=15.0, keep="auto", eye_pixels="auto", distance_mm=None, other="kept"):
    """(rows, summary, sheet image) over the cases."""
    from tfredirect import visualize

    rows, sheet = [], []
    for case in cases:
        result, row = measure(model, case, yaw_deg, pitch_deg, keep, eye_pixels, distance_mm, other)
        rows.append(result)
        sheet.append(row)
    return rows, summarize(rows, yaw_deg, pitch_deg), visualize.tile(sheet)
