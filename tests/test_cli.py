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
