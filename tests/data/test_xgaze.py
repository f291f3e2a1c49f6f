import logging
import os

import cv2
import h5py
import numpy as np
import pytest

from h5_builders import coded_images, decode, grid_labels, write_xgaze
from tfredirect.data import sources, xgaze


def _records(ds):
    return [{k: v.numpy() for k, v in r.items()} for r in ds]


def test_bgr_patch_comes_out_rgb_with_labels_and_subject_person(tmp_path):
    blue_bgr = np.zeros((3, 24, 24, 3), np.uint8)
    blue_bgr[..., 0] = 255  # pure blue as ETH-XGaze stores it (BGR)
    blue_bgr[1, ..., 1] = 128  # sample 1: blue + half green
    gaze, head = grid_labels(3), grid_labels(3, offset_deg=3)
    write_xgaze(tmp_path / "subject0007.h5", blue_bgr, gaze, head)
    recs = _records(sources.make_samples("xgaze", str(tmp_path), 24))
    assert [r["image"][5, 5].tolist() for r in recs] == [[0, 0, 255], [0, 128, 255], [0, 0, 255]]
    assert all(r["person"] == b"subject0007" for r in recs)
    np.testing.assert_allclose([r["gaze"] for r in recs], gaze)
    np.testing.assert_allclose([r["head"] for r in recs], head)


def test_resize_uses_inter_area_when_shrinking(tmp_path):
    rng = np.random.default_rng(0)
    patch = rng.integers(0, 256, (1, 56, 56, 3), dtype=np.uint8)
    write_xgaze(tmp_path / "subject0000.h5", patch, grid_labels(1), grid_labels(1))
    (rec,) = _records(sources.make_samples("xgaze", str(tmp_path / "subject0000.h5"), 16))
    want = cv2.resize(np.ascontiguousarray(patch[0, ..., ::-1]), (16, 16), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(rec["image"], want)


def test_unlabeled_test_split_is_inference_only(tmp_path):
    write_xgaze(tmp_path / "subject0100.h5", coded_images(0, 3, 16)[..., ::-1], None, grid_labels(3))
    with pytest.raises(ValueError, match="subject0100.h5.*missing dataset '/face_gaze'.*with_gaze=False"):
        sources.make_pairs("xgaze", str(tmp_path), 16, 2, seed=0)
    recs = _records(sources.make_samples("xgaze", str(tmp_path), 16, with_gaze=False))
    assert len(recs) == 3 and set(recs[0]) == {"image", "head", "person"}
    assert decode(np.stack([r["image"] for r in recs]))[1].tolist() == [0, 1, 2]
    np.testing.assert_allclose([r["head"] for r in recs], grid_labels(3))


def test_nan_rows_skipped_and_counted(tmp_path, caplog):
    gaze, head = grid_labels(4), grid_labels(4)
    gaze[2, 1] = np.nan
    head[0, 0] = np.nan
    path = write_xgaze(tmp_path / "subject0001.h5", coded_images(1, 4, 8)[..., ::-1], gaze, head)
    with caplog.at_level(logging.WARNING):
        index = sources.build_index("xgaze", str(path))
    assert decode(index.read(np.arange(len(index)), 8))[1].tolist() == [1, 3]
    assert [r.getMessage() for r in caplog.records] == [f"{path}: skipped 2 of 4 rows with NaN labels"]


@pytest.mark.parametrize("kwargs, field, words", [
    ({"head": None}, "/face_head_pose", ["missing"]),
    ({"gaze": np.zeros((3, 3))}, "/face_gaze", ["shape (3, 3)", "(3, 2)"]),
    ({"head": np.zeros((2, 2))}, "/face_head_pose", ["shape (2, 2)"]),
    ({"patches": np.zeros((3, 8, 8), np.uint8)}, "/face_patch", ["shape (3, 8, 8)"]),
    ({"gaze": np.full((3, 2), 45.0)}, "/face_gaze", ["degrees"]),
])
def test_errors_name_file_and_field(tmp_path, kwargs, field, words):
    args = {"patches": np.zeros((3, 8, 8, 3), np.uint8), "gaze": grid_labels(3), "head": grid_labels(3)}
    args.update(kwargs)
    path = tmp_path / "subject0002.h5"
    with h5py.File(path, "w") as f:
        f["face_patch"] = args["patches"]
        f["face_gaze"] = args["gaze"]
        if args["head"] is not None:
            f["face_head_pose"] = args["head"]
    with pytest.raises(ValueError) as e:
        sources.build_index("xgaze", str(path))
    msg = str(e.value)
    assert str(path) in msg and field in msg, msg
    for w in words:
        assert w in msg, msg


def test_empty_and_non_hdf5_files_raise(tmp_path):
    write_xgaze(tmp_path / "subject0003.h5", np.zeros((0, 8, 8, 3), np.uint8), np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="empty dataset"):
        sources.build_index("xgaze", str(tmp_path))
    (tmp_path / "subject0004.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="subject0004.h5: cannot open as HDF5"):
        sources.build_index("xgaze", str(tmp_path))


def test_writer_stores_bgr_and_round_trips(tmp_path):
    images = coded_images(2, 3, 16)
    gaze, head = grid_labels(3), grid_labels(3, offset_deg=1)
    recs = [{"image": images, "gaze": gaze, "head": head, "person": ["subject0009"] * 3}]
    path = tmp_path / "subject0009.h5"
    assert sources.write_xgaze_h5(str(path), recs) == 3
    with h5py.File(path) as f:
        np.testing.assert_array_equal(f["face_patch"][:], images[..., ::-1])
        np.testing.assert_allclose(f["face_gaze"][:], gaze)
    back = _records(sources.make_samples("xgaze", str(path), 16))
    np.testing.assert_array_equal(np.stack([r["image"] for r in back]), images)
    two = [dict(recs[0], person=["a", "b", "a"])]
    with pytest.raises(ValueError, match="one subject"):
        sources.write_xgaze_h5(str(tmp_path / "x.h5"), two)
    assert not (tmp_path / "x.h5").exists()


def test_the_one_writer_stores_the_public_layout_and_extra_columns(tmp_path):
    """Raw h5py view of xgaze.write's file: face_patch BGR uint8 one chunk per row, face_gaze and
    face_head_pose float32, other columns under their own names, blocks appended."""
    images = coded_images(3, 5, 8)
    gaze, head = grid_labels(5), grid_labels(5, offset_deg=2)
    blocks = [{"image": images[:2], "gaze": gaze[:2], "head": head[:2], "copy": np.array([0, 1], np.int16)},
              {"image": images[2:], "gaze": gaze[2:], "head": head[2:], "copy": np.array([2, 3, 4], np.int16)}]
    path = tmp_path / "subject0003.h5"
    assert xgaze.write(path, blocks, attrs={"per_image": 5}) == 5
    with h5py.File(path, "r") as f:
        assert sorted(f) == ["copy", "face_gaze", "face_head_pose", "face_patch"]
        assert f.attrs["layout"] == "ETH-XGaze" and f.attrs["per_image"] == 5
        np.testing.assert_array_equal(f["face_patch"][:], images[..., ::-1])
        assert f["face_patch"].chunks == (1, 8, 8, 3) and f["face_gaze"].dtype == np.float32
        np.testing.assert_array_equal(f["face_head_pose"][:], head)
        np.testing.assert_array_equal(f["copy"][:], np.arange(5))
    back = sources.build_index("xgaze", str(path))
    np.testing.assert_array_equal(back.read(np.arange(5), 8), images)
    with pytest.raises(ValueError, match="'gaze' has 1 rows, images 2"):
        xgaze.write(tmp_path / "x.h5", [{"image": images[:2], "gaze": gaze[:1], "head": head[:2]}])
    assert sorted(os.listdir(tmp_path)) == ["subject0003.h5"]
