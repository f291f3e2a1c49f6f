"""Train and evaluate the ablation's arms at one budget and several seeds, and write the table
(tfredirect/experiments/ablation.py says what an arm is and what the cells share).

    python benchmarks/ablation.py --out_dir=runs/ablation --steps=1000 --seeds=0,1 \\
        --arms=recipe,no_keep --judge=runs/judge/estimator.keras

Writes <out_dir>/<arm>-s<seed>/ (a training run and its eval.json) per cell, then
results.json and table.md (mean and spread over seeds of each column, with the date and the
machine). Rerun the same command to finish a cut-off ablation: finished cells are reused,
cut-off trainings resumed.
"""

import os

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

from absl import app, flags  # noqa: E402

from tfredirect import cli  # noqa: E402
from tfredirect.experiments import ablation  # noqa: E402

F = flags.FLAGS
flags.DEFINE_string("out_dir", "runs/ablation", "Output folder (one sub-folder per arm and seed).")
flags.DEFINE_list("arms", list(ablation.AblationConfig.arms), f"Arms: {', '.join(ablation.ARMS)}.")
flags.DEFINE_list("seeds", ["0", "1"], "Training seeds of every arm.")
flags.DEFINE_integer("steps", 1000, "Training steps of every cell (the recipe's adversarial schedule is scaled).",
                     lower_bound=1)
flags.DEFINE_enum("recipe", "demo", ["tiny", "demo", "base"], "The recipe the arms change (TRAIN_PRESETS).")
flags.DEFINE_string("judge", "", "Independent estimator .keras (tools/train_estimator.py); empty: train one "
                    "(seed 0, --judge_steps) in <out_dir>/judge.")
flags.DEFINE_integer("judge_steps", 4000, "Steps of the judge trained when --judge is empty.", lower_bound=1)
flags.DEFINE_string("consistency_estimator", "", "Frozen estimator of the consistency and feature terms; empty: "
                    "train one (seed 1) in <out_dir>/consistency_estimator.")
flags.DEFINE_integer("persons", 64, "SynthGaze test persons of the evaluation (4 pairs each).", lower_bound=1)
flags.DEFINE_integer("verbose", 1, "0 silent, 1 and 2 training progress lines.", lower_bound=0, upper_bound=2)


def main(argv):
    del argv
    try:
        cfg = ablation.AblationConfig(out_dir=F.out_dir, arms=F.arms, seeds=[int(s) for s in F.seeds], steps=F.steps,
                                      recipe=F.recipe, judge=F.judge, judge_steps=F.judge_steps,
                                      consistency_estimator=F.consistency_estimator, persons=F.persons,
                                      verbose=F.verbose)
        done = ablation.run(cfg)
    except Exception as err:
        return cli.error_exit("ablation.py", err)
    print(done["markdown"])
    print(f"wrote {done['files']['results']} and {done['files']['table']}")
    return 0


if __name__ == "__main__":
    app.run(main)
