"""Redirect the gaze and/or head of the face in your own photo.

    python tools/redirect.py --model=synthgaze-64 --image=photo.jpg \\
        --gaze_deg=0,-20 --head_deg=0,15 --paste_back --out_dir=out/

Detects the faces and their face meshes (MediaPipe's models, offline; --detector=mtcnn for
MTCNN's five points; or takes 5 or 6 points from --landmarks), picks one (--face: the
largest, an index, or all), estimates the head pose (solvePnP with the generic 3-D face
model of tfredirect.face or --face_model, and the camera from --calibration, else a default
from the image size), normalizes the face (Zhang et al., ETRA 2018), redirects it, and
writes <name>_normalized.png (normalized input | redirected, a row per face). With
--paste_back it also writes <name>_pasted.png, the photo with the redirected faces warped
back: when only the gaze changes, only the eye regions are redrawn and every other pixel is
the original's (--keep=face pastes the whole face); with --sweep, <name>_sweep.png (gaze and
head sweeps of the first face). Angles are pitch,yaw in DEGREES in the
normalized camera frame (positive pitch up, positive yaw towards the image's left); a target
left out keeps the model's estimate. Nothing is written when anything fails, and every
output appears whole (written beside, renamed in).
"""

import contextlib
import json
import os
import sys

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from tfredirect import cli  # noqa: E402
from tfredirect.appearance import EYE_PIXELS  # noqa: E402

F = flags.FLAGS
flags.DEFINE_string("model", None, "The generator: a .keras file (tools/train.py), a run directory, a checkpoint "
                    "prefix or a shipped name (synthgaze-64).")
flags.DEFINE_string("image", None, "The photo (JPEG/PNG).")
flags.DEFINE_list("gaze_deg", None, "Target gaze pitch,yaw in degrees, e.g. 0,-20; left out keeps the model's estimate.")
flags.DEFINE_list("head_deg", None, "Target head pitch,yaw in degrees, e.g. 0,15; left out keeps the model's estimate.")
flags.DEFINE_bool("sweep", False, "Also write a grid of gaze and head sweeps.")
flags.DEFINE_bool("paste_back", False, "Also write the photo with the redirected face blended in.")
flags.DEFINE_string("landmarks", None, "5 or 6 points 'x1,y1,...' (or a JSON/text file) instead of detection.")
flags.DEFINE_string("face", "largest", "Which face: 'largest', 'all', or an index (0 is the largest).")
flags.DEFINE_enum("detector", "mesh", ["mesh", "mtcnn"], "Face landmarks: the face mesh or MTCNN's five points.")
flags.DEFINE_enum("keep", "auto", ["auto", "eyes", "face"], "What changes: 'eyes' keeps every pixel outside the eye "
                  "regions; 'face' redraws the whole face; 'auto' is 'eyes' when no head target is given.")
flags.DEFINE_enum("eye_pixels", "auto", list(EYE_PIXELS), "What fills the redrawn eye regions: 'photo' the "
                  "photo's own pixels moved by the flow at the photo's resolution, blended and re-lit as the decoder "
                  "does; 'decoded' the model's output patch; 'moved' only the patch's moved pixels; 'auto' is 'photo' "
                  "for a warping model when only the eyes change, else 'decoded'.")
flags.DEFINE_string("calibration", None, "OpenCV XML/YAML with camera_matrix and cam_distortion.")
flags.DEFINE_string("face_model", None, "3-D model (mm) of the 5 or 6 landmarks instead of the generic one: a text "
                    "file of K rows x y z or 3 rows of K (MPIIFaceGaze's faceModelGeneric.txt layout).")
flags.DEFINE_float("distance_mm", None, "Normalized camera distance in mm; default: the model's, that of the "
                   "faces it was trained on (SynthGaze: 720, ETH-XGaze: 600), so the face has their size.")
flags.DEFINE_string("out_dir", ".", "Output folder.")
flags.DEFINE_bool("overwrite", False, "Replace existing outputs.")
flags.DEFINE_integer("verbose", 1, "0: print only what was written (and warnings), 1: also the faces found and the "
                     "model's estimates, 2: also TensorFlow's start-up lines.", lower_bound=0, upper_bound=2)
flags.DEFINE_alias("paste-back", "paste_back")  # the old name
flags.DEFINE_alias("distance", "distance_mm")  # the old name
flags.mark_flags_as_required(["model", "image"])


def pitch_yaw_deg(value, name):
    """A 'pitch,yaw' list in degrees as a float32 array; ValueError naming the flag when it is
    not two finite numbers with |pitch| <= 90 and |yaw| <= 180."""
    try:
        angles = np.asarray([float(v) for v in value], np.float64)
    except ValueError:
        angles = np.array([])
    if angles.shape != (2,) or not np.all(np.isfinite(angles)) or abs(angles[0]) > 90 or abs(angles[1]) > 180:
        raise ValueError(f"--{name}={','.join(value)}: expected pitch,yaw in degrees, pitch within +/-90 and "
                         "yaw within +/-180")
    return angles.astype(np.float32)


flags.register_validator("face", lambda v: v in ("largest", "all") or v.isdigit(),
                         message="expected 'largest', 'all' or a face index (0 is the largest)")
cli.check_flag("gaze_deg", pitch_yaw_deg)
cli.check_flag("head_deg", pitch_yaw_deg)
flags.register_validator("distance_mm", lambda v: v is None or v > 0, message="expected a positive distance in mm")


def read_landmarks(spec):
    """Landmarks from 'x1,y1,...', a JSON file (a list of [x, y] or {'landmarks_2d_px': ...}) or a text file."""
    if os.path.isfile(spec):
        with open(spec) as fh:
            text = fh.read()
        try:
            data = json.loads(text)
            data = data.get("landmarks_2d_px", data) if isinstance(data, dict) else data
            values = np.asarray(data, np.float64).ravel()
        except json.JSONDecodeError:
            values = np.asarray(text.replace(",", " ").split(), np.float64)
    else:
        try:
            values = np.asarray([float(v) for v in spec.replace(";", ",").split(",") if v.strip()])
        except ValueError:
            raise ValueError(f"--landmarks {spec!r}: not a file and not 'x1,y1,x2,y2,...'") from None
    if values.size not in (10, 12):
        raise ValueError(f"--landmarks: need 5 or 6 points (10 or 12 numbers), got {values.size}")
    return values.reshape(-1, 2)


def target_radians(value, name):
    """The (1, 2) radians target of a degrees flag, or None (keep the model's estimate)."""
    return None if value is None else np.radians(pitch_yaw_deg(value, name))[None]


def main(argv):
    del argv
    from tfredirect import fileio

    stem = os.path.splitext(os.path.basename(F.image))[0]
    outputs = {"normalized": os.path.join(F.out_dir, f"{stem}_normalized.png")}
    if F.paste_back:
        outputs["pasted"] = os.path.join(F.out_dir, f"{stem}_pasted.png")
    if F.sweep:
        outputs["sweep"] = os.path.join(F.out_dir, f"{stem}_sweep.png")
    try:
        # the inputs are checked before TensorFlow is imported and the model loaded: a bad
        # path or argument fails at once
        for path in outputs.values():
            fileio.refuse_existing(path, F.overwrite)
        if not os.path.isfile(F.image):
            raise FileNotFoundError(f"{F.image}: not found")
        gaze = target_radians(F.gaze_deg, "gaze_deg")
        head = target_radians(F.head_deg, "head_deg")
        landmarks = read_landmarks(F.landmarks) if F.landmarks else None

        from tfredirect import face

        photo = face.load_photo(F.image)
        camera = face.read_camera_xml(F.calibration) if F.calibration else None
        face_model = face.read_face_model(F.face_model) if F.face_model else None
        points = {"mesh": 8, "mtcnn": 5}[F.detector] if landmarks is None else len(landmarks)
        if face_model is not None and len(face_model) != points:
            given = "--landmarks gives" if landmarks is not None else f"--detector={F.detector} gives"
            raise ValueError(f"--face_model {F.face_model} has {len(face_model)} points but {given} {points}")

        from tfredirect import geometry, visualize
        from tfredirect.data.synthgaze import EYE_IN_HEAD_RANGE
        from tfredirect.serving.checkpoints import load_generator

        from tfredirect import photo as photo_path

        model = load_generator(F.model)
        faces = photo_path.find_faces(photo, model.image_size, camera=camera, landmarks=landmarks,
                                      face_model=face_model, detector=F.detector, which=F.face, source=F.image,
                                      distance=F.distance_mm or model.camera_distance_mm)
        pasted, results = photo_path.redirect_photo(model, photo, faces, target_gaze=gaze, target_head=head,
                                                    keep=F.keep, eye_pixels=F.eye_pixels)
        nf = faces[0].normalized
        patch = nf.patch[None]
        est_gaze, est_head = (np.asarray(v) for v in model.estimate(patch))
        pictures = {"normalized": visualize.tile([[pf.normalized.patch, r] for pf, r in zip(faces, results)])}
        if F.paste_back:
            pictures["pasted"] = pasted
        if F.sweep:
            pictures["sweep"] = visualize.sweep_grid(model, patch, est_gaze, est_head)
        os.makedirs(F.out_dir, exist_ok=True)
        # all pictures are written to temporary files first; they are renamed in only when every one is written
        with contextlib.ExitStack() as stack:
            for name, path in outputs.items():
                tmp = stack.enter_context(fileio.atomic_path(path, F.overwrite))
                visualize.write_png(tmp, pictures[name], scale=1 if name == "pasted" else max(1, 256 // model.image_size))
    except (ValueError, OSError, IndexError) as err:
        print(f"redirect.py: error: {err}", file=sys.stderr)
        return 1
    deg = lambda v: "({:+.1f}, {:+.1f}) deg".format(*np.degrees(np.asarray(v).reshape(-1)[:2]))
    for pf in faces if F.verbose else ():
        where = ("box x,y,w,h " + ",".join(str(int(round(v))) for v in pf.mesh.box)) if pf.mesh else "given landmarks"
        print(f"{F.image}: face {pf.index} of {pf.found} found (0 is the largest; {where}) normalized to "
              f"{model.image_size}x{model.image_size} at {F.distance_mm or model.camera_distance_mm:g} mm; head pose from "
              f"the landmarks {deg(pf.normalized.head)}")
    if F.verbose:
        print(f"model estimates gaze {deg(est_gaze)}, head {deg(est_head)} (face {faces[0].index})")
        print(f"targets: gaze {deg(gaze) if gaze is not None else 'kept'}, "
              f"head {deg(head) if head is not None else 'kept'}")
    if landmarks is not None and len(landmarks) == 6 and face_model is None:
        print("redirect.py: warning: six landmarks and the generic corners of the canonical face: six nearly coplanar "
              "points leave the head pitch ill-conditioned (tens of degrees for corners placed otherwise than the "
              "face mesh places them); pass their own --face_model (MPIIFaceGaze: faceModelGeneric.txt) or let the "
              "face mesh find the face", file=sys.stderr)
    eye = np.asarray(geometry.eye_in_head(est_gaze if gaze is None else gaze, est_head if head is None else head))
    if np.any(np.abs(eye) > np.asarray(EYE_IN_HEAD_RANGE) + 1e-3):
        print(f"redirect.py: warning: these targets turn the eyes {deg(eye)} in the head, beyond the +/-35 deg faces "
              "show (and the model learned); the result will not show the target gaze", file=sys.stderr)
    for path in outputs.values():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    app.run(main)
