"""Fixtures of the augmentation tests: a seeded, untrained tiny (32x32) Redirector is enough
(labels and provenance do not depend on the weights; pixels are compared with the backend's
own output), a random 16-sample ST-ED file of three persons, and an untrained tiny judge."""

import os
import sys

import pytest

from tfredirect.augmentation import KerasBackend
from tfredirect.data import sources

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data"))
from h5_builders import random_sted_file  # noqa: E402

from aug_helpers import COUNTS  # noqa: E402


@pytest.fixture(scope="module")
def backend(tiny_redirector):
    return KerasBackend(tiny_redirector)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = random_sted_file(tmp_path_factory.mktemp("data") / "train.h5", COUNTS, 32)
    return path, sources.build_index("sted", path)


@pytest.fixture(scope="session")
def tiny_judge():
    """A Judge with a seeded, untrained 32x32 GazeHeadEstimator: arbitrary but fixed readings."""
    from tfredirect.augmentation import Judge
    from tfredirect.training.estimation import build_estimator

    return Judge(build_estimator(32, seed=3))
