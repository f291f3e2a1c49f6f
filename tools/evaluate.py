"""Evaluate a trained redirector against SynthGaze's exact renders.

    python tools/evaluate.py --model=runs/demo/redirector.keras --out=runs/demo/eval.json

For test persons, image i is redirected to the labels of image j of the same person (gaze
only, head only, both) and compared with the exact render: L1, PSNR, SSIM; plus the
auxiliary heads' gaze and head errors on the source images.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

F = flags.FLAGS
flags.DEFINE_string("model", None, "A redirector .keras file (tools/train.py writes redirector.keras).")
flags.DEFINE_string("out", "", "Write the results as JSON here (refuses to overwrite without --overwrite).")
flags.DEFINE_enum("split", "test", ["train", "val", "test"], "SynthGaze split.")
flags.DEFINE_integer("persons", 64, "Persons to evaluate.")
flags.DEFINE_integer("pairs_per_person", 4, "Pairs per person.")
flags.DEFINE_integer("seed", 0, "SynthGaze dataset seed (use the training seed for the same persons split).")
flags.DEFINE_enum("nuisance", "person", ["person", "image"], "SynthGaze nuisance mode (as in training).")
flags.DEFINE_integer("eval_seed", 0, "Seed of the choice of persons and pairs.")
flags.DEFINE_bool("overwrite", False, "Replace an existing --out file.")
flags.mark_flag_as_required("model")


def main(argv):
    del argv
    from tfredirect import evaluation
    from tfredirect.data.synthgaze import SynthGaze
    from tfredirect.models import load_redirector

    try:
        if F.out and os.path.exists(F.out) and not F.overwrite:
            raise ValueError(f"{F.out} exists; pass --overwrite to replace it")
        model = load_redirector(F.model)
        synth = SynthGaze(size=model.image_size, seed=F.seed, nuisance=F.nuisance)
        result = evaluation.evaluate_synthgaze(model, synth, F.split, F.persons, F.pairs_per_person, F.eval_seed)
    except (ValueError, OSError) as err:
        print(f"evaluate.py: error: {err}", file=sys.stderr)
        return 1
    result["model"] = os.path.abspath(F.model)
    print(evaluation.format_table(result))
    if F.out:
        tmp = F.out + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(result, fh, indent=2)
        os.replace(tmp, F.out)
        print(f"wrote {F.out}")
    return 0


if __name__ == "__main__":
    app.run(main)
