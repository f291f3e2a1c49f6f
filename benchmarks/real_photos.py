"""Real-photo benchmark: a redirector on real photos, judged by MediaPipe's face mesh and
iris model (trained on real faces; tfredirect.experiments.real_photos says what is measured).

    python benchmarks/real_photos.py --model=synthgaze-64 --out_dir=real_photos/

Cases: skimage's astronaut and matplotlib's grace_hopper, the frames of --mpii_examples
(folders in the MPIIFaceGaze example layout: annotation.json naming the image, and
cameraCalib.xml), every photo of --photos, each with its mirror image and a half-size copy.
--model=reference runs the judges' calibration instead of a model: the eye openings' own
pixels shifted by the geometric amount. Writes results.json, table.md and sheet.png (per
case: input | eyes left | right | up | down, the pasted photos) into --out_dir and prints the table.
"""

import contextlib
import json
import os
import sys

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

from absl import app, flags  # noqa: E402

from tfredirect.appearance import EYE_PIXELS  # noqa: E402
from tfredirect.experiments.real_photos import OTHER_AXIS  # noqa: E402

F = flags.FLAGS
flags.DEFINE_string("model", "synthgaze-64", "Redirector (.keras, run directory, shipped name) or 'reference'.")
flags.DEFINE_float("yaw_deg", 20.0, "Eye-in-head yaw of the left/right outputs, degrees.", lower_bound=1, upper_bound=35)
flags.DEFINE_float("pitch_deg", 15.0, "Eye-in-head pitch of the up/down outputs, degrees.", lower_bound=1,
                   upper_bound=35)
flags.DEFINE_enum("other_axis", "kept", list(OTHER_AXIS), "The eye-in-head angle an output leaves alone: the "
                  "yaw outputs' pitch and the pitch outputs' yaw, kept at the model's own estimate for the photo "
                  "(kept: a yaw test changes only the yaw) or set to 0 (zero: every output an absolute direction).")
flags.DEFINE_enum("keep", "auto", ["auto", "eyes", "face"], "What is pasted back: the eye regions only (auto, "
                  "the tools' default for a gaze change) or the whole face.")
flags.DEFINE_enum("eye_pixels", "auto", list(EYE_PIXELS), "Inside the eye regions: the decoder's output (decoded), "
                  "the warp decoder's moved input pixels only (moved), the warping decoders' composition redone on "
                  "the photo's own pixels at its resolution (photo), or as tools/redirect.py does (auto: photo for a "
                  "warping model, else decoded).")
flags.DEFINE_float("distance_mm", None, "Normalized camera distance of the photos, mm; default: the model's (that of "
                   "its training faces).", lower_bound=1)
flags.DEFINE_list("mpii_examples", [], "Folders in the MPIIFaceGaze example layout.")
flags.DEFINE_list("photos", [], "More photos (JPEG/PNG), one face each; the default camera.")
flags.DEFINE_bool("variants", True, "Add each photo's mirror image and a half-size copy.")
flags.DEFINE_string("out_dir", None, "Folder for results.json, table.md and sheet.png (it must not exist, unless "
                    "--overwrite).")
flags.DEFINE_bool("overwrite", False, "Replace the outputs.")
flags.mark_flag_as_required("out_dir")


def main(argv):
    del argv
    from tfredirect import face, fileio, visualize
    from tfredirect.experiments import real_photos

    outputs = {k: os.path.join(F.out_dir, k) for k in ("results.json", "table.md", "sheet.png")}
    try:
        for path in outputs.values():
            fileio.refuse_existing(path, F.overwrite)
        cases = real_photos.packaged_photos() + [real_photos.mpii_example(d) for d in F.mpii_examples]
        for path in F.photos:
            name = os.path.splitext(os.path.basename(path))[0]
            cases.append(real_photos.Case(name, name, face.load_photo(path)))
        cases = real_photos.with_variants(cases) if F.variants else cases
        if F.model == "reference":
            model = real_photos.ReferenceMove()
        else:
            from tfredirect.serving.checkpoints import load_generator

            model = load_generator(F.model)
        rows, summary, sheet = real_photos.run(model, cases, F.yaw_deg, F.pitch_deg, F.keep, F.eye_pixels,
                                             F.distance_mm, F.other_axis)
    except (ValueError, OSError, IndexError) as err:
        print(f"real_photos.py: error: {err}", file=sys.stderr)
        return 1
    table = real_photos.format_table(rows, summary)
    os.makedirs(F.out_dir, exist_ok=True)
    settings = {"model": F.model, "keep": F.keep, "eye_pixels": F.eye_pixels, "other_axis": F.other_axis,
                "distance_mm": F.distance_mm or model.camera_distance_mm}
    # written aside, renamed in only when all three are written
    with contextlib.ExitStack() as stack:
        tmp = {k: stack.enter_context(fileio.atomic_path(p, F.overwrite)) for k, p in outputs.items()}
        with open(tmp["results.json"], "w") as fh:
            json.dump({"settings": settings, "summary": summary, "cases": rows}, fh, indent=1)
        with open(tmp["table.md"], "w") as fh:
            fh.write(table + "\n")
        visualize.write_png(tmp["sheet.png"], sheet)
    print(table)
    for path in outputs.values():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    app.run(main)
