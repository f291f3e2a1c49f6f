#!/usr/bin/env python3
"""Redirect the gaze and/or head of a face image with an exported tfredirect TFLite model.

Standalone: needs only numpy, opencv-python(-headless) and ai-edge-litert, like an app would.

    python export/redirect_image.py --model redirector_float32.tflite --image face.png \
        --gaze_deg 10 -20 --head_deg 0 15 --out redirected.png

The input should be a normalized face patch (see docs/export.md); --crop X Y W H cuts a
region out of a larger photo first. The image is centre-cropped to a square and resized to
the model's size. Angles are pitch and yaw in degrees here (the model itself takes
radians); a target left out keeps the model's own estimate. Writes a PNG with the input and
the result side by side (or the result alone with --result_only).
"""

import argparse
import os
import sys

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter


def load_face(path, size, crop=None):
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"{path}: cannot read image")
    if crop:
        x, y, w, h = crop
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > bgr.shape[1] or y + h > bgr.shape[0]:
            raise ValueError(f"--crop {crop} is outside the {bgr.shape[1]}x{bgr.shape[0]} image {path}")
        bgr = bgr[y : y + h, x : x + w]
    h, w = bgr.shape[:2]
    s = min(h, w)
    bgr = bgr[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    interp = cv2.INTER_AREA if s > size else cv2.INTER_CUBIC
    return cv2.cvtColor(cv2.resize(bgr, (size, size), interpolation=interp), cv2.COLOR_BGR2RGB)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="redirector_*.tflite from tools/export.py")
    p.add_argument("--image", required=True, help="face image (PNG/JPEG)")
    p.add_argument("--gaze_deg", nargs=2, type=float, metavar=("PITCH", "YAW"), help="target gaze, degrees")
    p.add_argument("--head_deg", nargs=2, type=float, metavar=("PITCH", "YAW"), help="target head pose, degrees")
    p.add_argument("--crop", nargs=4, type=int, metavar=("X", "Y", "W", "H"), help="face region of a larger photo")
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--result_only", action="store_true", help="write only the redirected image")
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    try:
        if os.path.exists(a.out) and not a.overwrite:
            raise ValueError(f"{a.out} exists; pass --overwrite to replace it")
        for name in ("gaze_deg", "head_deg"):
            v = getattr(a, name)
            if v is not None and (not np.all(np.isfinite(v)) or abs(v[0]) > 90 or abs(v[1]) > 180):
                raise ValueError(f"--{name} {v}: pitch must be within +/-90 and yaw within +/-180 degrees")
        interp = Interpreter(model_path=a.model, num_threads=a.threads)
        estimate = interp.get_signature_runner("estimate")
        redirect = interp.get_signature_runner("redirect")
        size = int(estimate.get_input_details()["image"]["shape_signature"][1])
        face = load_face(a.image, size, a.crop)[None]
        est = estimate(image=face)
        gaze = np.radians([a.gaze_deg], dtype=np.float32) if a.gaze_deg else est["gaze"]
        head = np.radians([a.head_deg], dtype=np.float32) if a.head_deg else est["head"]
        out = redirect(image=face, target_gaze=gaze.astype(np.float32), target_head=head.astype(np.float32))
        result = out["redirected"][0]
        picture = result if a.result_only else np.concatenate([face[0], result], axis=1)
        if not cv2.imwrite(a.out, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)):
            raise ValueError(f"{a.out}: cannot write PNG")
    except (ValueError, OSError, RuntimeError, KeyError) as err:
        print(f"redirect_image.py: error: {err}", file=sys.stderr)
        return 1
    deg = lambda v: "({:+.1f}, {:+.1f}) deg".format(*np.degrees(v[0]))
    print(f"estimated gaze {deg(est['gaze'])}, head {deg(est['head'])}; "
          f"target gaze {deg(gaze)}, head {deg(head)}")
    print(f"wrote {a.out} ({picture.shape[1]}x{picture.shape[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
