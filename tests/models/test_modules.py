import math

import keras
import numpy as np
import pytest

from tfredirect.config import preset
from tfredirect.models import (
    CrossAttributeSeparation,
    Decoder,
    Encoder,
    IrrelevantAttributeDecomposition,
    PatchDiscriminator,
)

CFG = preset("tiny")


def _images(n=3, size=CFG.image_size, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)).astype("float32")


def test_encoder_shape():
    enc = Encoder(CFG.image_size, CFG.channels, CFG.face_dim, CFG.groups)
    assert tuple(enc(_images()).shape) == (3, CFG.face_dim)


def test_iad_shapes():
    iad = IrrelevantAttributeDecomposition(CFG.face_dim, CFG.split_dim, CFG.id_dim, CFG.rot_dim, CFG.head_hidden)
    out = iad(np.random.default_rng(0).normal(size=(3, CFG.face_dim)).astype("float32"))
    expect = {
        "f_id": (3, CFG.split_dim),
        "f_res": (3, CFG.split_dim),
        "z_id": (3, CFG.id_dim),
        "z_g": (3, 3, CFG.rot_dim),
        "z_h": (3, 3, CFG.rot_dim),
        "gaze": (3, 2),
        "head": (3, 2),
    }
    assert {k: tuple(v.shape) for k, v in out.items()} == expect


def test_decoder_and_discriminator_shapes():
    dec = Decoder(CFG.image_size, CFG.channels, CFG.id_dim, CFG.rot_dim, CFG.groups)
    rng = np.random.default_rng(0)
    z_id = rng.normal(size=(2, CFG.id_dim)).astype("float32")
    z = rng.normal(size=(2, 3, CFG.rot_dim)).astype("float32")
    img = np.asarray(dec(z_id, z, z))
    assert img.shape == (2, 32, 32, 3) and img.min() >= -1 and img.max() <= 1
    disc = PatchDiscriminator(CFG.image_size, CFG.disc_channels)
    assert tuple(disc(_images(2)).shape) == (2, 32 // 2 ** len(CFG.disc_channels), 32 // 2 ** len(CFG.disc_channels), 1)


def test_cas_rotates_feature_columns_by_known_matrix():
    cas = CrossAttributeSeparation()
    z = np.zeros((1, 3, 2), "float32")
    z[0, :, 0] = [1, 0, 0]
    z[0, :, 1] = [0, 0, 1]
    # from yaw 0 to yaw 90 deg: R_y(90) maps x -> -z and z -> x
    out = np.asarray(cas(z, np.zeros((1, 2), "float32"), np.array([[0.0, math.pi / 2]], "float32")))
    np.testing.assert_allclose(out[0, :, 0], [0, 0, -1], atol=1e-6)
    np.testing.assert_allclose(out[0, :, 1], [1, 0, 0], atol=1e-6)
    # same current and target: unchanged
    ang = np.array([[0.3, -0.4]], "float32")
    np.testing.assert_allclose(cas(z, ang, ang), z, atol=1e-6)


@pytest.mark.parametrize(
    "layer",
    [
        Encoder(CFG.image_size, CFG.channels, CFG.face_dim, CFG.groups),
        IrrelevantAttributeDecomposition(CFG.face_dim, CFG.split_dim, CFG.id_dim, CFG.rot_dim, CFG.head_hidden),
        Decoder(CFG.image_size, CFG.channels, CFG.id_dim, CFG.rot_dim, CFG.groups),
        PatchDiscriminator(CFG.image_size, CFG.disc_channels),
        CrossAttributeSeparation(),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_get_config_round_trip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer)
