"""absl flags derived from the config dataclasses (tfredirect.config), so that a setting is
written once: its type, default, check and help come from the field.

A field gives one flag of its name; a nested section's fields are named after the section's
`flag_prefix` (TrainConfig.loss.rec -> `--w_rec`, .gan.start -> `--gan_start`, .swap.gaze_prob
-> `--gaze_prob`). A tuple field is a comma-separated list of numbers. An ill-typed or
out-of-range value is refused by absl at parse time, naming the flag; an unknown flag too.
"""

import dataclasses

from absl import flags

from tfredirect.config import TrainConfig, field_error

_DEFINE = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float, str: flags.DEFINE_string}


def flag_fields(cls, prefix="", path=()):
    """(flag name, field path, field) of each field of dataclass `cls` that is a flag,
    sections flattened."""
    for field in dataclasses.fields(cls):
        if field.metadata.get("flag") is False:
            continue
        if dataclasses.is_dataclass(field.type):
            yield from flag_fields(field.type, prefix + field.metadata["flag_prefix"], path + (field.name,))
        else:
            yield prefix + field.name, path + (field.name,), field


def _default(config, path):
    """The flag's default: the value at `path` of the instance `config`, or for a class the
    field's default (None for a field without one)."""
    for name in path:
        if not isinstance(config, type):
            config = getattr(config, name)
            continue
        field = {f.name: f for f in dataclasses.fields(config)}[name]
        if field.default_factory is not dataclasses.MISSING:
            config = field.default_factory()
        else:
            config = None if field.default is dataclasses.MISSING else field.default
    return config


def _config_value(field, value):
    """A parsed flag's value as the field holds it (a list flag's strings as a tuple of floats)."""
    return tuple(float(v) for v in value) if field.type is tuple and value is not None else value


def _validator(field):
    def check(value):
        if value is None:  # unset: a required flag is reported by absl
            return True
        try:
            value = _config_value(field, value)
        except ValueError:
            raise flags.ValidationError(f"expected comma-separated numbers, got {','.join(value)!r}") from None
        error = field_error(field, value)
        if error:
            raise flags.ValidationError(error)
        return True
    return check


def define_flags(config, flag_values=flags.FLAGS, module_name=None):
    """Define one flag per field of the dataclass `config`: an instance gives its values as
    defaults, a class its fields' defaults (a field without one is a required flag);
    `module_name` (a tool's sys.argv[0]) lists them in the tool's --helpshort."""
    for name, path, field in flag_fields(config if isinstance(config, type) else type(config)):
        default, help_text = _default(config, path), field.metadata.get("help", "")
        kw = dict(flag_values=flag_values, module_name=module_name)
        if "choices" in field.metadata and field.type is str:
            flags.DEFINE_enum(name, default, list(field.metadata["choices"]), help_text, **kw)
            continue
        if field.type is tuple:
            flags.DEFINE_list(name, None if default is None else [f"{v:g}" for v in default], help_text, **kw)
        else:
            _DEFINE[field.type](name, default, help_text, **kw)
        flags.register_validator(name, _validator(field), flag_values=flag_values)
        if default is None and field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            flags.mark_flag_as_required(name, flag_values=flag_values)


def config_from_flags(cls, flag_values=flags.FLAGS, prefix=""):
    """The `cls` of parsed flags defined by `define_flags(cls)`: every field from its flag."""
    values = {}
    for field in dataclasses.fields(cls):
        if field.metadata.get("flag") is False:
            continue
        if dataclasses.is_dataclass(field.type):
            values[field.name] = config_from_flags(field.type, flag_values, prefix + field.metadata["flag_prefix"])
        else:
            values[field.name] = _config_value(field, flag_values[prefix + field.name].value)
    return cls(**values)


def overrides(cls, flag_values=flags.FLAGS):
    """The fields set on the command line or in a flagfile, as a nested dict."""
    out = {}
    for name, path, field in flag_fields(cls):
        if flag_values[name].present:
            section = out
            for key in path[:-1]:
                section = section.setdefault(key, {})
            section[path[-1]] = _config_value(field, flag_values[name].value)
    return out


def define_train_flags(flag_values=flags.FLAGS, module_name=None):
    """tools/train.py's flags: TrainConfig's fields (defaults shown: the demo recipe) and
    --config_json."""
    define_flags(TrainConfig.from_preset("demo"), flag_values, module_name)
    flags.DEFINE_string("config_json", "", "Repeat a run: start from its config.json (the resolved config) instead "
                        "of a --preset recipe; give a new --out_dir, and flags to change.", flag_values=flag_values,
                        module_name=module_name)


def train_config(flag_values=flags.FLAGS):
    """The TrainConfig of parsed train flags: the --preset recipe (or --config_json), then
    every flag given on the command line or in a flagfile."""
    given = overrides(TrainConfig, flag_values)
    if not flag_values.config_json:
        return TrainConfig.from_preset(flag_values.preset).replace(**given)
    if "preset" in given:
        raise ValueError("--config_json and --preset exclude each other (the config names its preset)")
    # a new run from the stored settings: what the old run did to its folder is not repeated
    base = TrainConfig.from_json(flag_values.config_json).replace(resume=False, overwrite=False, lr_segments=[])
    return base.replace(**given)
