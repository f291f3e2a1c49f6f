"""Keras models of the patent's modules and the generator that chains them."""

import keras

from tfredirect.models.decoder import Decoder
from tfredirect.models.decomposition import IrrelevantAttributeDecomposition
from tfredirect.models.discriminator import PatchDiscriminator
from tfredirect.models.encoder import Encoder
from tfredirect.models.redirector import Redirector
from tfredirect.models.separation import CrossAttributeSeparation


def load_redirector(path):
    """Load a `Redirector` saved as `.keras`; raises ValueError naming the file and what is
    wrong with it (missing, not a .keras archive, damaged config or weights)."""
    import json
    import os
    import zipfile

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
        raise ValueError(f"{path}: damaged weights (model.weights.h5: {_first_line(err)})") from None
    except (TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"{path}: cannot rebuild the model from its config ({_first_line(err)})") from None
    if not isinstance(model, Redirector):
        raise ValueError(f"{path}: holds a {type(model).__name__}, not a tfredirect Redirector")
    return model


def _first_line(err):
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


__all__ = [
    "Decoder",
    "Encoder",
    "CrossAttributeSeparation",
    "IrrelevantAttributeDecomposition",
    "PatchDiscriminator",
    "Redirector",
    "load_redirector",
]
