"""Every tool refuses out-of-range and unknown flag values at parse time, naming the flag, as
absl does for enum flags (issue 11, item 16)."""

import glob
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CASES = [
    ("evaluate", ["--model=m.keras", "--pairs=0"], "flag --pairs=0: must be >= 1, got 0"),
    ("evaluate", ["--model=m.keras", "--persons=-2"], "flag --persons=-2: must be >= 1, got -2"),
    ("evaluate", ["--model=m.keras", "--pairs_per_person=0"], "flag --pairs_per_person=0"),
    ("evaluate", ["--model=m.keras", "--examples=-1"], "flag --examples=-1: must be >= 0, got -1"),
    ("evaluate", ["--model=m.keras", "--split=all"], "--split: SynthGaze takes train, val or test"),
    ("evaluate", ["--model=m.keras", "--data=sted", "--split=test"], "real data (xgaze, sted, folder) all, train or val"),
    ("evaluate", ["--model=m.keras", "--data=bogus"], "flag --data=bogus: value should be one of"),
    ("export", ["--checkpoint=m.keras", "--out_dir=o", "--formats=saved_model,coreml"],
     "flag --formats=saved_model,coreml: expected a comma-separated list of saved_model, tflite, onnx"),
    ("export", ["--checkpoint=m.keras", "--out_dir=o", "--quantize=int4"], "flag --quantize=int4: expected"),
    ("export", ["--checkpoint=m.keras", "--out_dir=o", "--opset=13"], "flag --opset=13: 13 is not integer >= 17"),
    ("export", ["--checkpoint=m.keras", "--out_dir=o", "--representative_count=0"], "flag --representative_count=0"),
    ("export", ["--checkpoint=m.keras", "--out_dir=o", "--check_images=-1"], "flag --check_images=-1"),
    ("train", ["--w_rec=-1"], "flag --w_rec=-1.0: must be >= 0.0, got -1.0"),
    ("train", ["--gaze_prob=1.5"], "flag --gaze_prob=1.5: must be in [0.0, 1.0], got 1.5"),
    ("train", ["--gan_start=-1"], "flag --gan_start=-1: must be >= 0, got -1"),
    ("train", ["--steps=0"], "flag --steps=0: must be >= 1, got 0"),
    ("train", ["--w_eye=abc"], "flag --w_eye=abc: could not convert string to float"),
    ("train", ["--preset=huge"], "flag --preset=huge: value should be one of"),
    ("train", ["--flagfile=tools/flags/demo.flags", "--w_reconstruction=1"], "Unknown command line flag 'w_reconstruction'"),
    ("train_estimator", ["--size=48"], "flag --size=48: must be one of 32, 64, 128, got 48"),
    ("train_estimator", ["--steps=0"], "flag --steps=0"),
    ("train_estimator", ["--batch_size=0"], "flag --batch_size=0"),
    ("train_estimator", ["--lr=0"], "flag --lr=0.0: must be positive, got 0.0"),
    ("downstream", ["--checkpoint=m.keras", "--per_image=0"], "flag --per_image=0"),
    ("downstream", ["--checkpoint=m.keras", "--samples=0"], "flag --samples=0"),
    ("downstream", ["--checkpoint=m.keras", "--max_gaze_deg=95"], "flag --max_gaze_deg=95.0: must be in (0, 90.0), got 95.0"),
    ("downstream", ["--checkpoint=m.keras", "--target_kind=eyes"], "flag --target_kind=eyes: value should be one of"),
    ("downstream", ["--checkpoint=m.keras", "--gaze_range_deg=40"], "flag --gaze_range_deg=['40']: must be 2 values"),
    ("downstream", ["--checkpoint=m.keras", "--bins_deg=10,x"], "flag --bins_deg=['10', 'x']: expected comma-separated"),
]


@pytest.mark.parametrize("name, args, message", CASES, ids=[f"{c[0]}{c[1][-1]}" for c in CASES])
def test_bad_flag_values_are_refused_naming_the_flag(tool, tmp_path, name, args, message):
    result = tool(name, *args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FATAL Flags parsing error: " in result.stderr and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


TOOLS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "tools", "*.py")))


@pytest.mark.slow
@pytest.mark.parametrize("name", TOOLS)
def test_every_tool_takes_verbose_from_0_to_2(tool, name):
    """`--verbose` is one flag across the tools (2 lets TensorFlow's start-up lines through):
    each tool knows it and refuses a value above 2, naming it."""
    result = tool(name, "--verbose=3")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "flag --verbose=3" in result.stderr, result.stderr
