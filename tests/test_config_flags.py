"""tools/train.py's flags, derived from TrainConfig: flagfiles give the presets, flags
override them (sections by their prefixed names), bad values are refused naming the flag, and
a run repeats from its config.json."""

import json
import os

import pytest
from absl import flags

from tfredirect import config_flags
from tfredirect.config import GanSchedule, LossConfig, SwapConfig, TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse(*args):
    """The TrainConfig of train.py's flags parsed from `args` (a fresh FlagValues)."""
    values = flags.FlagValues()
    config_flags.define_train_flags(values)
    values(["train.py", *args])
    return config_flags.train_config(values)


@pytest.mark.parametrize("name", ["tiny", "demo", "base"])
def test_flagfile_gives_the_preset(name):
    assert parse(f"--flagfile={os.path.join(ROOT, 'tools', 'flags', name + '.flags')}") == \
        TrainConfig.from_preset(name)


def test_eyes_flagfile_is_the_demo_recipe_for_real_photos():
    cfg = parse(f"--flagfile={os.path.join(ROOT, 'tools', 'flags', 'eyes.flags')}")
    demo = TrainConfig.from_preset("demo")
    assert (cfg.steps, cfg.gan, cfg.swap, cfg.g_lr) == (demo.steps, demo.gan, demo.swap, demo.g_lr)
    assert (cfg.synth_appearance, cfg.decoder, cfg.gaze_flow_mm, cfg.eyeball, cfg.eye_region) == \
        ("textured", "move", 13.5, "own", "rendered")
    assert (cfg.loss.paint, cfg.loss.eyeball, cfg.out_dir) == (20.0, 20.0, "runs/eyes")
    assert cfg.model_config().eyeball == "own"


def test_no_flags_is_the_demo_recipe_and_preset_picks_a_whole_recipe():
    assert parse() == TrainConfig.from_preset("demo")
    tiny = parse("--preset=tiny")
    assert tiny == TrainConfig.from_preset("tiny") and tiny.out_dir == "runs/tiny" and tiny.gan.warmup == 50


def test_flags_override_the_recipe_by_their_old_names():
    demo = os.path.join(ROOT, "tools", "flags", "demo.flags")
    cfg = parse(f"--flagfile={demo}", "--steps=6000", "--w_eye=200", "--w_feature=30", "--gan_start=750",
                "--gaze_prob=1", "--id_swap_prob=0", "--precision=mixed_bfloat16", "--out_dir=runs/x", "--resume")
    assert cfg.loss == LossConfig(consistency=30.0, eye=200.0, feature=30.0, flow_smooth=1.0, keep=200.0)
    assert cfg.gan == GanSchedule(start=750, warmup=1000) and cfg.swap == SwapConfig(1.0, 0.0, both_prob=0.5)
    assert (cfg.steps, cfg.precision, cfg.out_dir, cfg.resume) == (6000, "mixed_bfloat16", "runs/x", True)
    # a flag given explicitly wins even when it equals the demo default shown in --help
    assert parse("--preset=tiny", "--steps=3000", "--checkpoint_every=500").steps == 3000


@pytest.mark.parametrize("arg, message", [
    ("--w_rec=-1", "flag --w_rec=-1.0: must be >= 0.0, got -1.0"),
    ("--gaze_prob=2", r"flag --gaze_prob=2.0: must be in \[0.0, 1.0\], got 2.0"),
    ("--gan_warmup=-5", "flag --gan_warmup=-5: must be >= 0, got -5"),
    ("--g_lr=0", "flag --g_lr=0.0: must be positive"),
    ("--batch_size=0", "flag --batch_size=0: must be >= 1"),
    ("--w_eye=abc", "flag --w_eye=abc: could not convert string to float"),
    ("--steps=1.5", "flag --steps=1.5"),
    ("--preset=huge", "flag --preset=huge: value should be one of"),
    ("--strategy=tpu", "flag --strategy=tpu: value should be one of"),
])
def test_bad_values_are_refused_naming_the_flag(arg, message):
    with pytest.raises(flags.IllegalFlagValueError, match=message):
        parse(arg)


def test_unknown_flags_are_refused():
    with pytest.raises(flags.UnrecognizedFlagError, match="w_reconstruction"):
        parse("--w_reconstruction=1")
    with pytest.raises(flags.UnrecognizedFlagError, match="lr_segments"):
        parse("--lr_segments=1")


def test_cross_field_errors_name_the_fields():
    with pytest.raises(ValueError, match=r"steps \(50\) must be a multiple of checkpoint_every \(100\)"):
        parse("--preset=tiny", "--steps=50")


def test_a_run_repeats_from_its_config_json(tmp_path):
    run = TrainConfig.from_preset("tiny", loss={"eye": 3.0}, seed=4, resume=True, lr_segments=[[0, 200]])
    path = tmp_path / "config.json"
    path.write_text(json.dumps(run.to_dict()))
    again = parse(f"--config_json={path}", "--out_dir=runs/again", "--steps=400")
    assert again == TrainConfig.from_preset("tiny", loss={"eye": 3.0}, seed=4, out_dir="runs/again", steps=400)
    with pytest.raises(ValueError, match="--config_json and --preset exclude each other"):
        parse(f"--config_json={path}", "--preset=demo")
    # an older run's layout (schedule and swap probabilities inside `loss`) repeats too
    old = {**run.to_dict(), "loss": {**run.to_dict()["loss"], "gan_start": 7, "gan_warmup": 9, "gaze_prob": 0.25,
                                     "id_swap_prob": 0.5}}
    del old["gan"], old["swap"]
    path.write_text(json.dumps(old))
    cfg = parse(f"--config_json={path}")
    assert cfg.gan == GanSchedule(7, 9) and cfg.swap == SwapConfig(0.25, 0.5) and not cfg.resume
