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
