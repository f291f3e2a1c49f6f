"""Augment a gaze dataset with a trained redirector: K new, correctly labelled images per sample.

    python tools/augment.py --data=sted --data_path=train.h5 --checkpoint=runs/demo/redirector.keras \\
        --out=train_aug.h5 --per_image=4 --kind=random --targets=uniform
    python tools/augment.py --data=xgaze --data_path=xgaze_224/train --resize \\
        --checkpoint=runs/demo/export/redirector_float32.tflite --threads=2 --out=xgaze_aug --targets=kde

For every input sample, --per_image copies: each redirects the gaze or the head (--kind
random), or one of gaze/head/both (mixed), or always gaze, head or both, to a target drawn
uniformly within --gaze_range / --head_range (degrees, +/- pitch,yaw) or from a kernel
density over the dataset's own labels (--targets=kde, --bandwidth_deg, 0 = Scott's rule).
The new labels are the targets; what is not redirected keeps its label. Output layout
(--layout, default the input's): sted (one h5, a group per person), xgaze (a folder of
per-person h5 files) or folder (PNGs + labels.csv), each with provenance columns
(source_index, copy, kind, source_gaze, source_head). Combine with the original data by
passing both to the readers (same person ids).

The --checkpoint is a redirector .keras, a tools/train.py run directory or checkpoint prefix
(current angles: the source labels), or an exported .tflite (tools/export.py; current angles: its own estimates; --threads). Images must be the
model's size unless --resize. The input is never written. Work is staged in
<out>.partial (one file per finished --chunk of sources): an interrupted run (Ctrl-C,
kill, crash) continues where it stopped when rerun with the same command; a staging folder
made with other parameters is refused (or discarded with --overwrite).
"""

import argparse
import glob
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DATA = ("sted", "xgaze", "folder")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="input layout: sted, xgaze or folder")
    p.add_argument("--data_path", required=True, help="h5 file, folder or glob (folder: a labels CSV or its folder)")
    p.add_argument("--checkpoint", required=True,
                   help="redirector .keras, tools/train.py run directory, checkpoint prefix, or exported .tflite")
    p.add_argument("--out", required=True, help="output h5 (sted) or folder (xgaze, folder)")
    p.add_argument("--per_image", type=int, default=4, help="new samples per input sample (K)")
    p.add_argument("--kind", default="random",
                   help="random (gaze or head), mixed (gaze, head or both), gaze, head or both")
    p.add_argument("--targets", default="uniform", help="uniform (within the ranges) or kde (around dataset labels)")
    p.add_argument("--gaze_range", default="40,50", help="target gaze within +/- PITCH,YAW degrees")
    p.add_argument("--head_range", default="30,45", help="target head pose within +/- PITCH,YAW degrees")
    p.add_argument("--bandwidth_deg", type=float, default=0.0, help="kde kernel width, degrees (0: Scott's rule)")
    p.add_argument("--layout", default="", help="output layout: sted, xgaze or folder (default: the input's)")
    p.add_argument("--chunk", type=int, default=64, help="sources per batch and per committed staging file")
    p.add_argument("--seed", type=int, default=0, help="seed of the target draws")
    p.add_argument("--resize", action="store_true", help="resize input images to the model's size")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: all cores)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    return p.parse_args(argv)


def parse_range(text, name):
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 2 or not all(0 < v <= 90 for v in values):
        raise ValueError(f"--{name} {text!r}: expected PITCH,YAW in degrees, each in (0, 90]")
    return values


def check_arguments(args):
    """Everything that needs no model or data (fast, before TensorFlow is imported)."""
    from tfredirect import augmentation

    if args.data not in DATA:
        raise ValueError(f"--data {args.data!r}: expected one of {', '.join(DATA)}")
    args.layout = args.layout or args.data
    if args.layout not in augmentation.LAYOUTS:
        raise ValueError(f"--layout {args.layout!r}: unknown layout; expected one of {', '.join(augmentation.LAYOUTS)}")
    if args.kind not in augmentation.KIND_CHOICES:
        raise ValueError(f"--kind {args.kind!r}: expected one of {', '.join(augmentation.KIND_CHOICES)}")
    if args.targets not in augmentation.TARGET_MODES:
        raise ValueError(f"--targets {args.targets!r}: expected one of {', '.join(augmentation.TARGET_MODES)}")
    if args.per_image < 1 or args.chunk < 1:
        raise ValueError(f"--per_image and --chunk must be >= 1, got {args.per_image} and {args.chunk}")
    if args.threads < 0:
        raise ValueError(f"--threads must be >= 0, got {args.threads}")
    args.gaze_range = parse_range(args.gaze_range, "gaze_range")
    args.head_range = parse_range(args.head_range, "head_range")
    try:
        augmentation.check_model_path(args.checkpoint)
    except ValueError as err:
        raise ValueError(f"--checkpoint {err}") from None
    path = args.data_path
    if os.path.isdir(path):
        inputs, dirs = [], [path]
    else:
        inputs, dirs = (glob.glob(path) if any(c in path for c in "*?[") else [path]), []
        if not any(os.path.exists(p) for p in inputs):
            raise ValueError(f"--data_path {path}: no such file, folder or glob match")
    augmentation.check_output_path(args.out, inputs, dirs)
    if os.path.lexists(args.out) and not args.overwrite:
        raise ValueError(f"--out {augmentation.exists_message(args.out)}")
    return dirs


def load_backend(args):
    from tfredirect import augmentation

    if not args.checkpoint.endswith(".tflite") and args.threads:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        except RuntimeError:  # TensorFlow already initialised (e.g. called from a test)
            pass
    return augmentation.load_backend(args.checkpoint, num_threads=args.threads or os.cpu_count() or 1)


def main(argv=None):
    args = parse_args(argv)
    try:
        protect = check_arguments(args)
        from tfredirect import augmentation
        from tfredirect.data import sources

        index = sources.build_index(args.data, args.data_path)
        backend = load_backend(args)
        sampler = augmentation.TargetSampler(kind=args.kind, mode=args.targets, gaze_range_deg=args.gaze_range,
                                             head_range_deg=args.head_range, bandwidth_deg=args.bandwidth_deg,
                                             seed=args.seed)
        print(f"{index.description}: {len(index)} samples of {len(index.persons)} persons -> "
              f"{args.per_image} new each with {args.checkpoint} ({backend.name}, "
              f"{backend.image_size}x{backend.image_size})")
        import keras

        bar = {}

        def progress(done, total):
            if "bar" not in bar:
                bar["bar"] = keras.utils.Progbar(total * args.per_image, unit_name="image")
            bar["bar"].update(done * args.per_image)

        start = time.perf_counter()
        info = augmentation.augment(index, backend, args.out, args.per_image, sampler, layout=args.layout,
                                    chunk=args.chunk, overwrite=args.overwrite, resize=args.resize,
                                    progress=progress, log=print, protect=protect)
        seconds = time.perf_counter() - start
    except KeyboardInterrupt:
        from tfredirect import augmentation

        print(f"\naugment.py: interrupted; rerun the same command to resume from "
              f"{augmentation.staging_path(args.out)}", file=sys.stderr)
        return 130
    except (ValueError, OSError, KeyError, RuntimeError) as err:
        print(f"augment.py: error: {err}", file=sys.stderr)
        return 1
    resumed = f" (resumed after {info['resumed_from']} sources)" if info["resumed_from"] else ""
    print(f"wrote {info['written']} samples ({info['sources']} sources x {info['per_image']}, "
          f"{info['persons']} persons) to {info['out']} in the {info['layout']} layout{resumed}")
    print(f"{info['new_images']} images generated in {seconds:.1f} s: {info['new_images'] / max(seconds, 1e-9):.1f} "
          f"images/s ({backend.name}, {args.threads or os.cpu_count()} threads)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
