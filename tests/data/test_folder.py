import logging

import cv2
import numpy as np
import pytest

from tfredirect.data import sources

HEADER = "path,person,gaze_pitch,gaze_yaw,head_pitch,head_yaw\n"


def _image(path, rgb, size=20, shape=None):
    img = np.zeros(shape or (size, size, 3), np.uint8)
    img[...] = rgb
    cv2.imwrite(str(path), np.ascontiguousarray(img[..., ::-1]))  # OpenCV writes BGR


def _dataset(tmp_path, rows, header=HEADER, absent=("imgs/zz.png",)):
    (tmp_path / "imgs").mkdir(exist_ok=True)
    for i, (name, *_rest) in enumerate(rows):
        if name not in absent and not (tmp_path / name).exists():
            _image(tmp_path / name, (10 * i, 100, 250))
    csv = tmp_path / "labels.csv"
    csv.write_text(header + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return csv


ROWS = [
    ("imgs/a0.png", "alice", 0.1, -0.2, 0.05, 0.3),
    ("imgs/a1.png", "alice", -0.1, 0.2, 0.0, -0.3),
    ("imgs/b0.jpg", "bob", 0.2, 0.0, 0.1, 0.1),
]


def test_reads_rgb_labels_and_persons_relative_to_csv(tmp_path):
    csv = _dataset(tmp_path, ROWS)
    recs = [{k: v.numpy() for k, v in r.items()} for r in sources.make_samples("folder", str(tmp_path), 10)]
    assert [r["person"] for r in recs] == [b"alice", b"alice", b"bob"]
    assert recs[1]["image"].shape == (10, 10, 3)
    assert recs[1]["image"][4, 4].tolist() == [10, 100, 250]  # PNG is lossless: RGB exactly
    np.testing.assert_allclose(recs[2]["image"][4, 4], [20, 100, 250], atol=3)  # JPEG: close
    np.testing.assert_allclose([r["gaze"] for r in recs], [r[2:4] for r in ROWS], rtol=1e-6)
    np.testing.assert_allclose([r["head"] for r in recs], [r[4:6] for r in ROWS], rtol=1e-6)
    assert len(sources.build_index("folder", str(csv))) == 3


def test_nan_rows_skipped_and_counted(tmp_path, caplog):
    rows = ROWS + [("imgs/c.png", "carol", "", 0.1, 0.0, 0.0), ("imgs/d.png", "carol", 0.1, 0.1, "nan", 0.0)]
    csv = _dataset(tmp_path, rows)
    with caplog.at_level(logging.WARNING):
        assert len(sources.build_index("folder", str(csv))) == 3
    assert [r.getMessage() for r in caplog.records] == [f"{csv}: skipped 2 of 5 rows with NaN labels"]


@pytest.mark.parametrize("rows, header, words", [
    (ROWS, "path,person,gaze_pitch,gaze_yaw,head_pitch\n", ["missing column", "head_yaw"]),
    (ROWS[:1] + [("imgs/a1.png", "alice", "up", 0, 0, 0)], HEADER, ["line 3", "'gaze_pitch'", "'up'"]),
    (ROWS[:1] + [("imgs/zz.png", "alice", 0, 0, 0, 0)], HEADER, ["column 'path'", "zz.png", "not found"]),
    (ROWS[:1] + [("imgs/a1.png", "alice", 0, 0, 0, 40)], HEADER, ["head_pitch/head_yaw", "degrees"]),
])
def test_errors_name_file_and_field(tmp_path, rows, header, words):
    csv = _dataset(tmp_path, rows, header)
    with pytest.raises(ValueError) as e:
        sources.build_index("folder", str(csv))
    msg = str(e.value)
    assert str(csv) in msg, msg
    for w in words:
        assert w in msg, msg


def test_non_square_image_and_empty_csv(tmp_path):
    csv = _dataset(tmp_path, ROWS)
    _image(tmp_path / "imgs/a1.png", (1, 2, 3), shape=(20, 30, 3))
    with pytest.raises(Exception, match="a1.png: image is 30x20, expected a square"):
        list(sources.make_samples("folder", str(csv), 10))
    csv.write_text(HEADER)
    with pytest.raises(ValueError, match="empty dataset"):
        sources.build_index("folder", str(csv))
