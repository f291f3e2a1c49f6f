"""Export a Redirector to SavedModel, TFLite (float32, float16, dynamic int8, full int8) and
ONNX, written atomically: everything goes to a temporary folder renamed into place at the
end, so an interrupted export leaves no half-written artifact.

Layout of the output folder:
    saved_model/                 SavedModel with signatures `estimate`, `redirect`, `redirect_labeled`
    redirector_<mode>.tflite     one file per quantization mode, all signatures inside
    <signature>.onnx             one ONNX graph per signature (tf2onnx, opset >= 17)
    export.json                  what was written, from which model, with which settings
"""

import json
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from tfredirect.serving import signatures

FORMATS = ("saved_model", "tflite", "onnx")
QUANTIZATIONS = ("none", "fp16", "dynamic", "int8")
TFLITE_NAMES = {"none": "float32", "fp16": "float16", "dynamic": "dynamic_int8", "int8": "int8"}


def tflite_filename(mode):
    return f"redirector_{TFLITE_NAMES[mode]}.tflite"


def write_saved_model(redirector, path):
    """SavedModel with the signatures of `signatures.ENDPOINTS`."""
    archive = keras.export.ExportArchive()
    archive.track(redirector)
    fns = signatures.endpoint_functions(redirector)
    specs = signatures.input_specs(redirector.image_size)
    for name in signatures.ENDPOINTS:
        archive.add_endpoint(name, fns[name], input_signature=specs[name])
    archive.write_out(path, verbose=False)
    return path


def representative_batches(images, rng_seed=0, max_batches=64):
    """A TFLite representative dataset over all signatures from uint8 images (N,S,S,3)."""
    images = np.asarray(images)
    rng = np.random.default_rng(rng_seed)

    def gen():
        for i in range(min(len(images), max_batches)):
            img = images[i : i + 1]
            angles = lambda: rng.uniform(-0.5, 0.5, (1, 2)).astype(np.float32)
            yield "estimate", {signatures.INPUT_IMAGE: img}
            yield "redirect", {signatures.INPUT_IMAGE: img, signatures.INPUT_GAZE: angles(),
                               signatures.INPUT_HEAD: angles()}
            yield "redirect_labeled", {signatures.INPUT_IMAGE: img, signatures.INPUT_SOURCE_GAZE: angles(),
                                       signatures.INPUT_SOURCE_HEAD: angles(), signatures.INPUT_GAZE: angles(),
                                       signatures.INPUT_HEAD: angles()}

    return gen


def convert_tflite(saved_model_dir, mode, representative=None):
    """TFLite flatbuffer bytes of the SavedModel in a quantization mode.

    none: float32; fp16: float16 weights; dynamic: int8 weights, float activations; int8:
    int8 weights and activations calibrated on `representative` (see
    `representative_batches`), builtin-float fallback only for ops without an int8 kernel
    (the few sin/cos of the rotation). Uses builtin ops only, no Flex delegate.
    """
    if mode not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {mode!r}; choose from {QUANTIZATIONS}")
    conv = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=list(signatures.ENDPOINTS))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if mode == "fp16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif mode == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode == "int8":
        if representative is None:
            raise ValueError("int8 quantization needs representative data (--representative)")
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    return conv.convert()


def convert_onnx(saved_model_dir, endpoint, path, opset=17):
    """ONNX graph of one SavedModel signature, via tf2onnx's command-line converter path."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", saved_model_dir, "--signature_def", endpoint,
           "--opset", str(opset), "--output", path]
    res = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    if res.returncode != 0 or not os.path.exists(path):
        tail = "\n".join(res.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"tf2onnx failed for signature '{endpoint}':\n{tail}")
    return path


def parse_list(value, allowed, name):
    items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else list(value)
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise ValueError(f"unknown {name} {bad or value!r}; choose from {', '.join(allowed)}")
    return items


def export(redirector, out_dir, formats=FORMATS, quantize=("none",), representative=None, overwrite=False,
           source=None, opset=17, check=None):
    """Write the requested artifacts into `out_dir` atomically; returns {name: path}.

    `representative`: uint8 images (N,S,S,3) for int8 calibration. `check`: (images,
    target_gaze, target_head) on which every artifact is compared with the Keras model
    before the folder is moved into place (`parity.measure`; the report goes into
    export.json under "parity"). An existing `out_dir` is replaced only with `overwrite`.
    """
    formats = parse_list(formats, FORMATS, "format")
    quantize = parse_list(quantize, QUANTIZATIONS, "quantization")
    if "int8" in quantize and "tflite" in formats and representative is None:
        raise ValueError("int8 quantization needs representative data (--representative)")
    if os.path.exists(out_dir) and not overwrite:
        raise ValueError(f"{out_dir} exists; pass --overwrite to replace it")
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        written = {}
        saved = write_saved_model(redirector, os.path.join(tmp, "saved_model"))
        if "saved_model" in formats:
            written["saved_model"] = "saved_model"
        if "tflite" in formats:
            rep = representative_batches(representative) if representative is not None else None
            for mode in quantize:
                name = tflite_filename(mode)
                with open(os.path.join(tmp, name), "wb") as fh:
                    fh.write(convert_tflite(saved, mode, rep))
                written[f"tflite_{mode}"] = name
        if "onnx" in formats:
            for endpoint in signatures.ENDPOINTS:
                convert_onnx(saved, endpoint, os.path.join(tmp, f"{endpoint}.onnx"), opset)
                written[f"onnx_{endpoint}"] = f"{endpoint}.onnx"
        if "saved_model" not in formats:
            shutil.rmtree(saved)
        meta = {
            "source": source,
            "image_size": redirector.image_size,
            "model_config": redirector.config.to_dict(),
            "signatures": {name: [spec.name for spec in specs]
                           for name, specs in signatures.input_specs(redirector.image_size).items()},
            "files": written,
            "onnx_opset": opset if "onnx" in formats else None,
        }
        if check is not None:
            from tfredirect.serving import parity

            meta["parity_images"] = len(check[0])
            meta["parity"] = parity.measure(redirector, tmp, written, check)
        with open(os.path.join(tmp, "export.json"), "w") as fh:
            json.dump(meta, fh, indent=2)
        os.chmod(tmp, 0o755)
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {k: os.path.join(out_dir, v) for k, v in {**written, "metadata": "export.json"}.items()}
