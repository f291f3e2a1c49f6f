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
    for mode in ("moved", "photo"):
        with pytest.raises(ValueError, match="warping decoder"):
            photo.redirect_patch(tiny_redirector, faces[0], eye_pixels=mode)


def test_photo_resolution_eyes_touch_only_the_eye_regions(astronaut):
    """eye_pixels="photo" redoes the move decoder's composition on the photo's pixels: the
    photo outside the eye regions stays exact, and an untrained model (flow 0, blend and gain
    near their starting values) leaves the eyes close to the photo, at its sharpness."""
    import keras

    from tfredirect.config import preset
    from tfredirect.models import Redirector

    keras.utils.set_random_seed(0)
    model = Redirector(preset("tiny", decoder="move"))
    model.build()
    faces = photo.find_faces(astronaut, 32)
    target = np.radians([[0.0, -20.0]]).astype(np.float32)
    sharp, _ = photo.redirect_photo(model, astronaut, faces, target_gaze=target, eye_pixels="photo")
    coarse, _ = photo.redirect_photo(model, astronaut, faces, target_gaze=target, eye_pixels="decoded")
    region = faces[0].eye_region()
    reach = normalization.paste_back(np.zeros_like(astronaut), faces[0].normalized,
                                     np.full((32, 32, 3), 255, np.uint8), mask=region)[..., 0] > 0
    reach = cv2.dilate(reach.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert np.array_equal(sharp[~reach], astronaut[~reach])
    inside = np.abs(sharp[reach].astype(float) - astronaut[reach]).mean()
    assert inside < np.abs(coarse[reach].astype(float) - astronaut[reach]).mean()


def _eye_centres(photo_face):
    """The two eye centres (eye-corner midpoints) of a photo face in its normalized patch, px."""
    pts = normalization.to_patch(photo_face.normalized, photo_face.mesh.mesh[:, :2])
    return np.array([pts[[33, 133]].mean(0), pts[[362, 263]].mean(0)])


def test_photos_are_normalized_at_the_scale_of_the_training_faces(astronaut):
    from tfredirect.config import CAMERA_DISTANCE_MM
    from tfredirect.data.synthgaze import SynthGaze

    ds = SynthGaze(size=64, seed=0)
    pids = ds.persons("test")[:16]
    zeros = np.zeros((len(pids), 2), np.float32)
    _, masks = ds.render_target(pids, [0] * len(pids), gaze=zeros, head=zeros, return_masks=True)
    xs, ys = np.meshgrid(np.arange(64), np.arange(64))
    synth = []
    for eye in masks["eye"]:
        halves = [eye * (xs < 32), eye * (xs >= 32)]
        synth.append([[np.sum(h * xs) / h.sum(), np.sum(h * ys) / h.sum()] for h in halves])
    synth = np.mean(synth, axis=0)
    synth_iod = np.linalg.norm(synth[1] - synth[0])
    at = {d: _eye_centres(photo.find_faces(astronaut, 64, distance=d)[0]) for d in (600.0, CAMERA_DISTANCE_MM["synthgaze"])}
    iod = {d: np.linalg.norm(e[1] - e[0]) for d, e in at.items()}
    # the patch scales as 1/distance about its centre
    assert iod[720.0] / iod[600.0] == pytest.approx(600 / 720, rel=0.01)
    # at SynthGaze's distance a real face's eyes are where the training faces' are (1.5 px at 64 px);
    # at ETH-XGaze's 600 mm they are a fifth further apart
    assert abs(iod[720.0] / synth_iod - 1) < 0.06 and iod[600.0] / synth_iod > 1.18
    assert np.abs(at[720.0] - synth).max() < 1.5
