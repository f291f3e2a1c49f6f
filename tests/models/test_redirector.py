
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


@pytest.mark.parametrize("decoder", ["rgb", "warp"])
def test_base_preset_flops_per_image(decoder):
    """The base preset's TFLite budget (9 ms on 2 cores with the warp decoder) rests on its
    0.69 GFLOP (benchmarks/lite_variants.py); its former full-width version took 1.67."""
    from tfredirect import profiling

    base = Redirector(preset("base", decoder=decoder))
    base.build()
    assert 0.68e9 <= profiling.redirector_flops(base) <= 0.70e9


def test_separable_stages_and_upsample_default_off_and_round_trip(tmp_path):
    from tfredirect.config import ModelConfig

    tiny = preset("tiny")
    assert (tiny.separable_stages, tiny.upsample) == (0, "first")
    # a dict written before the fields existed loads with today's behaviour
    old = {k: v for k, v in tiny.to_dict().items() if k not in ("separable_stages", "upsample")}
    assert ModelConfig.from_dict(old) == tiny
    cfg = preset("tiny", separable_stages=1, upsample="mid", decoder="warp")
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    model = Redirector(cfg)
    model.build()
    path = str(tmp_path / "separable.keras")
    model.save(path)
    loaded = load_redirector(path)
    assert loaded.config == cfg
    x, g, h = _images(), _angles(seed=5), _angles(seed=6)
    np.testing.assert_array_equal(loaded.redirect(x, g, h), model.redirect(x, g, h))
    with pytest.raises(ValueError, match=r"separable_stages must be in \[0, 3\]"):
        preset("tiny", separable_stages=4)
    with pytest.raises(ValueError, match="upsample must be 'first' or 'mid'"):
        preset("tiny", upsample="last")


def test_separable_stages_are_the_highest_resolutions():
    full, sep = (Redirector(preset("tiny", separable_stages=n)) for n in (0, 1))
    for m in (full, sep):
        m.build()
    assert [s.separable for s in sep.encoder.stages] == [True, False, False]
    assert [s.separable for s in sep.decoder.stages] == [False, False, True]
    # encoder stage 1 and decoder stage 3 are 16 -> 16 wide: each 3x3 conv (9*16*16 + 16 weights)
    # becomes a depthwise 3x3 (9*16) + pointwise 1x1 (16*16) + bias (16)
    assert full.count_params() - sep.count_params() == 4 * ((9 * 16 * 16 + 16) - (9 * 16 + 16 * 16 + 16))


def test_upsample_mid_runs_the_first_conv_at_the_low_resolution():
    from tfredirect.models.layers import ResidualBlock

    x = np.random.default_rng(0).uniform(-1, 1, (2, 4, 4, 8)).astype("float32")
    first, mid = ResidualBlock(6, scale=2), ResidualBlock(6, scale=2, upsample="mid")
    first.build(x.shape)
    mid.build(x.shape)
    mid.set_weights(first.get_weights())
    assert tuple(mid.conv1.kernel.shape) == (3, 3, 8, 6)
    # with the residual gate at its initial zero both are the shortcut, which commutes with
    # nearest upsampling
    np.testing.assert_allclose(mid(x), first(x), atol=1e-6)
    assert tuple(mid(x).shape) == (2, 8, 8, 6)
    for block in (first, mid):
        block.gate.assign(1.0)
    assert np.abs(np.asarray(mid(x)) - np.asarray(first(x))).max() > 1e-3
