"""Loading a model of a given class from a `.keras` file, with one-line errors that name the
file and what is wrong with it (missing, not a .keras archive, damaged config or weights,
another kind of model)."""

import json
import os
import zipfile

import keras


def first_line(err):
    """The first line of an exception's text (at most 300 characters), for one-line errors."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


def load_keras_model(path, cls, what):
    """The `cls` saved at `path` (compile=False); ValueError naming `path` and the fault.
    `what` names the expected model in the message ("a GazeHeadEstimator")."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"{path}: no such model file")
    if os.path.isdir(path) or not zipfile.is_zipfile(path):
        size = "a folder" if os.path.isdir(path) else f"{os.path.getsize(path)} bytes"
        raise ValueError(f"{path}: not a .keras archive ({size}; truncated or not a Keras model file)")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(f"{path}: damaged .keras archive ({err})") from None
    if bad is not None:
        raise ValueError(f"{path}: damaged .keras archive (member {bad} fails its CRC check)")
    missing = [n for n in ("config.json", "model.weights.h5") if n not in names]
    if missing:
        raise ValueError(f"{path}: damaged .keras archive (no {', '.join(missing)})")
    try:
        model = keras.saving.load_model(path, compile=False)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: damaged model config (config.json: {err})") from None
    except (OSError, KeyError) as err:
        raise ValueError(f"{path}: damaged weights (model.weights.h5: {first_line(err)})") from None
    except (TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"{path}: cannot rebuild the model from its config ({first_line(err)})") from None
    if not isinstance(model, cls):
        raise ValueError(f"{path}: holds a {type(model).__name__}, not {what}")
    return model
