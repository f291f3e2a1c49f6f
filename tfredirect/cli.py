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
