"""Export a Redirector to SavedModel, TFLite (float32, float16, dynamic int8, full int8) and
ONNX, written atomically: everything goes to a hidden temporary folder `.export-<name>-XXXX`
beside the output, which replaces the output only when complete (an atomic exchange of the
two folders, then the old one is deleted), so a kill at any moment leaves either the old or
the new export, whole. Temporary folders of killed exports are removed by the next export
into the same parent folder.

Layout of the output folder:
    saved_model/                 SavedModel with signatures `estimate`, `redirect`, `redirect_labeled`
    redirector_<mode>.tflite     one file per quantization mode, all signatures inside
    <signature>.onnx             one ONNX graph per signature (tf2onnx, opset >= 17)
    export.json                  what was written, from which model, with which settings
"""

import ctypes
import errno
import fcntl
import json
import os
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from tfredirect.progress import Progress
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


TEMP_PREFIX = ".export-"
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def _exchange(a, b):
    """Swap the paths `a` and `b` atomically (Linux renameat2 RENAME_EXCHANGE); False when
    the system or file system does not support it."""
    fn = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), b)


def _lock_dir(path):
    """Hold an exclusive lock on the folder `path` (an open descriptor); None when another
    process holds it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def clean_stale(out_dir):
    """Remove the temporary folders that killed exports left beside `out_dir` (those no
    live export holds locked); when `out_dir` itself is missing because an export was
    killed between the two renames of the fallback replace, put the old export back.
    Returns the removed paths."""
    parent = os.path.dirname(os.path.abspath(out_dir))
    old_mark = f"{TEMP_PREFIX}{os.path.basename(os.path.abspath(out_dir))}-"
    removed = []
    for name in sorted(os.listdir(parent)) if os.path.isdir(parent) else []:
        path = os.path.join(parent, name)
        if not name.startswith(TEMP_PREFIX) or os.path.islink(path) or not os.path.isdir(path):
            continue
        fd = _lock_dir(path)
        if fd is None:
            continue
        try:
            suffix = name[len(old_mark):-len(".old")]
            if name.startswith(old_mark) and name.endswith(".old") and "-" not in suffix and \
                    not os.path.lexists(out_dir):
                os.replace(path, out_dir)
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        finally:
            os.close(fd)
    return removed


def install(tmp, out_dir):
    """Put the finished folder `tmp` at `out_dir`. An existing `out_dir` is exchanged with
    it atomically, then deleted; without atomic exchange it is renamed aside to
    `<tmp>.old` first (a kill before the second rename is repaired by `clean_stale`)."""
    if not os.path.lexists(out_dir):
        os.replace(tmp, out_dir)
        return
    if _exchange(tmp, out_dir):
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = tmp + ".old"
    os.replace(out_dir, old)
    try:
        os.replace(tmp, out_dir)
    except BaseException:
        os.replace(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def parse_list(value, allowed, name):
    items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else list(value)
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise ValueError(f"unknown {name} {bad or value!r}; choose from {', '.join(allowed)}")
    return items


def _timed(progress, what, fn, *args, note=None):
    """Run `fn(*args)` as one step of `progress`, whose line names the step, its time and
    `note(result)` if given."""
    start = time.monotonic()
    result = fn(*args)
    progress.desc = f"export: {what} in {time.monotonic() - start:.1f} s" + (f" ({note(result)})" if note else "")
    progress.update()
    return result


def export(redirector, out_dir, formats=FORMATS, quantize=("none",), representative=None, overwrite=False,
           source=None, opset=17, check=None, verbose=0, stream=None):
    """Write the requested artifacts into `out_dir` atomically; returns {name: path}.

    `representative`: uint8 images (N,S,S,3) for int8 calibration. `check`: (images,
    target_gaze, target_head) on which every artifact is compared with the Keras model
    before the folder is moved into place (`parity.measure`; the report goes into
    export.json under "parity"). An existing `out_dir` is replaced only with `overwrite`.
    `verbose` (the tools' flag: 0 silent, 1 a bar on a terminal, 2 lines) reports each
    artifact converted and checked with its time on `stream` (stderr).
    """
    formats = parse_list(formats, FORMATS, "format")
    quantize = parse_list(quantize, QUANTIZATIONS, "quantization")
    if "int8" in quantize and "tflite" in formats and representative is None:
        raise ValueError("int8 quantization needs representative data (--representative)")
    if os.path.exists(out_dir) and not overwrite:
        raise ValueError(f"{out_dir} exists; pass --overwrite to replace it")
    if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"{out_dir} exists and is not a folder; refusing to replace it")
    planned = ([f"tflite_{mode}" for mode in quantize] if "tflite" in formats else []) + \
        ([f"onnx_{endpoint}" for endpoint in signatures.ENDPOINTS] if "onnx" in formats else [])
    checked = []
    if check is not None:
        from tfredirect.serving import parity

        checked = [k for k in ["saved_model"] * ("saved_model" in formats) + planned if k in parity.BUDGETS]
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    clean_stale(out_dir)
    tmp = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.path.basename(os.path.abspath(out_dir))}-", dir=parent)
    lock = _lock_dir(tmp)
    try:
        written = {}
        with Progress(1 + len(planned) + len(checked), "export", "steps", verbose, stream, every_s=0) as progress:
            saved = _timed(progress, "wrote saved_model", write_saved_model, redirector, os.path.join(tmp, "saved_model"))
            if "saved_model" in formats:
                written["saved_model"] = "saved_model"
            if "tflite" in formats:
                rep = representative_batches(representative) if representative is not None else None
                for mode in quantize:
                    name = tflite_filename(mode)
                    flatbuffer = _timed(progress, f"converted {name}", convert_tflite, saved, mode, rep)
                    with open(os.path.join(tmp, name), "wb") as fh:
                        fh.write(flatbuffer)
                    written[f"tflite_{mode}"] = name
            if "onnx" in formats:
                for endpoint in signatures.ENDPOINTS:
                    _timed(progress, f"converted {endpoint}.onnx", convert_onnx, saved, endpoint,
                           os.path.join(tmp, f"{endpoint}.onnx"), opset)
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
                meta["parity_images"] = len(check[0])
                meta["parity"] = {}
                for key in checked:
                    meta["parity"].update(_timed(
                        progress, f"checked {written[key]}", parity.measure, redirector, tmp, {key: written[key]}, check,
                        note=lambda r, key=key: f"{r[key]['budget']}: {'ok' if r[key]['ok'] else 'MISSED'}"))
            progress.desc = "export"
        with open(os.path.join(tmp, "export.json"), "w") as fh:
            json.dump(meta, fh, indent=2)
        os.chmod(tmp, 0o755)
        install(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.close(lock)
    return {k: os.path.join(out_dir, v) for k, v in {**written, "metadata": "export.json"}.items()}
