
import numpy as np
import pytest

from tfredirect.config import preset
from tfredirect.models import Redirector, load_redirector


@pytest.fixture(scope="module")
def model(tiny_redirector):
    return tiny_redirector


def _images(n=4, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 32, 32, 3)).astype("float32")


def _angles(n=4, seed=1, scale=0.4):
    return np.random.default_rng(seed).uniform(-scale, scale, (n, 2)).astype("float32")


def test_redirect_without_targets_is_reconstruction(model):
    x = _images()
    np.testing.assert_allclose(model.redirect(x), model(x), atol=1e-6)


def test_redirect_uses_given_source_labels_and_estimates_otherwise(model):
    x, g = _images(), _angles()
    f = model.encode(x)
    # target == source label: nothing rotates
    np.testing.assert_allclose(model.redirect(x, target_gaze=g, source_gaze=g), model(x), atol=1e-5)
    # without a source label the auxiliary estimate is the current angle
    np.testing.assert_allclose(model.redirect(x, target_gaze=f["gaze"]), model(x), atol=1e-5)
    assert np.abs(np.asarray(model.redirect(x, target_gaze=g + 0.3, source_gaze=g)) - np.asarray(model(x))).max() > 1e-4


def test_chained_rotation_equals_direct_rotation(model):
    x = _images()
    a, b, c = _angles(seed=2), _angles(seed=3), _angles(seed=4)
    f = model.encode(x)
    step1 = model.rotate(f, target_gaze=b, source_gaze=a)
    chained = model.rotate(step1, target_gaze=c, source_gaze=b, target_head=c, source_head=a)
    direct = model.rotate(f, target_gaze=c, source_gaze=a, target_head=c, source_head=a)
    for key in ("z_g", "z_h"):
        np.testing.assert_allclose(chained[key], direct[key], atol=1e-5)
    np.testing.assert_allclose(chained["z_id"], f["z_id"])


def test_uint8_in_uint8_out(model):
    x = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    out = np.asarray(model.redirect(x, target_head=_angles(2)))
    assert out.dtype == np.uint8 and out.shape == (2, 32, 32, 3)


def test_keras_round_trip_gives_identical_outputs(model, tmp_path):
    path = str(tmp_path / "redirector.keras")
    model.save(path)
    loaded = load_redirector(path)
    x, g, h = _images(), _angles(seed=5), _angles(seed=6)
    np.testing.assert_array_equal(loaded.redirect(x, g, h), model.redirect(x, g, h))
    assert loaded.config == model.config


def test_load_redirector_errors(tmp_path):
    with pytest.raises(ValueError, match="no such model file"):
        load_redirector(str(tmp_path / "missing.keras"))


@pytest.mark.parametrize(
    "images, kwargs, message",
    [
        (np.zeros((2, 32, 32, 4), "float32"), {}, r"\(batch, 32, 32, 3\)"),
        (np.zeros((2, 64, 64, 3), "float32"), {}, r"\(batch, 32, 32, 3\)"),
        (np.zeros((32, 32, 3), "float32"), {}, "shape"),
        (np.zeros((2, 32, 32, 3), "float32"), {"target_gaze": np.array([[np.nan, 0], [0, 0]], "float32")}, "NaN"),
        (np.zeros((2, 32, 32, 3), "float32"), {"target_head": np.array([[10.0, 40.0], [0, 0]], "float32")}, "degrees"),
        (np.zeros((2, 32, 32, 3), "float32"), {"target_gaze": np.zeros((3, 2), "float32")}, r"\(2, 2\)"),
    ],
)
def test_bad_input_raises_value_error(model, images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        model.redirect(images, **kwargs)


def test_base_preset_stays_within_two_gflop_per_image():
    from tfredirect import profiling

    base = Redirector(preset("base"))
    base.build()
    assert profiling.redirector_flops(base) <= 2.0e9
