"""Backends that redirect a batch of images: a Keras Redirector or an exported TFLite model.

Each has `image_size`, `name`, `source` (the path it came from) and `identity` (a
fingerprint of its weights or file, part of a run's parameters: a staging folder made with
another model is never resumed), and is called as
`backend(images, src_gaze, src_head, tgt_gaze, tgt_head, kinds)` -> uint8 images.
"""

import hashlib
import os

import numpy as np

from tfredirect.augmentation.staging import fingerprint


def load_backend(path, num_threads=2):
    """LiteBackend for an exported .tflite; KerasBackend for anything
    serving.checkpoints.load_generator takes (.keras, run directory, checkpoint prefix,
    shipped name)."""
    from tfredirect.serving import checkpoints

    path = os.fspath(path)
    if path.endswith(".tflite"):
        if not os.path.isfile(path):
            raise ValueError(f"{path}: no such file")
        from tfredirect.lite import LiteRedirector

        return LiteBackend(LiteRedirector(path, num_threads=num_threads))
    checkpoints.resolve(path)
    return KerasBackend(checkpoints.load_generator(path), source=path)


def check_model_path(path):
    """Fast check (no TensorFlow) that `path` is a .tflite file or a form load_generator takes."""
    from tfredirect.serving import checkpoints

    if os.fspath(path).endswith(".tflite"):
        if not os.path.isfile(path):
            raise ValueError(f"{path}: no such file")
        return
    checkpoints.resolve(path)


class KerasBackend:
    """Redirect with a Keras Redirector (one traced tf.function), using the known source
    labels as the current angles. `identity` fingerprints the weights."""

    name = "keras"

    def __init__(self, model, source=None):
        from tfredirect.serving.runners import KerasRunner

        self.model, self.image_size, self.source = model, model.image_size, source
        self.runner = KerasRunner(model)
        self.identity = "keras:" + fingerprint(np.asarray(w.numpy()) for w in model.weights)

    def __call__(self, images, src_gaze, src_head, tgt_gaze, tgt_head, kinds=None):
        return self.runner.redirect(images, tgt_gaze, tgt_head, source_gaze=src_gaze, source_head=src_head)


class LiteBackend:
    """Redirect with an exported TFLite model, from the known source labels (signature
    `redirect_labeled`; exports without it rotate from the model's estimates, so an
    attribute that is not redirected gets its estimate as target). `identity` hashes the
    file."""

    name = "tflite"

    def __init__(self, lite):
        self.lite, self.image_size, self.source = lite, lite.image_size, lite.path
        with open(lite.path, "rb") as fh:
            self.identity = "tflite:" + hashlib.sha256(fh.read()).hexdigest()

    def __call__(self, images, src_gaze, src_head, tgt_gaze, tgt_head, kinds=None):
        if self.lite.takes_source_labels:
            return self.lite.redirect(images, tgt_gaze, tgt_head, source_gaze=src_gaze, source_head=src_head)
        if kinds is None:
            keep_g = np.all(tgt_gaze == src_gaze, axis=1)
            keep_h = np.all(tgt_head == src_head, axis=1)
        else:
            keep_g, keep_h = np.asarray(kinds) == 1, np.asarray(kinds) == 0
        tg = np.array(tgt_gaze, np.float32)
        th = np.array(tgt_head, np.float32)
        need = keep_g | keep_h
        if need.any():  # estimate only the rows that keep an attribute
            est_g, est_h = self.lite.estimate(images[need])
            tg[need] = np.where(keep_g[need, None], est_g, tg[need])
            th[need] = np.where(keep_h[need, None], est_h, th[need])
        return self.lite.redirect(images, tg, th)
