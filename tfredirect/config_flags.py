"""absl flags derived from the config dataclasses (tfredirect.config), so that a setting is
written once: its type, default, check and help come from the field.

A field gives one flag of its name; a nested section's fields are named after the section's
`flag_prefix` (TrainConfig.loss.rec -> `--w_rec`, .gan.start -> `--gan_start`, .swap.gaze_prob
-> `--gaze_prob`). An ill-typed or out-of-range value is refused by absl at parse time,
naming the flag; an unknown flag too.
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


def _value(config, path):
    for name in path:
        config = getattr(config, name)
    return config


def _validator(field):
    def check(value):
        error = field_error(field, value)
        if error:
            raise flags.ValidationError(error)
        return True
    return check


def define_flags(config, flag_values=flags.FLAGS, module_name=None):
    """Define one flag per field of the dataclass instance `config`, its value as default;
    `module_name` (a tool's sys.argv[0]) lists them in the tool's --helpshort."""
    for name, path, field in flag_fields(type(config)):
        default, help_text = _value(config, path), field.metadata.get("help", "")
        if "choices" in field.metadata:
            flags.DEFINE_enum(name, default, list(field.metadata["choices"]), help_text, flag_values=flag_values,
                              module_name=module_name)
            continue
        _DEFINE[field.type](name, default, help_text, flag_values=flag_values, module_name=module_name)
        flags.register_validator(name, _validator(field), flag_values=flag_values)


def overrides(cls, flag_values=flags.FLAGS):
    """The fields set on the command line or in a flagfile, as a nested dict."""
    out = {}
    for name, path, _ in flag_fields(cls):
        if flag_values[name].present:
            section = out
            for key in path[:-1]:
                section = section.setdefault(key, {})
            section[path[-1]] = flag_values[name].value
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
