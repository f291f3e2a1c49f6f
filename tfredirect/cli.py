"""Command-line helpers shared by the tools (absl flags)."""

from absl import flags


def check_flag(name, parse, flag_values=flags.FLAGS):
    """Check flag `name` at parse time with `parse(value, name)`: the message of the
    ValueError it raises becomes absl's one-line flag error (`flag --name=...: message`),
    before any model or data is loaded. A flag left unset (None) is not checked."""

    def check(value):
        if value is not None:
            try:
                parse(value, name)
            except ValueError as err:
                raise flags.ValidationError(str(err)) from None
        return True

    flags.register_validator(name, check, flag_values=flag_values)


def parse_range(values, name):
    """A PITCH,YAW list in degrees as two floats in (0, 90]; ValueError naming the flag."""
    try:
        r = tuple(float(v) for v in values)
    except ValueError:
        r = ()
    if len(r) != 2 or not all(0 < v <= 90 for v in r):
        raise ValueError(f"--{name}={','.join(values)}: expected PITCH,YAW in degrees, each in (0, 90]")
    return r


def define_target_flags(flag_values=flags.FLAGS):
    """The flags that bound the redirection targets, shared by tools/augment.py and
    tools/downstream.py (augmentation.TargetSampler's settings), checked at parse time."""
    flags.DEFINE_list("gaze_range_deg", ["40", "50"], "Target gaze within +/- PITCH,YAW degrees (default: "
                      "SynthGaze's range).", flag_values=flag_values)
    flags.DEFINE_list("head_range_deg", ["30", "45"], "Target head pose within +/- PITCH,YAW degrees (default: "
                      "SynthGaze's range).", flag_values=flag_values)
    flags.DEFINE_float("bandwidth_deg", 0.0, "kde kernel width, degrees (0: Scott's rule).", lower_bound=0.0,
                       upper_bound=90.0, flag_values=flag_values)
    flags.DEFINE_float("max_eye_in_head_deg", 35.0, "Targets keep the gaze within +/- this many degrees (pitch and "
                       "yaw) of the head, as faces can (SynthGaze's range); 0: no limit.", lower_bound=0.0,
                       upper_bound=90.0, flag_values=flag_values)
    for name in ("gaze_range_deg", "head_range_deg"):
        check_flag(name, parse_range, flag_values)


def error_exit(tool, err, expected=(ValueError, OSError)):
    """A tool's `except` clause: print `<tool>: error: <message>` for an expected error (or a
    reader's error wrapped by tf.data) and return exit code 1; re-raise anything else (a bug
    keeps its traceback)."""
    import sys

    from tfredirect.data.index import tool_error_message

    message = tool_error_message(err, expected)
    if message is None:
        raise err
    print(f"{tool}: error: {message}", file=sys.stderr)
    return 1
