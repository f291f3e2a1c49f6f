"""Redirect the gaze and/or head of the face in your own photo.

    python tools/redirect.py --model runs/demo/redirector.keras --image photo.jpg \
        --gaze 0 -20 --head 0 15 --paste-back --out_dir out/

Detects the face and five landmarks (MTCNN, offline; or takes 5 or 6 from --landmarks),
estimates the head pose (solvePnP with the generic 3-D face model of tfredirect.face or
--face_model, and the camera from --calibration, else a default from the image size),
normalizes the face (Zhang et al., ETRA 2018), redirects it, and writes
<name>_normalized.png (normalized input | redirected). With --paste-back it also writes
<name>_pasted.png, the photo with the redirected face warped back and blended in; with
--sweep, <name>_sweep.png (gaze and head sweeps). Angles are pitch and yaw in DEGREES in the
normalized camera frame (positive pitch up, positive yaw towards the image's left); a target
left out keeps the model's estimate. Nothing is written when anything fails.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="redirector .keras (tools/train.py) or a training run directory")
    p.add_argument("--image", required=True, help="photo (JPEG/PNG)")
    p.add_argument("--gaze", nargs=2, type=float, metavar=("PITCH", "YAW"), help="target gaze, degrees")
    p.add_argument("--head", nargs=2, type=float, metavar=("PITCH", "YAW"), help="target head pose, degrees")
    p.add_argument("--sweep", action="store_true", help="also write a grid of gaze and head sweeps")
    p.add_argument("--paste-back", dest="paste_back", action="store_true", help="write the photo with the new face")
    p.add_argument("--landmarks", help="5 or 6 points 'x1,y1,...' (or a JSON/text file) instead of detection")
    p.add_argument("--calibration", help="OpenCV XML/YAML with camera_matrix and cam_distortion")
    p.add_argument("--face_model", help="3-D model (mm) of the 5 or 6 landmarks instead of the generic one: a text "
                   "file of K rows x y z or 3 rows of K (MPIIFaceGaze's faceModelGeneric.txt layout)")
    p.add_argument("--distance", type=float, default=600.0, help="normalized camera distance, mm (ETH-XGaze: 600)")
    p.add_argument("--out_dir", default=".", help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    return p.parse_args(argv)


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


def degrees_to_targets(value, name, batch):
    if value is None:
        return None
    if not np.all(np.isfinite(value)) or abs(value[0]) > 90 or abs(value[1]) > 180:
        raise ValueError(f"--{name} {value}: pitch must be within +/-90 and yaw within +/-180 degrees")
    return np.tile(np.radians(np.asarray(value, np.float32)), (batch, 1)).astype(np.float32)


def main(argv=None):
    args = parse_args(argv)
    stem = os.path.splitext(os.path.basename(args.image))[0]
    outputs = {"normalized": os.path.join(args.out_dir, f"{stem}_normalized.png")}
    if args.paste_back:
        outputs["pasted"] = os.path.join(args.out_dir, f"{stem}_pasted.png")
    if args.sweep:
        outputs["sweep"] = os.path.join(args.out_dir, f"{stem}_sweep.png")
    try:
        # the inputs are checked before TensorFlow is imported and the model loaded: a bad
        # path or argument fails at once
        existing = [p for p in outputs.values() if os.path.exists(p)]
        if existing and not args.overwrite:
            raise ValueError(f"{', '.join(existing)} exist(s); pass --overwrite to replace")
        if not os.path.isfile(args.image):
            raise FileNotFoundError(f"{args.image}: not found")
        gaze = degrees_to_targets(args.gaze, "gaze", 1)
        head = degrees_to_targets(args.head, "head", 1)
        landmarks = read_landmarks(args.landmarks) if args.landmarks else None

        from tfredirect import face

        photo = face.load_photo(args.image)
        camera = face.read_camera_xml(args.calibration) if args.calibration else None
        face_model = face.read_face_model(args.face_model) if args.face_model else None
        points = 5 if landmarks is None else len(landmarks)
        if face_model is not None and len(face_model) != points:
            given = "--landmarks gives" if landmarks is not None else "face detection gives (pass --landmarks for 6)"
            raise ValueError(f"--face_model {args.face_model} has {len(face_model)} points but {given} {points}")

        from tfredirect import normalization, visualize
        from tfredirect.serving.checkpoints import load_generator

        model = load_generator(args.model)
        nf = face.prepare_photo(photo, model.image_size, camera=camera, landmarks=landmarks, face_model=face_model,
                                source=args.image, distance=args.distance)
        patch = nf.patch[None]
        est_gaze, est_head = (np.asarray(v) for v in model.estimate(patch))
        result = np.asarray(model.redirect(patch, target_gaze=gaze, target_head=head))[0]
        pictures = {"normalized": visualize.tile([[nf.patch, result]])}
        if args.paste_back:
            pictures["pasted"] = normalization.paste_back(photo, nf, result)
        if args.sweep:
            pictures["sweep"] = visualize.sweep_grid(model, patch, est_gaze, est_head)
    except (ValueError, OSError) as err:
        print(f"redirect.py: error: {err}", file=sys.stderr)
        return 1
    os.makedirs(args.out_dir, exist_ok=True)
    deg = lambda v: "({:+.1f}, {:+.1f}) deg".format(*np.degrees(np.asarray(v).reshape(-1)[:2]))
    print(f"{args.image}: face normalized to {model.image_size}x{model.image_size}; head pose from the "
          f"landmarks {deg(nf.head)}, model estimates gaze {deg(est_gaze)}, head {deg(est_head)}")
    print(f"targets: gaze {deg(gaze) if gaze is not None else 'kept'}, head {deg(head) if head is not None else 'kept'}")
    for name, path in outputs.items():
        scale = 1 if name == "pasted" else max(1, 256 // model.image_size)
        visualize.write_png(path, pictures[name], scale=scale)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
