import keras
import numpy as np
import pytest
import tensorflow as tf

from tfredirect.config import GanSchedule, LossConfig, SwapConfig, preset
from tfredirect.training import RedirectionGAN


def _dataset(batch):
    return tf.data.Dataset.from_tensors(batch).repeat()


def _snapshot(variables):
    return [keras.ops.convert_to_numpy(v) for v in variables]


def _changed(before, variables):
    return sum(not np.array_equal(b, keras.ops.convert_to_numpy(v)) for b, v in zip(before, variables))


@pytest.mark.slow
def test_one_step_finite_losses_and_both_networks_update(pair_batch):
    gan = RedirectionGAN(preset("tiny"), seed=1, gan_schedule=GanSchedule(warmup=0))
    gan.compile()
    g0, d0 = _snapshot(gan.generator.trainable_variables), _snapshot(gan.discriminator.trainable_variables)
    logs = gan.train_on_batch(pair_batch(8, 32), return_dict=True)
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert logs["adv_weight"] == pytest.approx(1.0)
    assert _changed(d0, gan.discriminator.trainable_variables) == len(d0)
    gates = [v for v in gan.generator.trainable_variables if v.path.endswith("gate")]
    assert gates and all(float(g.numpy()) != 0.0 for g in gates)
    # residual branches start gated off (SkipInit), so their weights move from step 2 on
    gan.train_on_batch(pair_batch(8, 32, seed=1), return_dict=True)
    assert _changed(g0, gan.generator.trainable_variables) == len(g0)
    assert int(gan.g_optimizer.iterations) == 2 and int(gan.d_optimizer.iterations) == 2


def test_adversarial_weight_ramps_linearly():
    gan = RedirectionGAN(preset("tiny"), LossConfig(adv=2.0), gan_schedule=GanSchedule(start=10, warmup=100))
    got = [float(gan.adv_weight(s)) for s in (0, 10, 60, 110, 500)]
    np.testing.assert_allclose(got, [0.0, 0.0, 1.0, 2.0, 2.0])


def _smooth_pairs(n, size=32, seed=0):
    """Low-frequency colour images: a learnable stand-in for faces."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    def img(params):
        a, b, c, d = params
        base = np.stack([np.sin(3 * xx * a + b), np.cos(2 * yy * c + d), np.sin(xx * yy * 4 * a)], -1)
        return ((base + 1) * 127.5).astype(np.uint8)
    params = rng.uniform(0.5, 2.0, (n, 2, 4))
    ang = lambda: rng.uniform(-0.5, 0.5, (n, 2)).astype("float32")
    return {
        "image_a": np.stack([img(p[0]) for p in params]),
        "image_b": np.stack([img(p[1]) for p in params]),
        "gaze_a": ang(), "head_a": ang(), "gaze_b": ang(), "head_b": ang(),
    }


@pytest.mark.slow
def test_tiny_model_overfits_eight_pairs():
    keras.utils.set_random_seed(0)
    gan = RedirectionGAN(preset("tiny"), seed=0, gan_schedule=GanSchedule(warmup=100))
    gan.compile(g_optimizer=keras.optimizers.Adam(1e-3), d_optimizer=keras.optimizers.Adam(1e-4))
    data = _smooth_pairs(8)
    first = gan.test_on_batch(data, return_dict=True)["rec"]
    gan.fit(_dataset(data), steps_per_epoch=200, epochs=1, verbose=0)
    last = gan.test_on_batch(data, return_dict=True)["rec"]
    assert last < 0.5 * first, (first, last)


def _one_sgd_step(strategy, batch):
    with strategy.scope():
        keras.utils.set_random_seed(3)
        gan = RedirectionGAN(preset("tiny"), seed=3, gan_schedule=GanSchedule(warmup=0))
        gan.compile(g_optimizer=keras.optimizers.SGD(0.1), d_optimizer=keras.optimizers.SGD(0.1))
    gan.fit(_dataset(batch), steps_per_epoch=1, epochs=1, verbose=0)
    return gan


@pytest.mark.slow
def test_mirrored_two_replicas_equals_one_replica(pair_batch):
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    assert len(devices) == 2
    batch = pair_batch(8, 32, seed=4)
    batch.update(kind_a=np.array([0, 1] * 4), kind_b=np.array([1, 1, 0, 0] * 2), swap_id=np.array([0, 1] * 4))
    one = _one_sgd_step(tf.distribute.OneDeviceStrategy(devices[0]), batch)
    two = _one_sgd_step(tf.distribute.MirroredStrategy(devices), batch)
    for a, b in zip(one.generator.trainable_variables + one.discriminator.trainable_variables,
                    two.generator.trainable_variables + two.discriminator.trainable_variables):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), atol=2e-5, rtol=1e-4)


@pytest.mark.slow
def test_mirrored_runs_train_steps_with_random_choices(pair_batch):
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    strategy = tf.distribute.MirroredStrategy(devices)
    with strategy.scope():
        # eye > 0: the fixed eye map is first asked for in the replicas' traced steps
        gan = RedirectionGAN(preset("tiny"), LossConfig(eye=1.0), swap_config=SwapConfig(id_swap_prob=0.5),
                             gan_schedule=GanSchedule(warmup=2))
        gan.compile()
    hist = gan.fit(_dataset(pair_batch(8, 32)), steps_per_epoch=3, epochs=1, verbose=0)
    assert int(gan.g_optimizer.iterations.numpy()) == 3
    assert all(np.isfinite(v[-1]) for v in hist.history.values()) and hist.history["eye"][-1] > 0


def _stack(choices):
    return tf.stack([tf.cast(c, tf.int32) for c in choices], 0)


def _draw(gan, step, offset=0, batch=4096):
    return np.array(_stack(gan._choices({}, batch, step, offset)))


def test_random_choices_repeat_for_the_same_seed_step_and_replica_and_differ_otherwise():
    sc = SwapConfig(gaze_prob=0.25, id_swap_prob=0.75)
    gan, twin, other = (RedirectionGAN(preset("tiny"), seed=s, swap_config=sc) for s in (0, 0, 1))
    base = _draw(gan, 5)
    np.testing.assert_array_equal(base, _draw(twin, 5))  # another model with the same seed: the same choices
    assert not np.array_equal(base, _draw(gan, 6))  # the next step draws anew
    assert not np.array_equal(base, _draw(other, 5))  # so does another seed
    assert not np.array_equal(base, _draw(gan, 5, offset=7919))  # validation draws are not the training ones
    # traced, the draws are the same call after call (a stateful generator would move on)
    traced = tf.function(lambda step: _stack(gan._choices({}, 4096, step, 0)))
    np.testing.assert_array_equal(np.array(traced(tf.constant(5))), base)
    np.testing.assert_array_equal(np.array(traced(tf.constant(5))), base)
    # the probabilities of SwapConfig: head with 1 - gaze_prob, identity swap with id_swap_prob,
    # and a's and b's kinds drawn independently (equal with 0.25^2 + 0.75^2)
    head_a, head_b, swap = base.astype(bool)
    assert abs(head_a.mean() - 0.75) < 0.03 and abs(head_b.mean() - 0.75) < 0.03 and abs(swap.mean() - 0.75) < 0.03
    assert abs((head_a == head_b).mean() - 0.625) < 0.03
    # kinds and swaps given in the batch win
    given = {"kind_a": tf.constant([0, 1, 1]), "kind_b": tf.constant([1, 0, 1]), "swap_id": tf.constant([1, 1, 0])}
    np.testing.assert_array_equal(np.array(_stack(gan._choices(given, 3, 5, 0))),
                                  [[0, 1, 1], [1, 0, 1], [1, 1, 0]])


def test_both_kind_is_drawn_with_both_prob_and_the_rest_split_by_gaze_prob():
    gan = RedirectionGAN(preset("tiny"), seed=0, swap_config=SwapConfig(gaze_prob=0.25, both_prob=0.4))
    kind_a, kind_b, _ = _draw(gan, 5, batch=20000)
    for kind in (kind_a, kind_b):
        assert abs((kind == 2).mean() - 0.4) < 0.02
        assert abs((kind == 0).mean() - 0.6 * 0.25) < 0.02 and abs((kind == 1).mean() - 0.6 * 0.75) < 0.02


def test_replicas_draw_different_choices_and_repeat_them():
    sc = SwapConfig(id_swap_prob=0.5)
    gan, twin = (RedirectionGAN(preset("tiny"), seed=0, swap_config=sc) for _ in range(2))
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    strategy = tf.distribute.MirroredStrategy(devices)

    def per_replica(model):
        draws = strategy.run(tf.function(lambda: _stack(model._choices({}, 64, 5, 0))))
        return [np.array(t) for t in strategy.experimental_local_results(draws)]

    first, second = per_replica(gan)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, _draw(gan, 5, batch=64))  # replica 0 draws what one device draws
    again = per_replica(twin)
    np.testing.assert_array_equal(again[0], first)
    np.testing.assert_array_equal(again[1], second)


def test_swap_forward_puts_each_rotated_feature_into_the_other_image(pair_batch, monkeypatch):
    """Image a is rebuilt from a's features with b's feature of b's kind rotated from b's
    angle to a's swapped in (and b's identity when swapped); image b the other way round."""
    keras.utils.set_random_seed(0)
    gan = RedirectionGAN(preset("tiny"), seed=0)
    data = pair_batch(6, 32, seed=5)
    kind_a = tf.constant([0, 1, 0, 1, 2, 2])  # 0 gaze, 1 head, 2 both: every combination of kinds and swaps
    kind_b = tf.constant([0, 0, 1, 1, 0, 2])
    swap = tf.constant([False, True, True, False, False, True])
    decoder_class = type(gan.generator.decoder)
    original_call = decoder_class.call
    seen = []

    def spy(self, z_id, z_g, z_h, *args, **kwargs):
        seen.append([np.array(z) for z in (z_id, z_g, z_h)])
        return original_call(self, z_id, z_g, z_h, *args, **kwargs)

    monkeypatch.setattr(decoder_class, "call", spy)
    out = gan.swap_forward(data, kind_a, kind_b, swap)
    assert len(seen) == 1, "one decoder call for both images"
    z_id, z_g, z_h = seen[0]
    n = 6
    np.testing.assert_allclose(np.array(out["x"][:n]), np.asarray(data["image_a"], np.float32) / 127.5 - 1.0,
                               atol=1e-6)  # the first half rebuilds a, the second b
    assert np.array(out["x_hat"]).shape == (2 * n, 32, 32, 3)
    f = {k: np.array(out["features"][k]) for k in ("z_id", "z_g", "z_h")}
    fa, fb = ({k: v[part] for k, v in f.items()} for part in (slice(None, n), slice(n, None)))
    cas = lambda z, src, dst: np.array(gan.generator.cas(z, data[src], data[dst]))
    ka, kb, sw = (np.array(t)[:, None, None] for t in (kind_a, kind_b, swap))
    expect = {
        "z_g": np.concatenate([np.where(kb != 1, cas(fb["z_g"], "gaze_b", "gaze_a"), fa["z_g"]),
                               np.where(ka != 1, cas(fa["z_g"], "gaze_a", "gaze_b"), fb["z_g"])]),
        "z_h": np.concatenate([np.where(kb >= 1, cas(fb["z_h"], "head_b", "head_a"), fa["z_h"]),
                               np.where(ka >= 1, cas(fa["z_h"], "head_a", "head_b"), fb["z_h"])]),
        "z_id": np.concatenate([np.where(sw[:, :, 0], fb["z_id"], fa["z_id"]),
                                np.where(sw[:, :, 0], fa["z_id"], fb["z_id"])]),
    }
    # with kind 2 and the identity swapped, nothing computed from image a reaches its decoder input
    assert not np.isclose(z_g[5], fa["z_g"][5]).all() and not np.isclose(z_h[5], fa["z_h"][5]).all()
    assert not np.isclose(z_id[5], fa["z_id"][5]).all()
    for name, got in (("z_id", z_id), ("z_g", z_g), ("z_h", z_h)):
        np.testing.assert_allclose(got, expect[name], atol=1e-5, err_msg=name)
    # the rotations matter here: a feature rotated the other way (g_a and g_b exchanged) is far off
    wrong = cas(fb["z_g"], "gaze_a", "gaze_b")
    assert np.abs(wrong[0] - expect["z_g"][0]).max() > 1e-2


@pytest.mark.parametrize(
    "mutate, error, message",
    [
        (lambda b: b.pop("gaze_b"), ValueError, "missing keys"),
        (lambda b: b.update(image_a=b["image_a"][..., :1]), ValueError, "image_a"),
        (lambda b: b.update(head_a=b["head_a"][:, :1]), ValueError, "head_a"),
        (lambda b: b.update(gaze_a=b["gaze_a"] * 90.0), tf.errors.InvalidArgumentError, "degrees"),
        (lambda b: b["gaze_b"].__setitem__((0, 0), np.nan), tf.errors.InvalidArgumentError, "NaN"),
    ],
)
def test_bad_batches_raise_clear_errors(pair_batch, mutate, error, message):
    gan = RedirectionGAN(preset("tiny"))
    gan.compile()
    batch = pair_batch(4, 32)
    mutate(batch)
    with pytest.raises(error, match=message):
        gan.train_on_batch(batch)


def test_config_round_trip():
    gan = RedirectionGAN(preset("tiny"), LossConfig(rec=3.0), seed=9, swap_config=SwapConfig(id_swap_prob=0.25),
                         gan_schedule=GanSchedule(start=7))
    clone = RedirectionGAN.from_config(gan.get_config())
    assert clone.model_config == gan.model_config and clone.loss_config == gan.loss_config and clone.seed == 9
    assert clone.swap_config == gan.swap_config and clone.gan_schedule == gan.gan_schedule


def test_warp_swap_warps_the_partner_with_its_own_unrotated_features(pair_batch, monkeypatch):
    """x_a_hat warps x_b (never x_a itself) guided by b's own z_g/z_h, and vice versa."""
    keras.utils.set_random_seed(0)
    gan = RedirectionGAN(preset("tiny", decoder="warp"), seed=0)
    data = pair_batch(3, 32, seed=2)
    decoder_class = type(gan.generator.decoder)
    original_call = decoder_class.call
    seen = []

    def spy(self, z_id, z_g, z_h, source_image=None, source_z_g=None, source_z_h=None, **kwargs):
        seen.append([np.array(t) for t in (source_image, source_z_g, source_z_h)])
        return original_call(self, z_id, z_g, z_h, source_image, source_z_g, source_z_h, **kwargs)

    monkeypatch.setattr(decoder_class, "call", spy)
    flags = tf.constant([False, True, False])
    out = gan.swap_forward(data, flags, ~flags, flags)
    image, src_g, src_h = seen[0]
    x = lambda key: np.asarray(data[key], np.float32) / 127.5 - 1.0
    np.testing.assert_allclose(image, np.concatenate([x("image_b"), x("image_a")]), atol=1e-6)
    f = {k: np.array(out["features"][k]) for k in ("z_g", "z_h")}
    swapped = lambda v: np.concatenate([v[3:], v[:3]])
    np.testing.assert_allclose(src_g, swapped(f["z_g"]), atol=1e-6)
    np.testing.assert_allclose(src_h, swapped(f["z_h"]), atol=1e-6)
    assert out["flow"].shape == (6, 16, 16, 2)


def test_bfloat16_training_step_keeps_angles_and_losses_float32(pair_batch):
    from tfredirect.training.loop import float32_generator

    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        gan = RedirectionGAN(preset("tiny", decoder="warp"), LossConfig(eye=50.0, flow_smooth=1.0), seed=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    gan.compile(g_optimizer=keras.optimizers.Adam(1e-3), d_optimizer=keras.optimizers.Adam(1e-4))
    assert gan.generator.encoder.compute_dtype == "bfloat16" and gan.generator.iad.compute_dtype == "float32"
    batch = {k: tf.constant(v) for k, v in pair_batch(4, 32, seed=1).items()}
    logs = tf.function(gan.train_step)(batch)  # traced, as fit runs it: the fixed eye map is made eagerly
    assert all(np.isfinite(float(v)) for v in logs.values()) and {"eye", "flow_smooth"} <= set(logs)
    assert gan.eye_map.shape == (32, 32) and float(gan.eye_map.max()) == 1.0
    images = tf.constant(pair_batch(2, 32, seed=3)["image_a"])
    f = gan.generator.encode(tf.cast(images, tf.float32) / 127.5 - 1.0)
    assert f["gaze"].dtype == tf.float32 and f["z_g"].dtype == tf.float32
    copy = float32_generator(gan.generator)
    assert copy is not gan.generator and copy.encoder.compute_dtype == "float32"
    for a, b in zip(gan.generator.weights, copy.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # bfloat16 compute stays close to the float32 copy of the same weights
    low = np.asarray(gan.generator.redirect(images, target_gaze=np.zeros((2, 2), "float32")), np.float32)
    high = np.asarray(copy.redirect(images, target_gaze=np.zeros((2, 2), "float32")), np.float32)
    assert np.abs(low - high).mean() < 4.0  # uint8 levels
    assert float32_generator(copy) is copy


def test_eye_term_weighs_each_images_rendered_eyes():
    """With eye masks in the batch the eye term is the L1 over each image's own (dilated) eye
    pixels; without them, over the fixed map."""
    from tfredirect import losses

    gan = RedirectionGAN(preset("tiny"), LossConfig(eye=1.0), seed=0)
    x = tf.random.stateless_uniform((2, 32, 32, 3), seed=(1, 2), minval=-1.0, maxval=1.0)
    x_hat = tf.zeros_like(x)
    mask = np.zeros((2, 32, 32), np.float32)
    mask[0, 10, 10] = 1.0  # one pixel: dilated to the 3x3 block around it
    mask[1, 20:22, 5:7] = 1.0
    eye = gan._dilated(gan._eye_openings({"eye_a": mask[:1], "eye_b": mask[1:]}))
    assert eye.shape == (2, 32, 32) and float(tf.reduce_sum(eye[0])) == 9.0 and float(tf.reduce_sum(eye[1])) == 16.0
    terms = gan._generator_terms({"x": x, "x_hat": x_hat, "eye": eye, "features": gan.generator.encode(x),
                                  "gaze": tf.zeros((2, 2)), "head": tf.zeros((2, 2))})
    want = [np.abs(np.asarray(x)[0, 9:12, 9:12]).mean(), np.abs(np.asarray(x)[1, 19:23, 4:8]).mean()]
    np.testing.assert_allclose(np.asarray(terms["eye"]), want, rtol=1e-5)
    assert gan._eye_map is None  # the fixed map is rendered only when a batch has no masks
    fixed = gan._generator_terms({"x": x, "x_hat": x_hat, "eye": None, "features": gan.generator.encode(x),
                                  "gaze": tf.zeros((2, 2)), "head": tf.zeros((2, 2))})
    np.testing.assert_allclose(np.asarray(fixed["eye"]), np.asarray(losses.eye_reconstruction(x_hat, x, gan.eye_map)),
                               rtol=1e-6)
    assert gan._eye_openings({}) is None and gan._dilated(None) is None


def test_cross_term_is_the_inference_redirection_against_the_exact_render():
    """The cross term of a pair is the L1 (plus the eye-region L1) between what
    Redirector.redirect makes of image a at b's gaze (or head) and the given render."""
    from tfredirect import imaging, losses
    from tfredirect.data.synthgaze import SynthGaze

    gan = RedirectionGAN(preset("tiny"), LossConfig(cross=1.0), seed=0)
    synth = SynthGaze(size=32, seed=0)
    pid, a, b = synth.pair_keys("train", 4, np.random.default_rng(3))
    batch = synth.pair_batch(pid, a, b, cross=True)
    data = {k: tf.constant(v) for k, v in batch.items()}
    x = imaging.to_model_range(np.concatenate([batch["image_a"], batch["image_b"]]))
    labels = {k: tf.constant(np.concatenate([batch[f"{k}_a"], batch[f"{k}_b"]])) for k in ("gaze", "head")}
    term = np.asarray(gan._cross_term(data, {"x": x, "features": gan.generator.encode(x), **labels}))
    head = batch["cross_head"][:, None] == 1
    out = np.asarray(gan.generator.redirect(
        batch["image_a"], target_gaze=np.where(head, batch["gaze_a"], batch["gaze_b"]),
        target_head=np.where(head, batch["head_b"], batch["head_a"]),
        source_gaze=batch["gaze_a"], source_head=batch["head_a"]))
    out, truth = imaging.to_model_range(out), imaging.to_model_range(batch["image_cross"])
    want = np.asarray(losses.reconstruction(out, truth) + losses.eye_reconstruction(out, truth, gan.eye_map))
    want = want * batch["cross_weight"]  # records no face can show count 0
    assert term.shape == (4,) and np.all(term[batch["cross_weight"] == 1] > 0.05)
    np.testing.assert_allclose(term, want, atol=0.01)  # redirect rounds to uint8
    # the term trains: a step with it logs it and moves the generator
    gan.compile(g_optimizer=keras.optimizers.Adam(1e-3), d_optimizer=keras.optimizers.Adam(1e-4))
    logs = gan.train_step(data)
    assert float(logs["cross"]) == pytest.approx(float(term.mean()), rel=1e-4)


def _keep_setup():
    """A fresh tiny warp GAN that learns from the keep term alone, and a SynthGaze pair batch."""
    from tfredirect.data.synthgaze import SynthGaze

    keras.utils.set_random_seed(0)
    gan = RedirectionGAN(preset("tiny", decoder="warp"), LossConfig(rec=0.0, label=0.0, orth=0.0, adv=0.0, keep=1.0),
                         seed=0)
    synth = SynthGaze(size=32, seed=0)
    batch = synth.pair_batch(*synth.pair_keys("train", 4, np.random.default_rng(3)))
    return gan, {k: tf.constant(v) for k, v in batch.items()}


def test_keep_term_is_the_inference_gaze_redirection_against_a_outside_the_eyes():
    """The keep term of a pair is the L1 outside the eyes (weights 1 - eye map) between what
    Redirector.redirect makes of image a at b's gaze (head kept) and a itself."""
    from tfredirect import imaging

    gan, data = _keep_setup()
    x = imaging.to_model_range(np.concatenate([data["image_a"], data["image_b"]]))
    labels = {k: tf.constant(np.concatenate([data[f"{k}_a"], data[f"{k}_b"]])) for k in ("gaze", "head")}
    out = {"x": x, "features": gan.generator.encode(x), "eye": None, **labels}
    term = np.asarray(gan._keep_term(out))
    redirected = np.asarray(gan.generator.redirect(
        np.asarray(x[:4]), target_gaze=np.asarray(data["gaze_b"]), source_gaze=np.asarray(data["gaze_a"]),
        source_head=np.asarray(data["head_a"])))
    weights = 1.0 - np.asarray(gan.eye_map)
    want = (weights * np.abs(redirected - np.asarray(x[:4])).mean(-1)).sum((1, 2)) / (weights.sum() + 1e-6)
    assert term.shape == (4,) and np.all(term > 0.01)
    np.testing.assert_allclose(term, want, rtol=1e-4)
    gan.compile(g_optimizer=keras.optimizers.Adam(3e-3), d_optimizer=keras.optimizers.Adam(1e-4))
    assert float(gan.train_step(data)["keep"]) == pytest.approx(float(term.mean()), rel=1e-4)


@pytest.mark.slow
def test_keep_term_teaches_the_warp_decoder_to_keep_the_face():
    """With only the keep term to learn, a fresh warp decoder keeps a's pixels outside the
    eyes: the term falls by more than half in 60 steps (0.043 -> 0.011 measured)."""
    gan, data = _keep_setup()
    gan.compile(g_optimizer=keras.optimizers.Adam(3e-3), d_optimizer=keras.optimizers.Adam(1e-4))
    step = tf.function(gan.train_step)
    logs = [float(step(data)["keep"]) for _ in range(60)]
    assert logs[-1] < 0.5 * logs[0], logs


def test_paint_term_lowers_the_colour_share_of_the_move_decoder(pair_batch):
    """The paint term is the swapped outputs' mean 1 - mask; trained alone it falls (the
    decoder moves pixels rather than painting), and a decoder without a mask logs none."""
    from tfredirect import losses

    keras.utils.set_random_seed(0)
    gan = RedirectionGAN(preset("tiny", decoder="move"),
                         LossConfig(rec=0.0, label=0.0, orth=0.0, adv=0.0, paint=1.0), seed=0)
    gan.compile(g_optimizer=keras.optimizers.Adam(1e-2), d_optimizer=keras.optimizers.Adam(1e-4))
    data = {k: tf.constant(v) for k, v in pair_batch(4, 32, seed=2).items()}
    kinds = gan._choices(data, 4, 0, 0)
    out = gan.swap_forward(data, *kinds)
    np.testing.assert_allclose(float(np.mean(losses.paint_share(out["mask"]))), 0.12, atol=1e-4)  # 1 - MASK_INIT
    step = tf.function(gan.train_step)
    logs = [float(step(data)["paint"]) for _ in range(20)]
    assert logs[-1] < 0.5 * logs[0], logs
    rgb = RedirectionGAN(preset("tiny"), LossConfig(paint=1.0), seed=0)
    rgb.compile(g_optimizer=keras.optimizers.Adam(1e-3), d_optimizer=keras.optimizers.Adam(1e-4))
    assert "paint" not in rgb.train_step(data)


def test_gaze_flow_swap_moves_the_partners_eyes_to_the_rebuilt_images_gaze(pair_batch, monkeypatch):
    """With the geometric gaze flow, x_a_hat (warping x_b) gets the iris displacement from b's
    gaze label to a's, whatever the kinds, and vice versa; a training step trains the map."""
    from tfredirect import geometry

    keras.utils.set_random_seed(0)
    gan = RedirectionGAN(preset("tiny", decoder="move", gaze_flow_mm=13.5), seed=0)
    data = pair_batch(3, 32, seed=2)
    decoder_class = type(gan.generator.decoder)
    original_call = decoder_class.call
    shifts = []

    def spy(self, *args, gaze_shift=None, **kwargs):
        shifts.append(None if gaze_shift is None else np.array(gaze_shift))
        return original_call(self, *args, gaze_shift=gaze_shift, **kwargs)

    monkeypatch.setattr(decoder_class, "call", spy)
    flags = tf.constant([False, True, False])
    gan.swap_forward(data, flags, ~flags, flags)
    g_a, g_b = (np.asarray(data[k], np.float32) for k in ("gaze_a", "gaze_b"))
    r = gan.generator.iris_radius_px
    expected = np.concatenate([geometry.iris_shift(g_b, g_a, r), geometry.iris_shift(g_a, g_b, r)])
    np.testing.assert_allclose(shifts[0], expected, atol=1e-5)
    assert np.abs(expected).max() > 0.1
    monkeypatch.undo()
    gan.compile()
    eye = gan.generator.decoder.to_eye
    before = _snapshot(eye.trainable_variables)
    for seed in range(2):
        gan.train_on_batch(pair_batch(8, 32, seed=seed), return_dict=True)
    assert _changed(before, eye.trainable_variables) == len(before)


def test_eyeball_term_teaches_the_map_the_rendered_eye_openings(pair_batch):
    """The eyeball term is the balanced L1 between the decoder's eyeball map and the rebuilt
    images' rendered eye openings ([a, b] order); trained alone it falls, and without masks
    or without the geometric flow it is not computed."""
    from tfredirect import losses

    keras.utils.set_random_seed(0)
    gan = RedirectionGAN(preset("tiny", decoder="move", gaze_flow_mm=13.5),
                         LossConfig(rec=0.0, label=0.0, orth=0.0, adv=0.0, eyeball=1.0), seed=0)
    gan.compile(g_optimizer=keras.optimizers.Adam(1e-2), d_optimizer=keras.optimizers.Adam(1e-4))
    data = pair_batch(4, 32, seed=2)
    eye = np.zeros((4, 32, 32), "float32")
    eye[:, 10:14, 6:12] = eye[:, 10:14, 20:26] = 1.0
    data.update(eye_a=eye, eye_b=eye[:, :, ::-1].copy())
    data = {k: tf.constant(v) for k, v in data.items()}
    out = gan.swap_forward(data, *gan._choices(data, 4, 0, 0))
    np.testing.assert_allclose(np.asarray(out["eye_masks"]), np.concatenate([eye, eye[:, :, ::-1]]))
    # the map starts at 0.12 everywhere: misses 0.88 inside, marks 0.12 outside
    np.testing.assert_allclose(np.asarray(losses.eyeball_map(out["eyeball"][..., 0], out["eye_masks"])),
                               0.5 * (0.88 * 48 / 49 + 0.12 * 976 / 977), atol=1e-4)
    step = tf.function(gan.train_step)
    logs = [float(step(data)["eyeball"]) for _ in range(30)]
    assert logs[-1] < 0.5 * logs[0], logs
    no_masks = {k: v for k, v in data.items() if not k.startswith("eye_")}
    assert "eyeball" not in gan.train_step(no_masks)
