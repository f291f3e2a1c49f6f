"""Trained generators that ship inside the package, loaded by name without training.

    from tfredirect import pretrained
    model = pretrained.load("synthgaze-64")      # a Redirector, ready for redirect()

Each model is a config (`<name>.json`: the ModelConfig, how it was trained and its
evaluation) and its weights stored as float16 (`<name>.npz`, a few MB; restored to float32
on load). They were made by our own tools from SynthGaze only (tools/package_model.py
writes them from a trained `.keras` file): synthetic faces, no real photo was ever seen.
Every tool that takes `--model` also takes these names.
"""

import json
import os

import numpy as np

from tfredirect import fileio

HERE = os.path.dirname(os.path.abspath(__file__))


def names(folder=HERE):
    """Names of the shipped models."""
    if not os.path.isdir(folder):
        return []
    return sorted(f[:-5] for f in os.listdir(folder)
                  if f.endswith(".json") and os.path.exists(os.path.join(folder, f[:-5] + ".npz")))


def card(name, folder=HERE):
    """The stored description of a shipped model (config, training, evaluation)."""
    if name not in names(folder):
        raise ValueError(f"unknown pretrained model {name!r}; shipped: {', '.join(names(folder)) or 'none'}")
    with open(os.path.join(folder, f"{name}.json")) as fh:
        return json.load(fh)


def load(name, folder=HERE):
    """The shipped Redirector `name` (float32 weights restored from float16)."""
    from tfredirect.models.redirector import Redirector

    info = card(name, folder)
    model = Redirector(info["model_config"], name="generator")
    model.build()
    with np.load(os.path.join(folder, f"{name}.npz")) as weights:
        stored = [weights[f"w{i:04d}"] for i in range(len(weights.files))]
    if len(stored) != len(model.weights):
        raise ValueError(f"pretrained {name}: {len(stored)} stored weights, the model has {len(model.weights)}")
    for var, value in zip(model.weights, stored):
        if tuple(var.shape) != value.shape:
            raise ValueError(f"pretrained {name}: weight {var.path} has shape {tuple(var.shape)}, stored {value.shape}")
        var.assign(value.astype(np.float32))
    return model


def save(model, name, info, folder=HERE):
    """Write `model`'s weights as float16 and its card (`info` + model_config) into `folder`;
    atomic per file (fileio), the weights first, so a card always has its weights. Returns the
    two paths."""
    os.makedirs(folder, exist_ok=True)
    arrays = {f"w{i:04d}": np.asarray(v).astype(np.float16) for i, v in enumerate(model.weights)}
    npz = fileio.write_atomic(os.path.join(folder, f"{name}.npz"), lambda tmp: np.savez_compressed(tmp, **arrays))
    meta = fileio.write_json_atomic(os.path.join(folder, f"{name}.json"),
                                    {**info, "model_config": model.config.to_dict()})
    return npz, meta
