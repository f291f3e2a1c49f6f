"""tfredirect.cli: parse-time flag checks with the parser's own message."""

import pytest
from absl import flags

from tfredirect import cli


def _parse_pair(value, name):
    if len(value) != 2:
        raise ValueError(f"--{name}={','.join(value)}: expected two numbers")
    return [float(v) for v in value]


def test_check_flag_reports_the_parsers_message_and_skips_unset_flags():
    fv = flags.FlagValues()
    flags.DEFINE_list("pair", None, "Two numbers.", flag_values=fv)
    cli.check_flag("pair", _parse_pair, flag_values=fv)
    fv(["prog"])  # unset: not checked
    assert fv.pair is None
    fv(["prog", "--pair=1,2"])
    assert fv.pair == ["1", "2"]
    fv.unparse_flags()
    with pytest.raises(flags.IllegalFlagValueError, match=r"--pair=1,2,3: expected two numbers$"):
        fv(["prog", "--pair=1,2,3"])


def test_target_flags_defaults_and_parse_time_checks():
    fv = flags.FlagValues()
    cli.define_target_flags(fv)
    fv(["prog"])
    assert cli.parse_range(fv.gaze_range_deg, "gaze_range_deg") == (40.0, 50.0)
    assert cli.parse_range(fv.head_range_deg, "head_range_deg") == (30.0, 45.0)
    assert (fv.bandwidth_deg, fv.max_eye_in_head_deg) == (0.0, 35.0)
    for args, message in [(["--gaze_range_deg=40"], r"--gaze_range_deg=40: expected PITCH,YAW in degrees"),
                          (["--head_range_deg=30,95"], r"--head_range_deg=30,95: expected PITCH,YAW"),
                          (["--head_range_deg=a,b"], r"--head_range_deg=a,b: expected PITCH,YAW"),
                          (["--bandwidth_deg=-1"], r"flag --bandwidth_deg=-1: .*range \[0.0, 90.0\]"),
                          (["--max_eye_in_head_deg=91"], r"flag --max_eye_in_head_deg=91: .*range \[0.0, 90.0\]")]:
        fv.unparse_flags()
        with pytest.raises(flags.IllegalFlagValueError, match=message):
            fv(["prog", *args])
