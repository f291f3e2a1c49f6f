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
terminal, 2 plain lines). The flags are EvaluationConfig's fields
(tfredirect/experiments/configs.py, tfredirect.config_flags).
"""

import os
import sys

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

from absl import app, flags  # noqa: E402
from tfredirect import cli, config_flags  # noqa: E402
from tfredirect.experiments.configs import SPLIT_RULE, EvaluationConfig  # noqa: E402

F = flags.FLAGS
config_flags.define_flags(EvaluationConfig, F, module_name=sys.argv[0])  # listed by --helpshort
flags.register_multi_flags_validator(["data", "split"], lambda f: EvaluationConfig.split_fits(f["data"], f["split"]),
                                     message=SPLIT_RULE)


def _evaluate(cfg, model, judge):
    from tfredirect.experiments import evaluation

    if cfg.data == "synthgaze":
        from tfredirect.data.synthgaze import SynthGaze

        synth = SynthGaze(size=model.image_size, seed=cfg.seed, nuisance=cfg.nuisance, appearance=cfg.appearance)
        return evaluation.evaluate_synthgaze(model, synth, cfg.split or "test", cfg.persons, cfg.pairs_per_person,
                                             cfg.eval_seed, judge, cfg.examples, verbose=cfg.verbose,
                                             targets=cfg.targets)
    from tfredirect.data import sources
    from tfredirect.training.data import split_index

    index = split_index(sources.build_index(cfg.data, cfg.data_path), cfg.split or "all")
    return evaluation.evaluate_real(model, index, cfg.pairs, cfg.eval_seed, judge, cfg.examples, verbose=cfg.verbose,
                                    targets=cfg.targets)


def main(argv):
    del argv
    from tfredirect import metrics
    from tfredirect.experiments import evaluation
    from tfredirect.serving.checkpoints import load_generator

    try:
        cfg = config_flags.config_from_flags(EvaluationConfig, F)
        if cfg.out:
            evaluation.check_report(cfg.out, cfg.examples > 0, cfg.overwrite)
        model = load_generator(cfg.model)
        judge = None
        if cfg.estimator:
            judge = metrics.EstimatorJudge.load(cfg.estimator)
            if judge.image_size != model.image_size:
                raise ValueError(f"{cfg.estimator}: the estimator takes {judge.image_size}x{judge.image_size} images, "
                                 f"the redirector {model.image_size}x{model.image_size}")
        result, rows = _evaluate(cfg, model, judge)
        result.update(model=os.path.abspath(cfg.model) if os.path.exists(cfg.model) else cfg.model,  # or a shipped name
                      estimator=os.path.abspath(cfg.estimator) if cfg.estimator else None)
        print(evaluation.format_table(result))
        if cfg.markdown:
            print("\n" + evaluation.format_markdown(result))
        written = evaluation.write_report(cfg.out, result, rows, cfg.overwrite) if cfg.out else []
    except Exception as err:  # expected errors, and reader errors wrapped by tf.data
        return cli.error_exit("evaluate.py", err, (ValueError, OSError, KeyError))
    for path in written:
        what = f" ({len(rows)} rows: {evaluation.EXAMPLE_COLUMNS})" if path.endswith(".png") else ""
        print(f"wrote {path}{what}")
    return 0


if __name__ == "__main__":
    app.run(main)
