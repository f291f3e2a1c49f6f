import numpy as np
import pytest

from tfredirect.data import sources
from tfredirect.data.synthgaze import SynthGaze
from tfredirect.experiments import subsets


def test_gaze_extent_and_its_summary_known_values():
    gaze = np.radians([[5.0, -2.0], [0.0, -15.0], [12.0, 25.0], [-35.0, 0.0]])
    np.testing.assert_allclose(subsets.gaze_extent_deg(gaze), [5.0, 15.0, 25.0, 35.0], atol=1e-9)
    assert subsets.extent_summary(gaze) == pytest.approx({"max": 35.0, "median": 20.0, "fraction_above_10": 0.75})


@pytest.mark.slow
def test_subset_index_keeps_the_chosen_samples_and_reads_their_pixels(tmp_path):
    data = str(tmp_path / "d.h5")
    SynthGaze(size=32, seed=1, num_persons=3, samples_per_person=4, val_fraction=0.0,
              test_fraction=0.0).write_h5(data, "train")
    index = sources.build_index("sted", data)
    sub = subsets.subset_index(index, [1, 5, 10], "three samples")
    assert len(sub) == 3 and sub.description == "three samples"
    np.testing.assert_array_equal(sub.gaze, index.gaze[[1, 5, 10]])
    np.testing.assert_array_equal(sub.read([2], 32), index.read([10], 32))
