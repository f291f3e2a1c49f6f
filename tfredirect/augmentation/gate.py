"""The quality gate: an independent estimator judges every generated copy.

A Judge reads gaze and head off each copy with a GazeHeadEstimator trained apart from the
redirector (tools/train_estimator.py) and gives the angular errors in degrees between what
it reads and the copy's labels (the targets, and the source label of the attribute that was
not redirected). The errors are computed per chunk inside the staging, so they are as
resumable and deterministic as the copies, and stored with the provenance columns
(`JUDGED`). The gate keeps a copy when the larger of its two errors is at most the threshold:
a copy carries both labels, and the one it did not redirect can be wrong too (the head
redirection also moves the gaze, README's disentanglement column), so both are checked.
Both errors are stored, so any other rule can be applied to the output afterwards.
"""

import os

import numpy as np

from tfredirect.augmentation.staging import fingerprint

JUDGED = ("judged_gaze_error_deg", "judged_head_error_deg")


class Judge:
    """Judged gaze and head errors (degrees) of generated copies against their labels.

    estimator: a GazeHeadEstimator; copies are resized to its image size when it differs
    (INTER_AREA / INTER_CUBIC). `identity` fingerprints its weights (part of a run's
    parameters: a staging folder judged by another estimator is not resumed)."""

    def __init__(self, estimator, source=None, batch_size=64):
        from tfredirect.metrics import EstimatorJudge

        self.read = EstimatorJudge(estimator, batch_size=batch_size)
        self.image_size = int(estimator.image_size)
        self.source = source
        self.identity = "estimator:" + fingerprint(np.asarray(w.numpy()) for w in estimator.weights)

    def errors(self, images, gaze, head):
        """(gaze errors (n,), head errors (n,)) float32 degrees of uint8 RGB `images` whose
        labels are `gaze`, `head` (n, 2) radians."""
        from tfredirect.data.index import resize_square

        images = np.asarray(images)
        if images.shape[1] != self.image_size:
            images = np.stack([resize_square(im, self.image_size) for im in images])
        return tuple(np.asarray(e, np.float32) for e in self.read.errors(images, gaze, head))


def load_judge(path):
    """A Judge with the estimator .keras at `path` (ValueError naming it when it is not one)."""
    from tfredirect.training.estimation import load_estimator

    path = os.fspath(path)
    return Judge(load_estimator(path), source=path)


def check_threshold(max_judged_error_deg, judge):
    """ValueError for a threshold without a judge, or one that is not a finite angle >= 0."""
    if max_judged_error_deg is None:
        return
    if judge is None:
        raise ValueError("max_judged_error_deg needs a judge (--judge)")
    if not (np.isfinite(max_judged_error_deg) and max_judged_error_deg >= 0):
        raise ValueError(f"max_judged_error_deg must be a finite angle >= 0 degrees, got {max_judged_error_deg}")


def passes(columns, max_judged_error_deg):
    """Mask of the copies the gate keeps: max(judged gaze error, judged head error) <= the
    threshold (all copies when it is None)."""
    gaze, head = (np.asarray(columns[k]) for k in JUDGED)
    if max_judged_error_deg is None:
        return np.ones(len(gaze), bool)
    return np.maximum(gaze, head) <= max_judged_error_deg
