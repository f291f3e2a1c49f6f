import math

import h5py
import numpy as np
import pytest
import tensorflow as tf

from tfredirect import geometry
from scipy import ndimage

from tfredirect.data import synthgaze, synthgaze_render
from tfredirect.data.synthgaze import EYE_IN_HEAD_RANGE, SynthGaze, render
from tfredirect.data.synthgaze_render import IDENTITY_FIELDS, NUISANCE_FIELDS

SG = SynthGaze(size=64, seed=3, num_persons=200)
TX = SynthGaze(size=64, seed=3, num_persons=200, appearance="textured")


def _frontal(n, gaze_deg, head_deg=(0, 0), person=0):
    """Render one identity/nuisance at several labels; returns images and masks."""
    pid = np.full(n, person)
    ident = SG.identity(pid)
    nuis = SG.nuisance_params(pid, np.zeros(n, int))
    gaze = np.radians(np.asarray(gaze_deg, np.float32).reshape(n, 2)).astype(np.float32)
    head = np.radians(np.asarray(head_deg, np.float32).reshape(-1, 2) * np.ones((n, 1))).astype(np.float32)
    return render(ident, gaze, head, nuis, 64, return_masks=True)


def _centroid(mask):
    ys, xs = np.mgrid[: mask.shape[0], : mask.shape[1]]
    w = mask.sum()
    return (xs * mask).sum() / w, (ys * mask).sum() / w


@pytest.mark.slow
def test_same_seed_is_bitwise_identical_and_seed_matters():
    pid, idx = SG.persons("train")[:6], np.arange(6)
    a, ga, ha = SG.render_samples(pid, idx)
    b, gb, hb = SynthGaze(size=64, seed=3, num_persons=200).render_samples(pid, idx)
    assert a.dtype == np.uint8 and a.shape == (6, 64, 64, 3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ga, gb)
    c, _, _ = SynthGaze(size=64, seed=4, num_persons=200).render_samples(pid, idx)
    assert np.abs(a.astype(int) - c).mean() > 10


def test_label_ranges_are_respected_and_covered():
    pid = np.repeat(np.arange(200), 25)
    idx = np.tile(np.arange(25), 200)
    gaze, head = SG.labels(pid, idx)
    deg = lambda x: np.degrees(np.abs(x)).max(0)
    assert np.all(deg(head) <= [30.0001, 45.0001]) and np.all(deg(head) > [28, 43])
    assert np.all(deg(gaze) <= [40.0001, 50.0001]) and np.all(deg(gaze) > [36, 46])
    # eye-in-head rotation within 35 degrees per axis
    m = synthgaze.head_rotation(head)
    g_head = np.einsum("nji,nj->ni", m, synthgaze.pitchyaw_vector_np(gaze))
    eye = np.stack([np.arcsin(-g_head[:, 1]), np.arctan2(-g_head[:, 0], -g_head[:, 2])], -1)
    assert np.degrees(np.abs(eye)).max() <= 35.01
    assert np.all(np.isfinite(gaze)) and np.all(np.isfinite(head))


def test_head_forward_axis_matches_the_vector_convention():
    head = np.radians(np.array([[20, -35], [-25, 10], [0, 0]], np.float32))
    forward = synthgaze.head_rotation(head) @ np.array([0, 0, -1.0])
    np.testing.assert_allclose(forward, synthgaze.pitchyaw_vector_np(head), atol=1e-12)


def test_splits_are_disjoint_and_cover_all_persons():
    sg = SynthGaze(size=32, seed=0, num_persons=1000)
    parts = [set(sg.persons(s).tolist()) for s in ("train", "val", "test")]
    assert set().union(*parts) == set(range(1000))
    assert sum(len(p) for p in parts) == 1000
    assert 60 < len(parts[1]) < 140 and 60 < len(parts[2]) < 140


def test_iris_moves_with_gaze_yaw_and_is_large_enough():
    _, masks = _frontal(2, [(0, -30), (0, 30)])
    iris = masks["iris"]
    x_neg, _ = _centroid(iris[0])
    x_pos, _ = _centroid(iris[1])
    # positive yaw looks to the image left (v_x = -cos p sin y)
    assert x_neg - x_pos >= 3.0, (x_neg, x_pos)
    # each of the two irises spans at least 4 px (equivalent diameter of its visible area)
    per_eye_area = iris[0].sum() / 2
    assert 2 * math.sqrt(per_eye_area / math.pi) >= 4.0


def test_iris_moves_up_with_gaze_pitch():
    _, masks = _frontal(2, [(-15, 0), (20, 0)])
    _, y_down = _centroid(masks["iris"][0])
    _, y_up = _centroid(masks["iris"][1])
    assert y_down - y_up >= 1.5, (y_down, y_up)


def test_nose_tip_moves_with_head_yaw():
    _, masks = _frontal(2, [(0, 0), (0, 0)], head_deg=[(0, -30), (0, 30)])
    x_neg, _ = _centroid(masks["nose_tip"][0])
    x_pos, _ = _centroid(masks["nose_tip"][1])
    assert x_neg - x_pos >= 3.0, (x_neg, x_pos)


def test_eyes_close_at_strong_downward_gaze():
    _, masks = _frontal(2, [(0, 0), (-35, 0)])
    open_area, down_area = masks["eye"][0].sum(), masks["eye"][1].sum()
    assert down_area < 0.6 * open_area, (open_area, down_area)


def test_masks_and_parameters_are_finite_at_extreme_labels():
    corners = [(40, 50), (-40, -50), (40, -50), (-40, 50)]
    images, masks = _frontal(4, corners, head_deg=(30, 45))
    assert all(np.all(np.isfinite(m)) for m in masks.values())
    params = synthgaze.scene_params(SG.identity(np.zeros(4, int)), np.radians(np.array(corners, np.float32)),
                                    np.radians(np.array([[30, 45]] * 4, np.float32)), SG.nuisance_params(np.zeros(4, int), 0))
    assert all(np.all(np.isfinite(v)) for v in params.values())
    assert images.std() > 10


def test_render_target_reproduces_own_sample_and_changes_with_labels():
    pid, idx = SG.persons("test")[:4], np.arange(4) + 7
    images, gaze, head = SG.render_samples(pid, idx)
    np.testing.assert_array_equal(SG.render_target(pid, idx), images)
    np.testing.assert_array_equal(SG.render_target(pid, idx, gaze=gaze, head=head), images)
    moved = SG.render_target(pid, idx, gaze=np.zeros_like(gaze), head=head)
    assert np.abs(moved.astype(int) - images).max() > 50


def test_pairs_are_same_person_with_matching_labels():
    rng = np.random.default_rng(0)
    pid, a, b = SG.pair_keys("train", 64, rng, min_angle_deg=5.0)
    assert set(pid.tolist()) <= set(SG.persons("train").tolist())
    assert np.all(a != b)
    batch = SG.pair_batch(pid[:4], a[:4], b[:4])
    ga, ha = SG.labels(pid[:4], a[:4])
    np.testing.assert_array_equal(batch["gaze_a"], ga)
    np.testing.assert_array_equal(batch["head_a"], ha)
    same_person_b = SG.render_target(pid[:4], b[:4])
    np.testing.assert_array_equal(batch["image_b"], same_person_b)
    ds = SG.pairs("train", 4, seed=5)
    first = next(iter(ds))
    again = next(iter(SG.pairs("train", 4, seed=5)))
    assert {k: tuple(v.shape) for k, v in first.items()} == {
        "image_a": (4, 64, 64, 3), "image_b": (4, 64, 64, 3), "gaze_a": (4, 2), "head_a": (4, 2),
        "gaze_b": (4, 2), "head_b": (4, 2)}
    np.testing.assert_array_equal(first["image_a"].numpy(), again["image_a"].numpy())


def test_min_angle_is_enforced():
    rng = np.random.default_rng(1)
    pid, a, b = SG.pair_keys("val", 128, rng, min_angle_deg=12.0)
    ga, ha = SG.labels(pid, a)
    gb, hb = SG.labels(pid, b)
    from tfredirect.geometry import angular_error

    diff = np.maximum(np.asarray(angular_error(ga, gb)), np.asarray(angular_error(ha, hb)))
    assert diff.min() >= 12.0


def test_samples_view_yields_every_sample_of_a_split():
    sg = SynthGaze(size=32, seed=1, num_persons=20, samples_per_person=3)
    records = list(sg.samples("val").as_numpy_iterator())
    assert len(records) == 3 * len(sg.persons("val"))
    assert {r["person"].decode() for r in records} == {str(p) for p in sg.persons("val")}


def test_write_h5_in_sted_layout(tmp_path):
    sg = SynthGaze(size=32, seed=2, num_persons=12, samples_per_person=3)
    path = str(tmp_path / "synth.h5")
    persons, samples = sg.write_h5(path, "train")
    train = sg.persons("train")
    assert (persons, samples) == (len(train), 3 * len(train))
    with h5py.File(path, "r") as f:
        assert sorted(f.keys()) == [f"{p:06d}" for p in train]
        g = f[f"{train[0]:06d}"]
        assert g["pixels"].dtype == np.uint8 and g["pixels"].shape == (3, 32, 32, 3)
        assert g["labels"].dtype == np.float32 and g["labels"].shape == (3, 8)
        images, gaze, head = sg.render_samples(np.full(3, train[0]), np.arange(3))
        np.testing.assert_array_equal(g["pixels"][()], images)
        np.testing.assert_array_equal(g["labels"][:, 0:2], gaze)
        np.testing.assert_array_equal(g["labels"][:, 2:4], head)
        np.testing.assert_array_equal(g["labels"][:, 4:6], gaze)
    with pytest.raises(ValueError, match="exists"):
        sg.write_h5(path, "train")
    assert not any(p.name.startswith("synth.h5.tmp") for p in tmp_path.iterdir())


def test_rgb_channel_order_from_known_background():
    pid = np.zeros(1, int)
    nuis = SG.nuisance_params(pid, 0)
    nuis[0, NUISANCE_FIELDS.index("bg_r")] = 0.9
    nuis[0, NUISANCE_FIELDS.index("bg_g")] = 0.1
    nuis[0, NUISANCE_FIELDS.index("bg_b")] = 0.1
    nuis[0, NUISANCE_FIELDS.index("bg_gradient")] = 0.0
    img = render(SG.identity(pid), np.zeros((1, 2), np.float32), np.zeros((1, 2), np.float32), nuis, 32)
    np.testing.assert_array_equal(img[0, 0, 0], [230, 26, 26])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: SynthGaze(size=50), "size"),
        (lambda: SynthGaze(num_persons=0), "num_persons"),
        (lambda: SynthGaze(samples_per_person=-2), "samples_per_person"),
        (lambda: SynthGaze(val_fraction=0.6, test_fraction=0.5), "val_fraction"),
        (lambda: SynthGaze(nuisance="scene"), "nuisance"),
        (lambda: SG.persons("holdout"), "split"),
        (lambda: SG.render_target([1], [0], gaze=np.array([[10.0, 20.0]], np.float32)), "degrees"),
        (lambda: SG.render_target([1], [0], gaze=np.array([[0.9, 0.0]], np.float32)), "gaze"),
        (lambda: SG.render_target([1], [0], head=np.array([[0.0, 0.9]], np.float32)), "head"),
        (lambda: SG.render_target([1], [0], head=np.array([[np.nan, 0.0]], np.float32)), "NaN"),
        (lambda: SG.render_samples([5000], [0]), "person_ids"),
        (lambda: SG.pairs("train", 0), "batch_size"),
        (lambda: render(np.zeros((1, 3)), np.zeros((1, 2)), np.zeros((1, 2)), np.zeros((1, len(NUISANCE_FIELDS))), 64),
         "identity_params"),
        (lambda: render(np.zeros((1, len(IDENTITY_FIELDS))), np.zeros((1, 2)), np.zeros((1, 2)),
                        np.zeros((1, len(NUISANCE_FIELDS))), 48), "size"),
        (lambda: SynthGaze(appearance="photo"), "appearance"),
        (lambda: SynthGaze(appearance=None), "appearance"),
        (lambda: render(SG.identity([0]), np.zeros((1, 2)), np.zeros((1, 2)), SG.nuisance_params([0], [0]), 32,
                        appearance="Textured"), "appearance"),
        (lambda: synthgaze_render.render_arrays({"lx": np.zeros(1, np.float32)}, 32, appearance="flat"), "appearance"),
        (lambda: synthgaze_render.scene_params(SG.identity([0]), np.zeros((1, 2)), np.zeros((1, 2)),
                                               SG.nuisance_params([0], [0]), appearance=""), "appearance"),
    ],
)
def test_invalid_arguments_raise_value_error_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_pairs_carry_each_images_rendered_eye_masks():
    synth = SynthGaze(size=32, seed=0)
    batch = next(iter(synth.pairs("train", 4, seed=2, eye_masks=True)))
    assert batch["eye_a"].shape == (4, 32, 32) and batch["eye_a"].dtype == tf.float32
    plain = next(iter(synth.pairs("train", 4, seed=2)))
    assert "eye_a" not in plain
    np.testing.assert_array_equal(plain["image_a"], batch["image_a"])  # same pairs, masks added
    rng = np.random.default_rng([0, 2, 0, 0])
    pid, a, b = synth.pair_keys("train", 4, rng)
    masks = synth.render_samples(np.concatenate([pid, pid]), np.concatenate([a, b]), return_masks=True)[3]["eye"]
    np.testing.assert_array_equal(batch["eye_a"].numpy(), masks[:4])
    np.testing.assert_array_equal(batch["eye_b"].numpy(), masks[4:])
    assert float(tf.reduce_sum(batch["eye_a"])) > 4.0  # the eyes are visible in most faces


def test_pairs_carry_the_exact_render_of_a_redirected_to_bs_gaze_or_head():
    synth = SynthGaze(size=32, seed=0)
    batch = next(iter(synth.pairs("train", 4, seed=2, cross=True)))
    plain = next(iter(synth.pairs("train", 4, seed=2)))
    assert "image_cross" not in plain
    np.testing.assert_array_equal(plain["image_a"], batch["image_a"])  # same pairs, the renders added
    assert batch["image_cross"].dtype == tf.uint8 and batch["image_cross"].shape == (4, 32, 32, 3)
    pid, a, _ = synth.pair_keys("train", 4, np.random.default_rng([0, 2, 0, 0]))
    g_a, h_a, g_b, h_b = (batch[k].numpy() for k in ("gaze_a", "head_a", "gaze_b", "head_b"))
    ok_gaze = geometry.within_eye_range(g_b, h_a, EYE_IN_HEAD_RANGE)
    ok_head = geometry.within_eye_range(g_a, h_b, EYE_IN_HEAD_RANGE)
    # even records: a with b's gaze; odd records: a with b's head (each the other way where
    # only that one keeps the eyes within their range); everything else a's own
    head = np.array([not ok_gaze[0] and ok_head[0], ok_head[1] or not ok_gaze[1],
                     not ok_gaze[2] and ok_head[2], ok_head[3] or not ok_gaze[3]])
    np.testing.assert_array_equal(batch["cross_head"].numpy(), head)
    np.testing.assert_array_equal(batch["cross_weight"].numpy(), ok_gaze | ok_head)
    want = synth.render_target(pid, a, gaze=np.where(head[:, None], g_a, g_b), head=np.where(head[:, None], h_b, h_a))
    np.testing.assert_array_equal(batch["image_cross"].numpy(), want)
    assert not np.array_equal(want, batch["image_a"].numpy())


def test_cross_records_take_the_way_a_face_can_show():
    synth = SynthGaze(size=32, seed=0)
    pid, a, b = synth.pair_keys("train", 64, np.random.default_rng(5))
    batch = synth.pair_batch(pid, a, b, cross=True)
    head = batch["cross_head"][:, None] == 1
    ok = geometry.within_eye_range(np.where(head, batch["gaze_a"], batch["gaze_b"]),
                                   np.where(head, batch["head_b"], batch["head_a"]), EYE_IN_HEAD_RANGE)
    assert 0.2 < np.mean(batch["cross_weight"] == 0) < 0.6  # neither way exists for these
    np.testing.assert_array_equal(ok, batch["cross_weight"] == 1)  # the way taken exists wherever one does
    assert 0.3 < batch["cross_head"].mean() < 0.7


# ---------------------------------------------------------------- textured appearance
def _far_from_eyes(*eye_masks, px=6):
    """Pixels farther than `px` from any visible eyeball in any of the masks (N, S, S)."""
    eyes = np.any([m > 0 for m in eye_masks], axis=0)
    return np.stack([ndimage.distance_transform_edt(~e) > px for e in eyes])


def test_plain_is_the_default_appearance_and_textured_keeps_the_geometry():
    pid, idx = SG.persons("test")[:6], np.arange(6) + 3
    default, gaze, head, masks = SG.render_samples(pid, idx, return_masks=True)
    plain = SynthGaze(size=64, seed=3, num_persons=200, appearance="plain").render_samples(pid, idx)[0]
    np.testing.assert_array_equal(plain, default)
    args = (SG.identity(pid), gaze, head, SG.nuisance_params(pid, idx), 64)
    np.testing.assert_array_equal(render(*args, appearance="plain"), default)
    textured, _, _, tmasks = TX.render_samples(pid, idx, return_masks=True)
    assert textured.shape == default.shape and textured.dtype == np.uint8
    assert np.abs(textured.astype(int) - default).mean() > 2.0  # textures, glint, camera effects
    for name in masks:  # the same scene: only the look changes
        np.testing.assert_allclose(tmasks[name], masks[name], atol=0.25)
        assert np.abs(tmasks[name] - masks[name]).mean() < 1e-3


def test_textured_is_deterministic_and_its_render_target_is_exact():
    pid, idx = TX.persons("test")[:5], np.arange(5) + 7
    images, gaze, head = TX.render_samples(pid, idx)
    again = SynthGaze(size=64, seed=3, num_persons=200, appearance="textured").render_samples(pid, idx)[0]
    np.testing.assert_array_equal(again, images)
    np.testing.assert_array_equal(TX.render_target(pid, idx), images)
    np.testing.assert_array_equal(TX.render_target(pid, idx, gaze=gaze, head=head), images)
    assert np.all(np.isfinite(images)) and 40 < images.mean() < 200 and (images == 255).mean() < 0.01


def test_textured_gaze_change_touches_only_the_eyes_and_keeps_the_camera_noise():
    pid, idx = TX.persons("test")[:6], np.arange(6) + 3
    images, gaze, head, masks = TX.render_samples(pid, idx, return_masks=True)
    moved, moved_masks = TX.render_target(pid, idx, gaze=np.zeros_like(gaze), head=head, return_masks=True)
    # the iris pattern changes (it turns with the eye) ...
    iris = masks["iris"] > 0.99
    changed = np.abs(moved.astype(int) - images).max(-1) > 0
    assert (changed & iris).sum() > 0.5 * iris.sum()
    # ... and pixels away from the eyes are the same, sensor noise and colour cast included
    # (they are drawn per sample, so the exact target has the same)
    far = _far_from_eyes(masks["eye"], moved_masks["eye"])
    np.testing.assert_array_equal(moved[far], images[far])
    plain = SG.render_samples(pid, idx)[0]
    assert np.abs(images[far].astype(int) - plain[far]).mean() > 1.0  # where the textured look differs


def test_textured_iris_texture_is_per_person_at_the_same_iris_colour():
    pid = TX.persons("test")[:6]
    ident = TX.identity(pid)
    other = ident.copy()  # other persons: every value the same but the mouth width
    other[:, IDENTITY_FIELDS.index("mouth_width")] += 0.01
    zeros = np.zeros((6, 2), np.float32)
    nuis = TX.nuisance_params(pid, np.zeros(6, int))
    params = {a: [synthgaze_render.scene_params(i, zeros, zeros, nuis, appearance=a) for i in (ident, other)]
              for a in ("plain", "textured")}
    for k in synthgaze_render.CAMERA_PARAMS:  # the same camera effects: only textures differ
        params["textured"][1][k] = params["textured"][0][k]
    out = {a: [synthgaze_render.render_arrays(q, 64, appearance=a) for q in params[a]] for a in params}
    iris = (out["plain"][0][1][..., synthgaze_render.mask_names().index("iris")] > 0.99)
    assert iris.sum(axis=(1, 2)).min() > 10
    np.testing.assert_array_equal(out["plain"][0][0][iris], out["plain"][1][0][iris])  # plain: one iris per colour
    diff = np.abs(out["textured"][0][0].astype(int) - out["textured"][1][0]).mean(-1)
    per_person = np.array([d[m].mean() for d, m in zip(diff, iris)])
    assert np.all(per_person > 0.5) and per_person.mean() > 3.0, per_person


def test_textured_iris_pattern_lives_in_the_eyeball_frame():
    # the eyeball frame is the minimal rotation taking the rest axis (0, 0, -1) to the gaze:
    # orthonormal, right-handed, the head axes when the eyes look straight ahead
    pid = np.zeros(3, int)
    gaze = np.radians(np.array([[0, 0], [20, -30], [-25, 15]], np.float32))
    p = synthgaze_render.scene_params(TX.identity(pid), gaze, np.zeros((3, 2), np.float32),
                                      TX.nuisance_params(pid, 0), appearance="textured")
    e1 = np.stack([p["e1x"], p["e1y"], p["e1z"]], -1)
    e2 = np.stack([p["e2x"], p["e2y"], p["e2z"]], -1)
    g = np.stack([p["ghx"], p["ghy"], p["ghz"]], -1)
    np.testing.assert_allclose(np.cross(e1, e2), -g, atol=1e-5)  # (e1, e2, -g) right-handed
    np.testing.assert_allclose(np.einsum("ni,ni->n", e1, e2), 0, atol=1e-5)
    np.testing.assert_allclose(e1[0], [1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(e2[0], [0, 1, 0], atol=1e-6)
    # rolling the eyeball about its optical axis turns the iris pattern: iris pixels change,
    # nothing farther than the blur's reach from the eyeball does
    rolled = dict(p)
    for k in ("e1x", "e1y", "e1z", "e2x", "e2y", "e2z"):
        rolled[k] = -p[k]
    (a, masks), (b, _) = (synthgaze_render.render_arrays(q, 64, appearance="textured") for q in (p, rolled))
    eye = masks[..., synthgaze_render.mask_names().index("eye")] > 0
    iris = masks[..., synthgaze_render.mask_names().index("iris")] > 0.99
    changed = np.abs(a.astype(int) - b).max(-1) > 0
    assert (changed & iris).sum() > 0.3 * iris.sum()
    near = np.stack([ndimage.binary_dilation(e, iterations=1) for e in eye])
    assert not np.any(changed & ~near)


def test_textured_glint_is_visible_and_follows_the_light():
    pid = TX.persons("test")[:6]
    zeros = np.zeros((6, 2), np.float32)
    nuis = TX.nuisance_params(pid, np.zeros(6, int))
    nuis[:, NUISANCE_FIELDS.index("light_elevation")] = 0.3
    rows = {}
    for azimuth in (-0.7, 0.7):
        nuis[:, NUISANCE_FIELDS.index("light_azimuth")] = azimuth
        for a in ("plain", "textured"):
            img, masks = render(TX.identity(pid), zeros, zeros, nuis, 128, return_masks=True, appearance=a)
            lum = img.mean(-1)
            right = (masks["iris"] > 0.5) & (np.arange(128) > 64)[None, None]  # the image-right iris
            peak = np.array([lum[i][right[i]].max() - np.median(lum[i][right[i]]) for i in range(6)])
            col = np.array([np.unravel_index(np.where(right[i], lum[i], -1).argmax(), (128, 128))[1] for i in range(6)])
            rows[a, azimuth] = peak, col
    assert np.all(rows["textured", 0.7][0] > 60) and np.all(rows["plain", 0.7][0] < 60)
    # light from the image right (positive azimuth) puts the glint further right
    assert np.all(rows["textured", 0.7][1] > rows["textured", -0.7][1])


def test_textured_iris_colours_are_mostly_brown():
    ident = SynthGaze(num_persons=4000).identity(np.arange(4000))
    outer, inner = synthgaze_render.iris_colours(ident[:, IDENTITY_FIELDS.index("iris_hue")],
                                                 ident[:, IDENTITY_FIELDS.index("iris_dark")])
    r, g, b = outer.T
    brown = (r > g) & (g > b) & (g < 0.7 * r)
    blue_grey = b >= r
    hazel_green = ~brown & ~blue_grey & (g >= 0.7 * r)
    assert abs(brown.mean() - 0.6) < 0.03 and abs(blue_grey.mean() - 0.2) < 0.03
    assert abs(hazel_green.mean() - 0.2) < 0.03
    assert np.median(outer[brown].mean(1)) < 0.2  # dark brown the most common
    assert np.all((outer > 0) & (outer < 1)) and np.all((inner > 0) & (inner < 1))


def test_textured_datasets_carry_their_appearance_through(tmp_path):
    synth = SynthGaze(size=32, seed=2, num_persons=12, samples_per_person=3, appearance="textured")
    path = str(tmp_path / "textured.h5")
    synth.write_h5(path, "train")
    train = synth.persons("train")
    with h5py.File(path, "r") as f:
        assert f.attrs["appearance"] == "textured"
        images = synth.render_samples(np.full(3, train[0]), np.arange(3))[0]
        np.testing.assert_array_equal(f[f"{train[0]:06d}"]["pixels"][()], images)
    pid, a, b = synth.pair_keys("train", 4, np.random.default_rng(1))
    batch = synth.pair_batch(pid, a, b, cross=True)
    np.testing.assert_array_equal(batch["image_b"], synth.render_target(pid, b))
    plain = SynthGaze(size=32, seed=2, num_persons=12, samples_per_person=3).pair_batch(pid, a, b)
    assert np.abs(plain["image_a"].astype(int) - batch["image_a"]).mean() > 1.0
