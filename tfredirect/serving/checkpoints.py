"""Load a trained generator from a `.keras` file or a tools/train.py run / checkpoint: the one
model loader of every tool (export, evaluate, redirect, augment, downstream)."""

import json
import os

FORMS = ("a shipped model's name (tfredirect.pretrained.names()), a redirector .keras file, a tools/train.py run "
         "directory or a checkpoint prefix (<run>/checkpoints/ckpt-N)")


def _read_config(run_dir, path):
    config_path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(config_path):
        raise ValueError(f"{path}: not a training run (no {config_path})")
    try:
        with open(config_path) as fh:
            cfg = json.load(fh)
        return cfg, config_path, cfg["preset"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{config_path}: unreadable run config ({type(err).__name__}: {err})") from None


# tools/train.py checkpoints hold the generator's variables under the generator optimizer's
# variable list (in `generator.trainable_variables` order): the residual blocks sit in Python
# lists, which tf.train.Checkpoint's object graph does not follow.
_SAVED_VARIABLE = "g_optimizer/_trainable_variables/{}/.ATTRIBUTES/VARIABLE_VALUE"


def _restore(prefix, cfg, config_path):
    """The generator alone, restored from a training checkpoint: neither the discriminator
    nor the training-only consistency estimator is built. Every variable is checked by
    position and shape, so a checkpoint of another preset is refused, never half-loaded."""
    import tensorflow as tf

    from tfredirect.config import MODEL_OVERRIDES, run_model_config
    from tfredirect.models import Redirector

    preset_name = cfg["preset"]
    try:
        model_cfg = run_model_config(preset_name, cfg.get("data", "synthgaze"),
                                     **{k: cfg[k] for k in MODEL_OVERRIDES if k in cfg})
    except ValueError as err:
        raise ValueError(f"{config_path}: {err}") from None
    generator = Redirector(model_cfg, name="generator")
    generator.build()
    variables = generator.trainable_variables
    if generator.non_trainable_weights:
        raise ValueError(f"{prefix}: the generator has non-trainable weights, which its checkpoints do not hold")
    try:
        reader = tf.train.load_checkpoint(prefix)
        shapes = reader.get_variable_to_shape_map()
    except (ValueError, tf.errors.OpError) as err:
        first = (str(err).strip().splitlines() or ["unreadable"])[0][:300]
        raise ValueError(f"{prefix}: unreadable checkpoint ({first})") from None
    saved = sum(1 for key in shapes if key.startswith("g_optimizer/_trainable_variables/")
                and key.endswith("/.ATTRIBUTES/VARIABLE_VALUE"))
    mismatch = f"{prefix}: checkpoint does not match preset '{preset_name}' of {config_path}"
    if saved != len(variables):
        raise ValueError(f"{mismatch}: it holds {saved} generator variables, the preset has {len(variables)}")
    for i, var in enumerate(variables):
        key = _SAVED_VARIABLE.format(i)
        if tuple(shapes[key]) != tuple(var.shape):
            raise ValueError(f"{mismatch}: variable {i} ({var.path}) is {tuple(shapes[key])} there, "
                             f"{tuple(var.shape)} here")
    try:
        for i, var in enumerate(variables):
            var.assign(reader.get_tensor(_SAVED_VARIABLE.format(i)))
    except tf.errors.OpError as err:
        first = (str(err).strip().splitlines() or ["unreadable"])[0][:300]
        raise ValueError(f"{prefix}: damaged checkpoint ({first})") from None
    return generator


def resolve(path):
    """What `path` names, checked without TensorFlow (tools call it before heavy work):
    ("keras", file), ("run", run_dir) or ("checkpoint", prefix, run_dir). ValueError naming
    the path when it is none of the forms."""
    from tfredirect import pretrained

    path = os.fspath(path)
    if path in pretrained.names():
        return ("pretrained", path)
    if path.endswith(".keras"):
        if os.path.isdir(path):
            raise ValueError(f"{path}: is a folder, expected a .keras file")
        if not os.path.exists(path):
            raise ValueError(f"{path}: no such model file")
        return ("keras", path)
    if os.path.isdir(path):
        keras_file = os.path.join(path, "redirector.keras")
        if not os.path.isfile(os.path.join(path, "config.json")) and os.path.isfile(keras_file):
            return ("keras", keras_file)
        _read_config(path, path)
        return ("run", path)
    if os.path.exists(path + ".index"):
        return ("checkpoint", path, os.path.dirname(os.path.dirname(os.path.abspath(path))))
    if path.endswith(".tflite"):
        raise ValueError(f"{path}: an exported TFLite model; this needs {FORMS}")
    if os.path.exists(path):
        raise ValueError(f"{path}: not a model; expected {FORMS}")
    raise ValueError(f"{path}: no such model file, run directory or checkpoint (expected {FORMS})")


def load_generator(path):
    """A Redirector from `path`: a shipped model's name (tfredirect.pretrained), a redirector
    `.keras` file, a training run directory (its latest checkpoint; its redirector.keras
    when it has no checkpoint), or a checkpoint prefix inside a run. Only the generator is restored, so runs trained with the
    consistency loss load without their estimator. Raises ValueError naming the file."""
    import tensorflow as tf

    from tfredirect.models import load_redirector

    kind = resolve(path)
    if kind[0] == "pretrained":
        from tfredirect import pretrained

        return pretrained.load(kind[1])
    if kind[0] == "keras":
        return load_redirector(kind[1])
    if kind[0] == "run":
        run_dir = kind[1]
        ckpt_dir = os.path.join(run_dir, "checkpoints")
        prefix = tf.train.latest_checkpoint(ckpt_dir) if os.path.isdir(ckpt_dir) else None
        if prefix is None:
            keras_file = os.path.join(run_dir, "redirector.keras")
            if os.path.isfile(keras_file):
                return load_redirector(keras_file)
            raise ValueError(f"{path}: the run has no checkpoint under {ckpt_dir} and no redirector.keras")
    else:
        _, prefix, run_dir = kind
    cfg, config_path, _ = _read_config(run_dir, path)
    return _restore(prefix, cfg, config_path)
