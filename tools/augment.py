"""Augment a gaze dataset with a trained redirector: K new, correctly labelled images per sample.

    python tools/augment.py --data=sted --data_path=train.h5 --model=runs/demo/redirector.keras \\
        --out=train_aug.h5 --per_image=4 --kind=random --targets=uniform
    python tools/augment.py --data=xgaze --data_path=xgaze_224/train --resize \\
        --model=runs/demo/export/redirector_float32.tflite --threads=2 --out=xgaze_aug --targets=kde
    python tools/augment.py --data=sted --data_path=train.h5 --model=synthgaze-64 --out=train_aug.h5 \\
        --judge=runs/judge/estimator.keras --max_judged_error_deg=10 --num_shards=4 --shard_index=0

For every input sample, --per_image copies: each redirects the gaze or the head (--kind
random), or one of gaze/head/both (mixed), or always gaze, head or both, to a target drawn
uniformly within --gaze_range_deg / --head_range_deg (+/- pitch,yaw) or from a kernel
density over the dataset's own labels (--targets=kde, --bandwidth_deg, 0 = Scott's rule), keeping
the gaze within --max_eye_in_head_deg of the head, as faces can.
The new labels are the targets; what is not redirected keeps its label. Output layout
(--layout, default the input's): sted (one h5, a group per person; no per-eye labels: NaN,
eye_labels="not available"), xgaze (a folder of per-person h5 files) or folder (PNGs +
labels.csv), each with provenance columns (source_index, copy, kind, source_gaze,
source_head). Combine with the original data by passing both to the readers.

--judge (an estimator.keras from tools/train_estimator.py) judges every copy: its judged
gaze and head errors (degrees, against the copy's labels) are stored with the provenance;
--max_judged_error_deg drops the copies whose larger error exceeds it, and counts them.
--num_shards/--shard_index process one of N disjoint, contiguous parts of the input's samples
(run each on its own machine); shard i writes <out>-0000i-of-0000N[.h5], and the readers take
all shards with the glob this tool prints. Draws depend only on (--seed, sample, copy), so
the shards together equal the single-process output.

The --model is a redirector .keras, a tools/train.py run directory or checkpoint prefix, a
shipped name (current angles: the source labels), or an exported .tflite (tools/export.py;
--threads). Images must be the model's size unless --resize. The input is never written.
Work is staged in <out>.partial (one file per finished --chunk of sources): an interrupted
run (Ctrl-C, kill, crash) continues where it stopped when rerun with the same command; a
staging folder made with other parameters is refused (or discarded with --overwrite).
"""

import glob
import os
import sys
import time

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

from absl import app, flags  # noqa: E402
from tfredirect import cli  # noqa: E402

DATA = ("sted", "xgaze", "folder")
KINDS = ("random", "mixed", "gaze", "head", "both")  # augmentation.KIND_CHOICES

F = flags.FLAGS
flags.DEFINE_enum("data", None, list(DATA), "Input layout.")
flags.DEFINE_string("data_path", None, "Input: h5 file, folder or glob (folder layout: a labels CSV or its folder).")
flags.DEFINE_string("model", None, "The generator: a redirector .keras, a tools/train.py run directory or checkpoint "
                    "prefix, a shipped name (synthgaze-64), or an exported .tflite.")
flags.DEFINE_string("out", None, "Output h5 (sted layout) or folder (xgaze, folder layouts).")
flags.DEFINE_integer("per_image", 4, "New samples per input sample (K).", lower_bound=1)
flags.DEFINE_enum("kind", "random", list(KINDS), "random (gaze or head), mixed (gaze, head or both), gaze, head "
                  "or both.")
flags.DEFINE_enum("targets", "uniform", ["uniform", "kde"], "Target distribution: uniform within the ranges, or a "
                  "kernel density around the dataset's labels.")
cli.define_target_flags()
flags.DEFINE_enum("layout", None, list(DATA), "Output layout (default: the input's).")
flags.DEFINE_integer("chunk", 64, "Sources per batch and per committed staging file.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the target draws.")
flags.DEFINE_bool("resize", False, "Resize input images to the model's size.")
flags.DEFINE_integer("threads", 0, "CPU threads (0: all cores).", lower_bound=0)
flags.DEFINE_string("judge", "", "Quality gate: an estimator.keras (tools/train_estimator.py) that judges every copy.")
flags.DEFINE_float("max_judged_error_deg", None, "With --judge: drop copies whose larger judged error (gaze or head, "
                   "degrees) exceeds this.", lower_bound=0.0)
flags.DEFINE_integer("num_shards", 1, "Split the input's samples into this many disjoint parts.", lower_bound=1)
flags.DEFINE_integer("shard_index", 0, "The part this run processes (0 .. --num_shards - 1).", lower_bound=0)
flags.DEFINE_bool("overwrite", False, "Replace an existing output (or discard a mismatching staging folder).")
flags.DEFINE_integer("verbose", 1, "0 silent, 1 progress bar on a terminal (default), 2 progress lines only.",
                     lower_bound=0, upper_bound=2)
flags.DEFINE_alias("checkpoint", "model")  # the old argparse names
flags.DEFINE_alias("gaze_range", "gaze_range_deg")
flags.DEFINE_alias("head_range", "head_range_deg")
flags.mark_flags_as_required(["data", "data_path", "model", "out"])


flags.register_multi_flags_validator(["judge", "max_judged_error_deg"],
                                     lambda f: f["max_judged_error_deg"] is None or bool(f["judge"]),
                                     message="--max_judged_error_deg needs --judge")
flags.register_multi_flags_validator(["num_shards", "shard_index"], lambda f: f["shard_index"] < f["num_shards"],
                                     message="--shard_index must be below --num_shards")


def output_path():
    """--out, or this shard's output when the input is sharded."""
    from tfredirect import augmentation

    if F.num_shards == 1:
        return F.out
    return augmentation.shard_output_path(F.out, F.shard_index, F.num_shards, F.layout or F.data)


def check_arguments(out):
    """Everything that needs no model or data (fast, before TensorFlow is imported); returns
    the input folders to protect."""
    from tfredirect import augmentation

    try:
        augmentation.check_model_path(F.model)
    except ValueError as err:
        raise ValueError(f"--model {err}") from None
    if F.judge and not os.path.isfile(F.judge):
        raise ValueError(f"--judge {F.judge}: no such estimator file")
    path = F.data_path
    if os.path.isdir(path):
        inputs, dirs = [], [path]
    else:
        inputs, dirs = (glob.glob(path) if any(c in path for c in "*?[") else [path]), []
        if not any(os.path.exists(p) for p in inputs):
            raise ValueError(f"--data_path {path}: no such file, folder or glob match")
    augmentation.check_output_path(out, inputs, dirs)
    if os.path.lexists(out) and not F.overwrite:
        raise ValueError(f"--out {augmentation.exists_message(out)}")
    return dirs


def load_backend():
    from tfredirect import augmentation

    if not F.model.endswith(".tflite") and F.threads:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(F.threads)
        except RuntimeError:  # TensorFlow already initialised (e.g. called from a test)
            pass
    return augmentation.load_backend(F.model, num_threads=F.threads or os.cpu_count() or 1)


class _Progress:
    """augment()'s progress(done, total) callback on the shared Progress (images generated now)."""

    def __init__(self):
        self.bar, self.last = None, 0

    def __call__(self, done, total):
        from tfredirect.progress import Progress

        if self.bar is None:
            self.bar, self.last = Progress((total - done) * F.per_image, "augment", unit="images",
                                           verbose=F.verbose), done
        self.bar.update((done - self.last) * F.per_image)
        self.last = done

    def close(self, ok=True):
        if self.bar is not None:
            self.bar.close(ok)


def _run(out, protect):
    from tfredirect import augmentation
    from tfredirect.data import sources

    layout = F.layout or F.data
    index = sources.build_index(F.data, F.data_path)
    backend = load_backend()
    judge = augmentation.load_judge(F.judge) if F.judge else None
    sampler = augmentation.TargetSampler(kind=F.kind, mode=F.targets,
                                         gaze_range_deg=cli.parse_range(F.gaze_range_deg, "gaze_range_deg"),
                                         head_range_deg=cli.parse_range(F.head_range_deg, "head_range_deg"),
                                         bandwidth_deg=F.bandwidth_deg, seed=F.seed,
                                         max_eye_in_head_deg=F.max_eye_in_head_deg)
    start, stop = augmentation.shard_range(len(index), F.shard_index, F.num_shards)
    part = f" (shard {F.shard_index} of {F.num_shards}: samples {start}..{stop - 1})" if F.num_shards > 1 else ""
    if F.verbose:
        print(f"{index.description}: {len(index)} samples of {len(index.persons)} persons{part} -> "
              f"{F.per_image} new each with {F.model} ({backend.name}, {backend.image_size}x{backend.image_size})"
              + (f", judged by {F.judge}" if judge else ""))
    progress = _Progress()
    ok = False
    try:
        info = augmentation.augment(index, backend, out, F.per_image, sampler, layout=layout, chunk=F.chunk,
                                    overwrite=F.overwrite, resize=F.resize, progress=progress,
                                    log=print if F.verbose else None, protect=protect, judge=judge,
                                    max_judged_error_deg=F.max_judged_error_deg, num_shards=F.num_shards,
                                    shard_index=F.shard_index)
        ok = True
    finally:
        progress.close(ok)
    return info, backend, layout


def main(argv):
    del argv

    out = output_path()
    try:
        protect = check_arguments(out)
        start = time.perf_counter()
        info, backend, layout = _run(out, protect)
        seconds = time.perf_counter() - start
    except KeyboardInterrupt:
        from tfredirect import augmentation

        print(f"\naugment.py: interrupted; rerun the same command to resume from "
              f"{augmentation.staging_path(out)}", file=sys.stderr)
        return 130
    except Exception as err:  # expected errors, and reader errors
        return cli.error_exit("augment.py", err, (ValueError, OSError, KeyError, RuntimeError))
    resumed = f" (resumed after {info['resumed_from']} sources)" if info["resumed_from"] else ""
    print(f"wrote {info['written']} samples ({info['sources']} sources x {info['per_image']}, "
          f"{info['persons']} persons) to {info['out']} in the {layout} layout{resumed}")
    if info["judged"]:
        gate = (f"{info['dropped']} dropped above {F.max_judged_error_deg:g} deg" if F.max_judged_error_deg is not None
                else "none dropped (no --max_judged_error_deg)")
        print(f"judged every copy with {F.judge}: {gate}; errors in the columns judged_gaze_error_deg, "
              "judged_head_error_deg")
    if F.num_shards > 1:
        from tfredirect import augmentation

        print(f"shard {F.shard_index} of {F.num_shards}; read all shards with --data={layout} "
              f"--data_path='{augmentation.shard_glob(F.out, F.num_shards, layout)}'")
    print(f"{info['new_images']} images generated in {seconds:.1f} s: {info['new_images'] / max(seconds, 1e-9):.1f} "
          f"images/s ({backend.name}, {F.threads or os.cpu_count()} threads)")
    return 0


if __name__ == "__main__":
    app.run(main)
