"""Keras models of the patent's modules and the generator that chains them."""

import keras

from tfredirect.models.decoder import Decoder
from tfredirect.models.decomposition import IrrelevantAttributeDecomposition
from tfredirect.models.discriminator import PatchDiscriminator
from tfredirect.models.encoder import Encoder
from tfredirect.models.redirector import Redirector
from tfredirect.models.separation import CrossAttributeSeparation


def load_redirector(path):
    """Load a `Redirector` saved as `.keras`; raises ValueError naming the file otherwise."""
    import os

    if not os.path.exists(path):
        raise ValueError(f"{path}: no such model file")
    model = keras.saving.load_model(path, compile=False)
    if not isinstance(model, Redirector):
        raise ValueError(f"{path}: holds a {type(model).__name__}, not a tfredirect Redirector")
    return model


__all__ = [
    "Decoder",
    "Encoder",
    "CrossAttributeSeparation",
    "IrrelevantAttributeDecomposition",
    "PatchDiscriminator",
    "Redirector",
    "load_redirector",
]
