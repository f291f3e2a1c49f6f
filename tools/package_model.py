"""Package a trained generator as a named model inside tfredirect/pretrained/.

    python tools/package_model.py --model=runs/ship/redirector.keras --name=synthgaze-64 \\
        --run_dir=runs/ship --eval=runs/ship/eval.json --real_photos=real_photos/results.json

Writes <name>.npz (weights as float16) and <name>.json (model config, the run's training
config and summary, the evaluation) into tfredirect/pretrained/, after checking that the
float16 copy redirects like the original (max abs difference on held-out SynthGaze faces).
"""

import json
import os
import sys

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

from absl import app, flags  # noqa: E402

F = flags.FLAGS
flags.DEFINE_string("model", None, "The trained generator: a .keras file, run directory or checkpoint.")
flags.DEFINE_string("name", None, "Name of the packaged model, e.g. synthgaze-64.")
flags.DEFINE_string("run_dir", "", "The tools/train.py run that made it (config.json, summary.json go into the card).")
flags.DEFINE_string("eval", "", "tools/evaluate.py JSON of the model (goes into the card).")
flags.DEFINE_string("real_photos", "", "benchmarks/real_photos.py results.json of the model (its settings and summary "
                    "go into the card).")
flags.DEFINE_string("out_dir", "", "Folder to write into; default: the package's tfredirect/pretrained/, where "
                    "pretrained.load finds it by name.")
flags.DEFINE_bool("overwrite", False, "Replace a packaged model of the same name.")
flags.DEFINE_integer("verbose", 1, "1: what was written; 2: also TensorFlow's start-up lines.", lower_bound=0,
                     upper_bound=2)
flags.mark_flags_as_required(["model", "name"])

MAX_ABS_BUDGET = 0.02  # float16 weights: max abs output difference in [-1, 1] units


def _read(path):
    with open(path) as fh:
        return json.load(fh)


def main(argv):
    del argv
    import numpy as np

    from tfredirect import pretrained
    from tfredirect.serving import parity
    from tfredirect.serving.checkpoints import load_generator

    try:
        folder = F.out_dir or pretrained.HERE
        if F.name in pretrained.names(folder) and not F.overwrite:
            raise ValueError(f"pretrained model {F.name!r} exists; pass --overwrite to replace it")
        info = {"name": F.name, "source": os.path.abspath(F.model),
                "trained_on": "SynthGaze only (synthetic faces; no real photo)"}
        for key, path in (("train_config", os.path.join(F.run_dir, "config.json")),
                          ("train_summary", os.path.join(F.run_dir, "summary.json")), ("evaluation", F.eval)):
            if path and (F.run_dir or key == "evaluation"):
                if not os.path.isfile(path):
                    raise ValueError(f"{path}: not found")
                info[key] = _read(path)
        if F.real_photos:
            if not os.path.isfile(F.real_photos):
                raise ValueError(f"{F.real_photos}: not found")
            real = _read(F.real_photos)
            if not {"settings", "summary"} <= set(real):
                raise ValueError(f"{F.real_photos}: not a benchmarks/real_photos.py results.json (no settings/summary)")
            info["real_photos"] = {k: real[k] for k in ("settings", "summary")}
        model = load_generator(F.model)
        images, gaze, head = parity.held_out_inputs(model.image_size)
        reference = np.asarray(model.redirect(images.astype("float32") / 127.5 - 1, gaze, head))
        staging = os.path.join(folder, f".staging-{F.name}")
        pretrained.save(model, F.name, info, folder=staging)
        copy = pretrained.load(F.name, folder=staging)
        diff = float(np.abs(np.asarray(copy.redirect(images.astype("float32") / 127.5 - 1, gaze, head)) - reference).max())
        if diff > MAX_ABS_BUDGET:
            raise ValueError(f"float16 weights change the output by {diff:.4f} (budget {MAX_ABS_BUDGET})")
        paths = [os.path.join(folder, os.path.basename(p)) for p in pretrained.save(model, F.name, {
            **info, "float16_max_abs_difference": diff}, folder=folder)]
    except (ValueError, OSError) as err:
        print(f"package_model.py: error: {err}", file=sys.stderr)
        return 1
    finally:
        if "staging" in locals():
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
    if F.verbose:
        print(f"float16 weights: max abs output difference {diff:.2e} on {len(images)} held-out SynthGaze faces")
    for path in paths:
        print(f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    app.run(main)
