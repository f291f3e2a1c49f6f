"""tools/train_estimator.py, tools/evaluate.py and tools/downstream.py derive their flags from
their config dataclasses (tfredirect.config_flags): each tool's flags are exactly its config's
fields with their defaults, the parsed flags build the config, and a bad value is refused at
parse time naming the field."""

import dataclasses
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from absl import flags

from tfredirect import config_flags
from tfredirect.config import DATA_SOURCES, EstimatorConfig
from tfredirect.experiments.configs import DownstreamConfig, EvaluationConfig

# tool: (config, the tool's flags that are not fields: aliases)
TOOLS = {"train_estimator": (EstimatorConfig, set()), "evaluate": (EvaluationConfig, set()),
         "downstream": (DownstreamConfig, {"checkpoint"})}
# one bad value per tool, and what the tool says
BAD = {"train_estimator": (["--steps=0"], "flag --steps=0: must be >= 1, got 0"),
       "evaluate": (["--model=m.keras", "--nuisance=sky"], "flag --nuisance=sky: value should be one of <person|image>"),
       "downstream": (["--max_judged_error_deg=-1"], "flag --max_judged_error_deg=-1.0: must be in [0.0, inf), got -1.0")}


def _typed(text, field):
    """A default as --helpxml prints it, read back as the field's type."""
    if field.type is tuple:
        return tuple(float(v) for v in text.split(","))
    return {bool: lambda t: t == "true", int: int, float: float, str: str}[field.type](text)


def parse(cls, *args):
    """The `cls` of flags derived from it, parsed from `args` (a fresh FlagValues)."""
    values = flags.FlagValues()
    config_flags.define_flags(cls, values)
    values(["tool.py", *args])
    return config_flags.config_from_flags(cls, values)


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_a_tools_flags_are_its_configs_fields(tool, name):
    cls, extra = TOOLS[name]
    res = tool(name, "--helpxml")
    xml = ET.fromstring(res.stdout[res.stdout.index("<?xml"):])
    own = {f.findtext("name"): f for f in xml.iter("flag") if f.findtext("file").endswith(f"tools/{name}.py")}
    fields = {flag: field for flag, _, field in config_flags.flag_fields(cls)}
    assert set(own) == set(fields) | extra
    for flag, field in fields.items():
        text = own[flag].findtext("default")
        if field.default is dataclasses.MISSING:  # a required flag
            assert not text and own[flag].findtext("current") == "None", flag
        else:
            assert _typed(text, field) == field.default, flag
        choices = tuple(e.text for e in own[flag].findall("enum_value"))
        assert choices == (field.metadata["choices"] if field.type is str and "choices" in field.metadata else ()), flag
        enum = f"<{'|'.join(choices)}>: " if choices else ""
        assert own[flag].findtext("meaning") == enum + field.metadata["help"], flag
    assert tuple(e.text for e in own["data"].findall("enum_value")) == DATA_SOURCES


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_a_bad_value_is_refused_naming_the_flag(tool, name):
    args, message = BAD[name]
    res = tool(name, *args)
    assert res.returncode == 1 and "FATAL Flags parsing error: " + message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_parsed_flags_build_the_config(tmp_path):
    assert parse(EstimatorConfig) == EstimatorConfig()
    assert parse(EstimatorConfig, "--size=32", "--lr=0.01", "--data=sted", "--data_path=a.h5", "--overwrite") == \
        EstimatorConfig(size=32, lr=0.01, data="sted", data_path="a.h5", overwrite=True)
    assert parse(EvaluationConfig, "--model=m.keras") == EvaluationConfig(model="m.keras")
    flagfile = tmp_path / "ds.flags"
    flagfile.write_text("--gaze_range_deg=30,35\n--bins_deg=5,15\n--target_kind=gaze\n")
    cfg = parse(DownstreamConfig, f"--flagfile={flagfile}", "--verbose=0")
    assert cfg == DownstreamConfig(gaze_range_deg=(30.0, 35.0), bins_deg=(5.0, 15.0), target_kind="gaze", verbose=0)


@pytest.mark.parametrize("cls, args, message", [
    (EstimatorConfig, ["--max_gaze_deg=90"], r"flag --max_gaze_deg=90.0: must be in \[0.0, 90.0\), got 90.0"),
    (EstimatorConfig, ["--size=48"], "flag --size=48: must be one of 32, 64, 128, got 48"),
    (EvaluationConfig, [], "Flag --model must have a value other than None"),
    (EvaluationConfig, ["--model=m", "--pairs=0"], "flag --pairs=0: must be >= 1, got 0"),
    (DownstreamConfig, ["--head_range_deg=30,95"], r"flag --head_range_deg=\['30', '95'\]: must be in \(0, 90.0\]"),
    (DownstreamConfig, ["--bins_deg=10,x"], "expected comma-separated numbers, got '10,x'"),
    (DownstreamConfig, ["--max_gaze_deg=nan"], r"flag --max_gaze_deg=nan: must be in \(0, 90.0\)"),
])
def test_bad_flag_values_are_refused_naming_the_flag(cls, args, message):
    with pytest.raises(flags.IllegalFlagValueError, match=message):
        parse(cls, *args)


@pytest.mark.parametrize("build, message", [
    (lambda: EstimatorConfig(lr=0.0), "lr must be positive"),
    (lambda: EstimatorConfig(data="xgaze"), "--data=xgaze needs --data_path"),
    (lambda: EvaluationConfig(model="m", split="all"), "--split: SynthGaze takes train, val or test"),
    (lambda: EvaluationConfig(model="m", data="sted", data_path="a.h5", split="test"), "real data"),
    (lambda: EvaluationConfig(model="m", verbose=3), r"verbose must be in \[0, 2\]"),
    (lambda: DownstreamConfig(gaze_range_deg=(40.0,)), "gaze_range_deg must be 2 values, got 1"),
    (lambda: DownstreamConfig(per_image=1.5), "per_image must be an integer"),
])
def test_the_configs_check_their_fields_by_name(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_the_config_modules_load_no_tensorflow():
    """The tools define their flags from these modules before anything heavy is loaded."""
    code = ("import sys, tfredirect.config_flags, tfredirect.experiments.configs; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
