"""tfredirect.augmentation.staging: a staging folder made with other parameters is refused or
discarded, the lock, and what a resumed run keeps of a damaged folder."""

import os

import numpy as np
import pytest

from aug_helpers import N
from tfredirect import augmentation
from tfredirect.augmentation import KerasBackend, TargetSampler, staging


def test_a_staging_folder_of_other_parameters_is_refused_or_discarded(backend, data, tmp_path):
    _, index = data
    out = tmp_path / "aug.h5"
    sampler = TargetSampler(seed=1)
    augmentation.augment(index, backend, out, 2, sampler, chunk=4, stop_after=4)
    for args, message in [((3, sampler), "per_image 2 there, 3 now"),
                          ((2, TargetSampler(seed=2)), "sampler.seed 1 there, 2 now"),
                          ((2, TargetSampler(kind="both", seed=1)), "sampler.kind 'random' there, 'both' now")]:
        with pytest.raises(ValueError, match=message):
            augmentation.augment(index, backend, out, *args, chunk=4)
    other = KerasBackend(backend.model)
    other.identity = "keras:another"
    with pytest.raises(ValueError, match=r"checkpoint \(another model\).*--overwrite"):
        augmentation.augment(index, other, out, 2, sampler, chunk=4)
    assert augmentation.staging_progress(out) == 4 and not out.exists()
    lock = staging.StagingLock(augmentation.staging_path(out))  # another run is writing this output
    with pytest.raises(ValueError, match="another augmentation run is writing this output"):
        augmentation.augment(index, backend, out, 2, sampler, chunk=4)
    lock.release()
    messages = []
    info = augmentation.augment(index, backend, out, 3, sampler, chunk=4, overwrite=True, log=messages.append)
    assert info["complete"] and info["resumed_from"] == 0 and info["written"] == 3 * N
    assert any("discarding" in m for m in messages)
