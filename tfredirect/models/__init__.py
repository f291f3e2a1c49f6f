"""Keras models of the patent's modules and the generator that chains them."""

from tfredirect.models.decoder import Decoder
from tfredirect.models.decomposition import IrrelevantAttributeDecomposition
from tfredirect.models.discriminator import PatchDiscriminator
from tfredirect.models.encoder import Encoder
from tfredirect.models.keras_file import load_keras_model
from tfredirect.models.redirector import Redirector
from tfredirect.models.separation import CrossAttributeSeparation


def load_redirector(path):
    """Load a `Redirector` saved as `.keras`; raises ValueError naming the file and what is
    wrong with it (missing, not a .keras archive, damaged config or weights)."""
    return load_keras_model(path, Redirector, "a tfredirect Redirector")


__all__ = [
    "Decoder",
    "Encoder",
    "CrossAttributeSeparation",
    "IrrelevantAttributeDecomposition",
    "PatchDiscriminator",
    "Redirector",
    "load_redirector",
]
