"""The photo path on skimage's astronaut with the tiny untrained redirector: which face, what
a gaze-only change may touch, and refused settings."""

import cv2
import numpy as np
import pytest
from skimage import data

from tfredirect import normalization, photo


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()


def test_a_gaze_change_touches_only_the_eye_regions(astronaut, tiny_redirector):
    faces = photo.find_faces(astronaut, 32)
    assert len(faces) == 1 and faces[0].found == 1 and faces[0].index == 0 and faces[0].mesh is not None
    region = faces[0].eye_region()
    assert region.shape == (32, 32) and region.max() == 1.0 and 0.02 < (region > 0).mean() < 0.5
    target = np.radians([[0.0, -20.0]]).astype(np.float32)
    pasted, patches = photo.redirect_photo(tiny_redirector, astronaut, faces, target_gaze=target)
    changed = np.any(pasted != astronaut, axis=-1)
    blank = np.zeros_like(astronaut)
    reach = normalization.paste_back(blank, faces[0].normalized, np.full((32, 32, 3), 255, np.uint8),
                                     mask=region)[..., 0] > 0
    reach = cv2.dilate(reach.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # a pixel of resampling margin
    assert changed.any() and not changed[~reach].any()  # nothing outside where the eye regions land
    kept = patches[0][region == 0]
    assert np.array_equal(kept, faces[0].normalized.patch[region == 0])
    # a head change redraws the whole face
    whole, _ = photo.redirect_photo(tiny_redirector, astronaut, faces, target_gaze=target,
                                    target_head=np.zeros((1, 2), np.float32))
    assert np.any(whole != astronaut, axis=-1).sum() > 2 * changed.sum()


def test_settings_that_cannot_work_are_refused(astronaut, tiny_redirector):
    given = photo.find_faces(astronaut, 32, landmarks=[[204, 100], [245, 102], [224, 126], [202, 139], [244, 140]])
    assert given[0].mesh is None and given[0].eye_region() is None
    with pytest.raises(ValueError, match="needs the face mesh"):
        photo.redirect_patch(tiny_redirector, given[0], keep="eyes")
    with pytest.raises(ValueError, match="keep must be one of"):
        photo.redirect_patch(tiny_redirector, given[0], keep="nose")
    with pytest.raises(ValueError, match="eye_pixels must be one of"):
        photo.redirect_patch(tiny_redirector, given[0], eye_pixels="painted")
    with pytest.raises(IndexError, match="no face 3; 1 found"):
        photo.find_faces(astronaut, 32, which="3")


def test_moved_pixels_need_the_warp_decoder(astronaut, tiny_redirector):
    faces = photo.find_faces(astronaut, 32)
    assert tiny_redirector.config.decoder == "rgb"
    with pytest.raises(ValueError, match="warp decoder"):
        photo.redirect_patch(tiny_redirector, faces[0], eye_pixels="moved")
