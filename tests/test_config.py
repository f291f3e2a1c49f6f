"""The configuration dataclasses: whole recipes as presets, checks, the dict layout of
config.json (older runs' included) and the model config stored in .keras files."""

import dataclasses
import json
import os

import pytest

from tfredirect.config import (GanSchedule, LossConfig, ModelConfig, SwapConfig, TRAIN_PRESETS, TrainConfig,
                               migrate, preset)
from tfredirect.config_flags import flag_fields

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# tools/train.py's hand-written flag defaults and tools/flags/*.flags before the flags were
# derived from the dataclasses (commit aedad31): the presets must give exactly these runs.
OLD_FLAG_DEFAULTS = dict(
    preset="demo", decoder="rgb", precision="float32", flow_stride=2, data="synthgaze", data_path="",
    synth_nuisance="person", min_angle_deg=0.0, batch_size=16, steps=3000, g_lr=1.5e-3, d_lr=2e-4,
    lr_schedule="cosine", w_rec=200.0, w_label=20.0, w_orth=1.0, w_adv=1.0, w_consistency=0.0, w_feature=0.0,
    w_eye=0.0, w_flow_smooth=0.0, consistency_estimator="", consistency_estimator_steps=2500, gan_start=0,
    gan_warmup=1000, gaze_prob=0.5, id_swap_prob=1.0, seed=0, out_dir="runs/demo", strategy="default",
    both_prob=0.0,  # added later (the "both" swap kind), off by default so the old runs are unchanged
    eye_region="fixed",  # added later (per-image rendered eye masks), the fixed map as before
    w_cross=0.0,  # added later (the SynthGaze cross-redirection term), off by default
    w_keep=0.0,  # added later (the keep term: a gaze-only redirection keeps the face outside the eyes), off by default
    w_paint=0.0,  # added later (the paint term: the warping decoders' colour share), off by default
    synth_appearance="plain",  # added later (textured SynthGaze), the flat-colour renders as before
    gaze_flow_mm=0.0, w_eyeball=0.0,  # added later (the geometric gaze flow and its eyeball map), off by default
    eyeball="added",  # added later (how the geometric gaze flow moves the eyeballs), as the flow first did
    checkpoint_every=500, keep_checkpoints=3, log_every=25, val_batches=4, resume=False, overwrite=False, verbose=1,
)
OLD_FLAGFILES = {
    "tiny": dict(preset="tiny", data="synthgaze", batch_size=16, steps=200, checkpoint_every=100, gan_warmup=50,
                 out_dir="runs/tiny"),
    # the demo recipe changed on 2026-11-26 (the ablation's best arm): bfloat16, feature and eye terms, "both" kind,
    # then (2026-11-26, second change) the warp decoder with its flow smoothness, then the keep term
    "demo": dict(preset="demo", data="synthgaze", batch_size=16, steps=3000, checkpoint_every=500, g_lr=1.5e-3,
                 d_lr=2e-4, gan_start=1500, gan_warmup=1000, w_consistency=30.0, consistency_estimator="auto",
                 out_dir="runs/demo", precision="mixed_bfloat16", w_feature=30.0, w_eye=200.0, both_prob=0.5,
                 decoder="warp", w_flow_smooth=1.0, w_keep=200.0),
    "base": dict(preset="base", data="synthgaze", batch_size=64, steps=100000, checkpoint_every=1000, g_lr=2e-4,
                 d_lr=2e-4, gan_start=5000, gan_warmup=10000, out_dir="runs/base"),
}

# config.json of a run made before the loss section was split (tfredirect/pretrained's card)
OLD_LAYOUT = {
    "out_dir": "runs/demo4k", "preset": "demo", "data": "synthgaze", "data_path": "", "synth_nuisance": "person",
    "min_angle_deg": 0.0, "batch_size": 16, "steps": 4000, "g_lr": 0.0015, "d_lr": 0.0002, "lr_schedule": "cosine",
    "decoder": "rgb", "flow_stride": 2, "precision": "mixed_bfloat16",
    "loss": {"rec": 200.0, "label": 20.0, "orth": 1.0, "adv": 1.0, "consistency": 30.0, "feature": 30.0,
             "eye": 200.0, "flow_smooth": 0.0, "gan_start": 1500, "gan_warmup": 1000, "gaze_prob": 0.5,
             "id_swap_prob": 1.0},
    "consistency_estimator": "runs/cest/estimator.keras", "consistency_estimator_steps": 2500, "seed": 0,
    "strategy": "default", "checkpoint_every": 500, "keep_checkpoints": 3, "log_every": 25, "val_batches": 4,
    "resume": False, "overwrite": False, "verbose": 2, "lr_segments": [[0, 4000]],
}


def flag_view(cfg):
    """{flag name: value} of a TrainConfig, through the derived flag names."""
    out = {}
    for name, path, _ in flag_fields(TrainConfig):
        value = cfg
        for key in path:
            value = getattr(value, key)
        out[name] = value
    return out


@pytest.mark.parametrize("name", sorted(OLD_FLAGFILES))
def test_preset_is_exactly_the_old_flagfile_run(name):
    expected = {**OLD_FLAG_DEFAULTS, **OLD_FLAGFILES[name]}
    got = flag_view(TrainConfig.from_preset(name))
    assert set(got) == set(expected)  # every old flag name is still a flag, and no other
    for flag in sorted(expected):
        assert got[flag] == expected[flag] and type(got[flag]) is type(expected[flag]), flag
    assert TrainConfig.from_preset(name).lr_segments == []


def test_demo_preset_field_by_field():
    demo = TrainConfig.from_preset("demo")
    assert (demo.preset, demo.batch_size, demo.steps, demo.checkpoint_every) == ("demo", 16, 3000, 500)
    assert (demo.g_lr, demo.d_lr, demo.out_dir, demo.consistency_estimator) == (1.5e-3, 2e-4, "runs/demo", "auto")
    assert demo.gan == GanSchedule(start=1500, warmup=1000)
    assert demo.loss == LossConfig(consistency=30.0, feature=30.0, eye=200.0, flow_smooth=1.0, keep=200.0)
    assert demo.swap == SwapConfig(both_prob=0.5)
    assert demo.precision == "mixed_bfloat16" and demo.eye_region == "fixed"
    assert demo.model_config() == preset("demo", decoder="warp") and demo.model_config().flow_stride == 2
    assert TrainConfig.from_preset("base").model_config().image_size == 128
    assert set(TRAIN_PRESETS) == {"tiny", "demo", "base"}


def test_preset_overrides_merge_sections():
    cfg = TrainConfig.from_preset("demo", loss={"eye": 50.0}, gan={"start": 10}, steps=6000)
    assert cfg.loss == LossConfig(consistency=30.0, feature=30.0, eye=50.0, flow_smooth=1.0, keep=200.0)  # others kept
    assert cfg.gan == GanSchedule(start=10, warmup=1000) and cfg.steps == 6000
    assert cfg.replace(swap={"gaze_prob": 1.0}).swap == SwapConfig(gaze_prob=1.0, id_swap_prob=1.0, both_prob=0.5)
    assert TrainConfig.from_preset("demo", loss=LossConfig(rec=1.0)).loss == LossConfig(rec=1.0)
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        TrainConfig.from_preset("huge")


def test_to_dict_round_trip_through_json():
    cfg = TrainConfig.from_preset("tiny", loss={"eye": 5.0}, swap={"id_swap_prob": 0.25}, lr_segments=[[0, 200]])
    d = json.loads(json.dumps(cfg.to_dict()))
    assert d["loss"]["eye"] == 5.0 and d["swap"] == {"gaze_prob": 0.5, "id_swap_prob": 0.25, "both_prob": 0.0}
    assert d["gan"] == {"start": 0, "warmup": 50}
    assert TrainConfig.from_dict(d) == cfg


def test_old_layout_migrates():
    moved = migrate(OLD_LAYOUT)
    assert moved["loss"] == {"rec": 200.0, "label": 20.0, "orth": 1.0, "adv": 1.0, "consistency": 30.0,
                             "feature": 30.0, "eye": 200.0, "flow_smooth": 0.0}
    assert moved["gan"] == {"start": 1500, "warmup": 1000}
    assert moved["swap"] == {"gaze_prob": 0.5, "id_swap_prob": 1.0}
    assert OLD_LAYOUT["loss"]["gan_start"] == 1500  # the input is not changed
    cfg = TrainConfig.from_dict(OLD_LAYOUT)
    assert cfg.gan == GanSchedule(1500, 1000) and cfg.loss.eye == 200.0 and cfg.precision == "mixed_bfloat16"
    assert migrate(cfg.to_dict()) == cfg.to_dict()  # today's layout passes unchanged
    assert migrate({"preset": "demo"}) == {"preset": "demo"}  # partial dicts too


def test_shipped_model_card_loads():
    from tfredirect import pretrained

    card = pretrained.card("synthgaze-64")
    cfg = TrainConfig.from_dict(card["train_config"])
    # the demo recipe (warp decoder) run for 10,000 steps
    assert (cfg.steps, cfg.gan.start, cfg.loss.feature, cfg.loss.flow_smooth, cfg.swap.both_prob, cfg.precision) == (
        10000, 1500, 30.0, 1.0, 0.5, "mixed_bfloat16")
    assert ModelConfig.from_dict(card["model_config"]) == cfg.model_config() == preset("demo", decoder="warp")
    assert card["evaluation"]["targets"] == "per_way" and card["evaluation"]["redirection"]["both"]["pairs"] == 256


def test_model_config_dict_is_unchanged():
    """The dict stored in .keras files: these keys, lists for tuples."""
    d = preset("tiny").to_dict()
    assert list(d) == ["image_size", "channels", "face_dim", "split_dim", "id_dim", "rot_dim", "head_hidden",
                       "groups", "disc_channels", "decoder", "flow_stride", "separable_stages", "upsample",
                       "camera_distance_mm", "gaze_flow_mm", "eyeball"]
    assert d["channels"] == [16, 32, 64] and ModelConfig.from_dict(d) == preset("tiny")
    # a model saved before the eyeball field moves its eyeballs as the geometric flow first did
    older = {k: v for k, v in preset("tiny", decoder="move", gaze_flow_mm=13.5).to_dict().items() if k != "eyeball"}
    assert ModelConfig.from_dict(older).eyeball == "added"


def test_a_run_records_its_data_camera_distance():
    from tfredirect.config import CAMERA_DISTANCE_MM, run_model_config
    from tfredirect.data import synthgaze_render

    assert CAMERA_DISTANCE_MM["synthgaze"] == synthgaze_render.DISTANCE == 720.0
    assert TrainConfig(out_dir="x").model_config().camera_distance_mm == 720.0
    assert TrainConfig(out_dir="x", data="xgaze", data_path="a.h5").model_config().camera_distance_mm == 600.0
    assert run_model_config("tiny", "sted", decoder="move") == preset("tiny", decoder="move", camera_distance_mm=600.0)
    # a model stored before the field existed was trained on SynthGaze: it reads back at 720 mm
    old = {k: v for k, v in preset("tiny").to_dict().items() if k != "camera_distance_mm"}
    assert ModelConfig.from_dict(old).camera_distance_mm == 720.0
    with pytest.raises(ValueError, match="camera_distance_mm must be positive"):
        preset("tiny", camera_distance_mm=0.0)


@pytest.mark.parametrize("build, message", [
    (lambda: LossConfig(rec=-1.0), "rec must be >= 0.0, got -1.0"),
    (lambda: SwapConfig(gaze_prob=1.5), r"gaze_prob must be in \[0.0, 1.0\], got 1.5"),
    (lambda: GanSchedule(warmup=-1), "warmup must be >= 0"),
    (lambda: TrainConfig(out_dir="x", g_lr=0.0), "g_lr must be positive"),
    (lambda: TrainConfig(out_dir="x", verbose=3), r"verbose must be in \[0, 2\]"),
    (lambda: TrainConfig(out_dir="x", data="imagenet"), "data must be one of synthgaze, xgaze, sted, folder"),
    (lambda: TrainConfig(out_dir="x", decoder="warp", flow_stride=3), "flow_stride"),
    (lambda: TrainConfig.from_dict({"out_dir": "x", "loss": {"rce": 1.0}}), "unknown LossConfig field.*loss.rce"),
    (lambda: TrainConfig.from_dict({"out_dir": "x", "w_rec": 1.0}), "unknown TrainConfig field.*w_rec"),
    (lambda: TrainConfig.from_dict({"out_dir": "x", "gan": 5}), "gan must be a mapping"),
])
def test_bad_values_are_refused_by_name(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_from_json_names_the_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=str(path)):
        TrainConfig.from_json(str(path))
    path.write_text(json.dumps({**OLD_LAYOUT, "loss": {"bogus": 1}}))
    with pytest.raises(ValueError, match=f"{path}: unknown LossConfig field.*loss.bogus"):
        TrainConfig.from_json(str(path))


def test_every_field_is_documented_and_a_flag():
    names = [name for name, _, _ in flag_fields(TrainConfig)]
    assert len(names) == len(set(names))
    for name, _, field in flag_fields(TrainConfig):
        assert field.metadata.get("help"), name
    top = {f.name for f in dataclasses.fields(TrainConfig)} - {"loss", "swap", "gan", "lr_segments"}
    assert top <= set(names) and "lr_segments" not in names


def test_cross_redirection_term_needs_synthgaze():
    assert TrainConfig.from_preset("tiny", loss={"cross": 200.0}).loss.cross == 200.0
    with pytest.raises(ValueError, match="--w_cross.*--data=xgaze"):
        TrainConfig.from_preset("tiny", loss={"cross": 1.0}, data="xgaze", data_path="x.h5")


def test_rendered_eye_region_needs_synthgaze():
    assert TrainConfig.from_preset("tiny", eye_region="rendered").eye_region == "rendered"
    with pytest.raises(ValueError, match="eye_region=rendered.*--data=xgaze"):
        TrainConfig.from_preset("tiny", eye_region="rendered", data="xgaze", data_path="x.h5")


def test_eyeball_term_needs_the_geometric_flow_and_rendered_eyes():
    cfg = TrainConfig.from_preset("tiny", decoder="move", gaze_flow_mm=13.5, eye_region="rendered",
                                  loss={"eyeball": 20.0})
    assert cfg.loss.eyeball == 20.0 and cfg.model_config().gaze_flow_mm == 13.5
    with pytest.raises(ValueError, match="--w_eyeball.*--gaze_flow_mm=0.0"):
        TrainConfig.from_preset("tiny", decoder="move", eye_region="rendered", loss={"eyeball": 20.0})
    with pytest.raises(ValueError, match="--w_eyeball.*--eye_region=fixed"):
        TrainConfig.from_preset("tiny", decoder="move", gaze_flow_mm=13.5, loss={"eyeball": 20.0})
