"""Evaluate a trained redirector with the field's protocol (tfredirect/experiments/evaluation.py).

    python tools/evaluate.py --model=runs/demo/redirector.keras --estimator=runs/judge/estimator.keras \\
        --out=runs/demo/eval.json
    python tools/evaluate.py --model=runs/gc/redirector.keras --estimator=runs/judge_gc/estimator.keras \\
        --data=sted --data_path=GazeCapture_test.h5 --out=runs/gc/eval.json

Same-person pairs: a is redirected to b's gaze, b's head, and both. With --estimator (an
independent GazeHeadEstimator from tools/train_estimator.py at the same image size) the
redirection and disentanglement errors are judged; on SynthGaze the pixel metrics compare
with the exact renders, and the judge-free eye metrics (eye PSNR; "iris px", the distance
between the iris centroids of output and render, beside "src iris", the same for the
unredirected source) use the renders' eye masks; "ref gaze"/"ref head" are the judge's errors on
the references themselves, each way's floor. Targets (--targets=per_way, the default, on
SynthGaze and real data alike): "both" asks for b's gaze and head on every drawn pair; the
gaze-only way asks for b's eye rotation in the head under a's head; the head-only way for
b's head, on the pairs where a's gaze under it keeps the eyes within their range in the head.
Every way reports its pairs, exclusions and why, the mean requested change, the errors above
its floor, by bins of requested change, and 95% bootstrap intervals over persons. Prints a
table; --out writes JSON and a PNG of examples beside it (rows: source, gaze only, head only,
both, reference). Progress of the pairs goes to stderr (--verbose: 0 silent, 1 a bar on a
terminal, 2 plain lines).
"""

import os
import sys

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

from absl import app, flags  # noqa: E402
from tfredirect import cli  # noqa: E402

F = flags.FLAGS
flags.DEFINE_string("model", None, "The redirector: a .keras file, a tools/train.py run directory, a checkpoint "
                    "prefix or a shipped name (synthgaze-64).")
flags.DEFINE_string("estimator", "", "The judge: an estimator.keras from tools/train_estimator.py.")
flags.DEFINE_enum("data", "synthgaze", ["synthgaze", "xgaze", "sted", "folder"], "Evaluation data.")
flags.DEFINE_string("data_path", "", "Real data: h5 file, folder or glob, or a CSV (folder).")
flags.DEFINE_string("split", "", "SynthGaze: train, val or test (default test). Real data: all (default), "
                    "or train/val for the persons tools/train.py trained on / held out.")
flags.DEFINE_integer("persons", 64, "SynthGaze: persons to evaluate.", lower_bound=1)
flags.DEFINE_integer("pairs_per_person", 4, "SynthGaze: pairs per person.", lower_bound=1)
flags.DEFINE_integer("pairs", 256, "Real data: pairs to evaluate.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "SynthGaze dataset seed (use the training seed for the same persons split).")
flags.DEFINE_enum("nuisance", "person", ["person", "image"], "SynthGaze nuisance mode (as in training).")
flags.DEFINE_enum("appearance", "plain", ["plain", "textured"], "SynthGaze appearance (the training run's "
                  "--synth_appearance; the judge should be trained on the same).")
flags.DEFINE_enum("targets", "per_way", ["per_way", "any"], "per_way: each way asks for a face that can exist "
                  "(gaze-only: b's eye rotation in the head under a's head; head-only: only pairs whose eyes stay "
                  "within their range in the head; both: every pair); any: b's gaze or head as it is, whatever eye "
                  "rotation that asks for (up to 90 deg, which the judge cannot read even on exact renders).")
flags.DEFINE_integer("eval_seed", 0, "Seed of the choice of persons and pairs.")
flags.DEFINE_string("out", "", "Write the results as JSON here, and examples as <out>.png.")
flags.DEFINE_integer("examples", 8, "Example rows in the PNG.", lower_bound=0)
flags.DEFINE_bool("overwrite", False, "Replace existing --out files.")
flags.DEFINE_bool("markdown", False, "Also print the per-way summary as a Markdown table (as in the docs).")
flags.DEFINE_integer("verbose", 1, "0 silent, 1 progress (a bar on a terminal), 2 progress lines only.",
                     lower_bound=0, upper_bound=2)
flags.mark_flag_as_required("model")
SPLITS = {"synthgaze": ("", "train", "val", "test"), "real": ("", "all", "train", "val")}
flags.register_multi_flags_validator(
    ["data", "split"], lambda f: f["split"] in SPLITS["synthgaze" if f["data"] == "synthgaze" else "real"],
    message="--split: SynthGaze takes train, val or test; real data (xgaze, sted, folder) all, train or val")


def _evaluate(model, judge):
    from tfredirect.experiments import evaluation

    if F.data == "synthgaze":
        from tfredirect.data.synthgaze import SynthGaze

        split = F.split or "test"
        synth = SynthGaze(size=model.image_size, seed=F.seed, nuisance=F.nuisance, appearance=F.appearance)
        return evaluation.evaluate_synthgaze(model, synth, split, F.persons, F.pairs_per_person, F.eval_seed,
                                             judge, F.examples, verbose=F.verbose, targets=F.targets)
    from tfredirect.data import sources
    from tfredirect.training.data import split_index

    split = F.split or "all"
    if not F.data_path:
        raise ValueError(f"--data={F.data} needs --data_path")
    index = split_index(sources.build_index(F.data, F.data_path), split)
    return evaluation.evaluate_real(model, index, F.pairs, F.eval_seed, judge, F.examples, verbose=F.verbose,
                                    targets=F.targets)


def main(argv):
    del argv
    from tfredirect import metrics
    from tfredirect.experiments import evaluation
    from tfredirect.serving.checkpoints import load_generator

    try:
        if F.out:
            evaluation.check_report(F.out, F.examples > 0, F.overwrite)
        model = load_generator(F.model)
        judge = None
        if F.estimator:
            judge = metrics.EstimatorJudge.load(F.estimator)
            if judge.image_size != model.image_size:
                raise ValueError(f"{F.estimator}: the estimator takes {judge.image_size}x{judge.image_size} images, "
                                 f"the redirector {model.image_size}x{model.image_size}")
        result, rows = _evaluate(model, judge)
        result.update(model=os.path.abspath(F.model) if os.path.exists(F.model) else F.model,  # or a shipped name
                      estimator=os.path.abspath(F.estimator) if F.estimator else None)
        print(evaluation.format_table(result))
        if F.markdown:
            print("\n" + evaluation.format_markdown(result))
        written = evaluation.write_report(F.out, result, rows, F.overwrite) if F.out else []
    except Exception as err:  # expected errors, and reader errors wrapped by tf.data
        return cli.error_exit("evaluate.py", err, (ValueError, OSError, KeyError))
    for path in written:
        what = f" ({len(rows)} rows: {evaluation.EXAMPLE_COLUMNS})" if path.endswith(".png") else ""
        print(f"wrote {path}{what}")
    return 0


if __name__ == "__main__":
    app.run(main)
