"""Export a trained generator to SavedModel, TFLite and ONNX.

    python tools/export.py --model=runs/demo --out_dir=runs/demo/export \\
        --formats=saved_model,tflite,onnx --quantize=none,fp16,dynamic,int8

--model is a redirector .keras file, a tools/train.py run directory (latest checkpoint), a
checkpoint prefix or a shipped name (synthgaze-64); --checkpoint is its old name. All
artifacts are written to a temporary folder renamed into place at the end; an existing
--out_dir is replaced only with --overwrite. Before that, every artifact is compared with
the Keras model on --check_images held-out SynthGaze images (tfredirect.serving.parity:
budgets per format); the report is printed and kept in export.json. Each artifact converted
and checked is reported on stderr with its time (--verbose). The on-device contract
(signatures, tensors, conventions) is in docs/export.md.
"""

import json
import os
import sys

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

from absl import app, flags, logging  # noqa: E402
from tfredirect import cli  # noqa: E402

F = flags.FLAGS
flags.DEFINE_string("model", None, "The generator: a .keras file, a training run directory, a checkpoint prefix "
                    "or a shipped name (synthgaze-64).")
flags.DEFINE_alias("checkpoint", "model")  # the old name
flags.DEFINE_string("out_dir", None, "Output folder for the exported artifacts.")
flags.DEFINE_string("formats", "saved_model,tflite,onnx", "Comma-separated: saved_model, tflite, onnx.")
flags.DEFINE_string("quantize", "none", "TFLite modes, comma-separated: none, fp16, dynamic, int8.")
flags.DEFINE_string("representative", "", "int8 calibration data: 'synthgaze' or an h5/CSV dataset path.")
flags.DEFINE_enum("representative_source", "sted", ["sted", "xgaze", "folder"], "Reader for a --representative path.")
flags.DEFINE_integer("representative_count", 128, "Images used for int8 calibration.", lower_bound=1)
flags.DEFINE_integer("opset", 17, "ONNX opset (>= 17).", lower_bound=17)
flags.DEFINE_integer("check_images", 16, "Held-out SynthGaze images on which every artifact is compared with the "
                     "Keras model (reported, and stored in export.json); 0 skips the check.", lower_bound=0)
flags.DEFINE_bool("overwrite", False, "Replace an existing --out_dir.")
flags.DEFINE_integer("verbose", 1, "0 silent; 1 a progress bar on a terminal, lines in a log; 2 lines only.",
                     lower_bound=0, upper_bound=2)
flags.mark_flags_as_required(["model", "out_dir"])


def _choices(allowed):
    return lambda value: bool(value.strip()) and all(v.strip() in allowed for v in value.split(",") if v.strip())


flags.register_validator("formats", _choices(("saved_model", "tflite", "onnx")),
                         message="expected a comma-separated list of saved_model, tflite, onnx")
flags.register_validator("quantize", _choices(("none", "fp16", "dynamic", "int8")),
                         message="expected a comma-separated list of none, fp16, dynamic, int8")


def representative_images(spec, source, size, count):
    """uint8 calibration images from SynthGaze or a dataset path."""
    import numpy as np

    if spec == "synthgaze":
        from tfredirect.data.synthgaze import SynthGaze

        synth = SynthGaze(size=size, seed=12345, nuisance="person")
        pid = np.resize(synth.persons("train"), count)
        return synth.render_samples(pid, np.arange(count))[0]
    from tfredirect.data import sources

    if not os.path.exists(spec):
        raise ValueError(f"--representative {spec}: no such file or folder")
    batch = next(iter(sources.make_samples(source, spec, size).batch(count).take(1)))
    return np.asarray(batch["image"])


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    from tfredirect.serving import export_lib, parity
    from tfredirect.serving.checkpoints import load_generator

    try:
        formats = export_lib.parse_list(F.formats, export_lib.FORMATS, "format")
        quantize = export_lib.parse_list(F.quantize, export_lib.QUANTIZATIONS, "quantization")
        if os.path.exists(F.out_dir) and not F.overwrite:
            raise ValueError(f"{F.out_dir} exists; pass --overwrite to replace it")
        if "int8" in quantize and "tflite" in formats and not F.representative:
            raise ValueError("--quantize=int8 needs --representative (e.g. --representative=synthgaze)")
        model = load_generator(F.model)
        rep = None
        if F.representative:
            rep = representative_images(F.representative, F.representative_source, model.image_size,
                                        F.representative_count)
        check = parity.held_out_inputs(model.image_size, F.check_images) if F.check_images > 0 else None
        written = export_lib.export(model, F.out_dir, formats, quantize, rep, F.overwrite,
                                    source=os.path.abspath(F.model) if os.path.exists(F.model) else F.model,
                                    opset=F.opset, check=check, verbose=F.verbose)
    except Exception as err:  # expected errors, and reader errors wrapped by tf.data
        return cli.error_exit("export.py", err, (ValueError, OSError, RuntimeError))
    print(f"exported {F.model} ({model.image_size}x{model.image_size}) to {F.out_dir}:")
    for name, path in written.items():
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) \
            if os.path.isdir(path) else os.path.getsize(path)
        print(f"  {name:16s} {path}  ({size / 2**20:.2f} MB)")
    with open(written["metadata"]) as fh:
        meta = json.load(fh)
    if "parity" in meta:
        print("\n".join(parity.format_report(meta["parity"], meta["parity_images"])))
    return 0


if __name__ == "__main__":
    app.run(main)
