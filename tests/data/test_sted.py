import logging
import os

import h5py
import numpy as np
import pytest

from h5_builders import coded_images, decode, grid_labels, sted_labels, write_sted, write_xgaze
from tfredirect.data import SAMPLE_KEYS, sources, sted


def _two_person_file(path, size=32):
    g0, h0 = grid_labels(4), grid_labels(4, offset_deg=2)
    g1, h1 = grid_labels(3, offset_deg=1), grid_labels(3, offset_deg=-1)
    return write_sted(path, {
        "p00": (coded_images(0, 4, size), sted_labels(g0, h0)),
        "p01": (coded_images(1, 3, size), sted_labels(g1, h1)),
    }), {"p00": (g0, h0), "p01": (g1, h1)}


def _records(ds):
    return [{k: v.numpy() for k, v in r.items()} for r in ds]


def test_reads_layout_labels_person_and_rgb_order(tmp_path):
    path, labels = _two_person_file(tmp_path / "gc.h5")
    recs = _records(sources.make_samples("sted", str(path), 16))
    assert len(recs) == 7 and set(recs[0]) == set(SAMPLE_KEYS)
    for r in recs:
        assert r["image"].shape == (16, 16, 3) and r["image"].dtype == np.uint8
        assert r["gaze"].dtype == np.float32 and r["head"].dtype == np.float32
        person, row = decode(r["image"][None])
        name = r["person"].decode()
        assert name == f"p{person[0]:02d}"
        np.testing.assert_allclose(r["gaze"], labels[name][0][row[0]])
        np.testing.assert_allclose(r["head"], labels[name][1][row[0]])
    # RGB stays RGB: channel 2 was written as 200 and channel 0 encodes the person
    assert recs[0]["image"][0, 0].tolist() == [5, 3, 200]


def test_nan_rows_skipped_and_counted_once_per_file(tmp_path, caplog):
    lab = sted_labels(grid_labels(5), grid_labels(5))
    lab[1, 0] = np.nan
    lab[3, 3] = np.nan
    lab2 = sted_labels(grid_labels(2), grid_labels(2))
    lab2[0, 2] = np.nan
    lab[4, 6] = np.nan  # eye columns are not used: the row stays
    path = write_sted(tmp_path / "n.h5", {"a": (coded_images(0, 5, 8), lab), "b": (coded_images(1, 2, 8), lab2)})
    with caplog.at_level(logging.WARNING):
        index = sources.build_index("sted", str(path))
    assert len(index) == 4
    assert sorted(decode(index.read(np.arange(4), 8))[1].tolist()) == [0, 1, 2, 4]
    lines = [r.getMessage() for r in caplog.records if "NaN" in r.getMessage()]
    assert lines == [f"{path}: skipped 3 of 7 rows with NaN labels"]


@pytest.mark.parametrize("mutate, field, words", [
    (lambda g: g.pop("labels"), "/p01/labels", ["missing"]),
    (lambda g: g.update(labels=np.zeros((3, 3), np.float32)), "/p01/labels", ["shape (3, 3)", "(3, 8)"]),
    (lambda g: g.update(labels=np.zeros((2, 8), np.float32)), "/p01/labels", ["shape (2, 8)"]),
    (lambda g: g.update(labels=np.zeros((3, 8), np.int32)), "/p01/labels", ["dtype int32"]),
    (lambda g: g.update(pixels=np.zeros((3, 8, 8, 3), np.float32)), "/p01/pixels", ["dtype float32"]),
    (lambda g: g.update(pixels=np.zeros((3, 8, 6, 3), np.uint8)), "/p01/pixels", ["shape (3, 8, 6, 3)"]),
    (lambda g: g.update(labels=sted_labels(np.full((3, 2), 20.0), np.zeros((3, 2)))), "/p01/labels", ["degrees"]),
])
def test_errors_name_file_and_field(tmp_path, mutate, field, words):
    good = {"pixels": coded_images(0, 3, 8), "labels": sted_labels(grid_labels(3), grid_labels(3))}
    bad = dict(good)
    mutate(bad)
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        for name, datasets in (("p00", good), ("p01", bad)):
            g = f.create_group(name)
            for k, v in datasets.items():
                g.create_dataset(k, data=v)
    with pytest.raises(ValueError) as e:
        sources.build_index("sted", str(path))
    msg = str(e.value)
    assert str(path) in msg and field in msg, msg
    for w in words:
        assert w in msg, msg


def test_empty_dataset_raises(tmp_path):
    lab = sted_labels(np.full((2, 2), np.nan), np.zeros((2, 2)))
    path = write_sted(tmp_path / "e.h5", {"a": (coded_images(0, 2, 8), lab)})
    with pytest.raises(ValueError, match="empty dataset"):
        sources.make_samples("sted", str(path), 8)
    zero = write_sted(tmp_path / "z.h5", {"a": (np.zeros((0, 8, 8, 3), np.uint8), np.zeros((0, 8), np.float32))})
    with pytest.raises(ValueError, match="empty dataset"):
        sources.build_index("sted", str(zero))
    with pytest.raises(FileNotFoundError, match="no files"):
        sources.build_index("sted", str(tmp_path / "none*.h5"))


def test_xgaze_file_given_as_sted_gets_a_hint(tmp_path):
    zeros = np.zeros((2, 2))
    path = write_xgaze(tmp_path / "subject0000.h5", np.zeros((2, 8, 8, 3), np.uint8), zeros, zeros)
    with pytest.raises(ValueError, match="no person groups.*xgaze"):
        sources.build_index("sted", str(path))


def test_folder_glob_and_person_merge_across_files(tmp_path):
    lab = sted_labels(grid_labels(2), grid_labels(2))
    write_sted(tmp_path / "a.h5", {"p00": (coded_images(0, 2, 8), lab)})
    write_sted(tmp_path / "b.hdf5", {"p00": (coded_images(0, 2, 8), lab), "p01": (coded_images(1, 2, 8), lab)})
    (tmp_path / "notes.txt").write_text("not data")
    for path in (tmp_path, tmp_path / "*.h*5"):
        index = sources.build_index("sted", str(path))
        assert len(index) == 6 and index.persons == ("p00", "p01")
    assert len(sources.build_index("sted", str(tmp_path / "a.h5"))) == 2


def test_shuffled_stream_is_seeded_and_complete(tmp_path):
    path, _ = _two_person_file(tmp_path / "s.h5")

    def order(seed):
        return [tuple(decode(r["image"][None])[i][0] for i in range(2))
                for r in _records(sources.make_samples("sted", str(path), 8, shuffle=True, seed=seed))]

    a, b, c = order(3), order(3), order(4)
    assert a == b and a != c and sorted(a) == sorted(c) and len(set(a)) == 7
    endless = sources.make_samples("sted", str(path), 8, shuffle=True, seed=3, infinite=True)
    assert len(list(endless.take(20))) == 20


def test_writer_round_trip_refuses_overwrite_and_bad_person(tmp_path):
    path, labels = _two_person_file(tmp_path / "in.h5")
    out = tmp_path / "out.h5"
    assert sources.write_sted_h5(str(out), sources.make_samples("sted", str(path), 32).batch(3)) == (2, 7)
    with h5py.File(out) as f:
        assert sorted(f) == ["p00", "p01"]
        assert f["p00/pixels"].shape == (4, 32, 32, 3) and f["p00/labels"].shape == (4, 8)
        np.testing.assert_allclose(f["p01/labels"][:, 2:4], labels["p01"][1])
        assert np.isnan(f["p01/labels"][:, 4:8]).all() and f.attrs["eye_labels"] == "not available"
        np.testing.assert_array_equal(f["p01/pixels"][:], coded_images(1, 3, 32))
    with pytest.raises(FileExistsError):
        sources.write_sted_h5(str(out), [])
    rec = {"image": np.zeros((8, 8, 3), np.uint8), "gaze": np.zeros(2, np.float32), "head": np.zeros(2, np.float32)}
    with pytest.raises(ValueError, match="group name"):
        sources.write_sted_h5(str(out), [dict(rec, person="a/b")], overwrite=True)
    with pytest.raises(ValueError, match="degrees"):
        sources.write_sted_h5(str(tmp_path / "deg.h5"), [dict(rec, person="x", gaze=np.array([0.0, 30.0]))])
    assert sorted(os.listdir(tmp_path)) == ["in.h5", "out.h5"]  # failed writes leave nothing behind
    assert len(sources.build_index("sted", str(out))) == 7  # the kept file is intact


def test_inference_index_ignores_gaze(tmp_path):
    lab = sted_labels(np.full((3, 2), np.nan), grid_labels(3))
    path = write_sted(tmp_path / "i.h5", {"a": (coded_images(0, 3, 8), lab)})
    recs = _records(sources.make_samples("sted", str(path), 8, with_gaze=False))
    assert len(recs) == 3 and "gaze" not in recs[0] and set(recs[0]) == {"image", "head", "person"}
    assert sted.LABEL_COLUMNS == 8


def test_the_one_writer_stores_the_public_layout_streams_and_refuses_bad_blocks(tmp_path):
    """Raw h5py view of sted.write's file: groups with pixels (RGB uint8, one chunk per row) and
    labels (n, 8), extra columns beside them, blocks of one person appended in order."""
    lab = sted_labels(grid_labels(5), grid_labels(5, offset_deg=1))
    blocks = [("a", {"pixels": coded_images(0, 2, 8), "labels": lab[:2], "source_index": np.array([7, 8])}),
              ("b", {"pixels": coded_images(1, 1, 8), "labels": lab[2:3], "source_index": np.array([9])}),
              ("a", {"pixels": coded_images(0, 2, 8), "labels": lab[3:], "source_index": np.array([10, 11])})]
    path = tmp_path / "w.h5"
    assert sted.write(path, iter(blocks), attrs={"note": "x"}) == (2, 5)
    with h5py.File(path, "r") as f:
        assert sorted(f) == ["a", "b"] and f.attrs["layout"] == "ST-ED" and f.attrs["note"] == "x"
        assert f["a/pixels"].dtype == np.uint8 and f["a/pixels"].chunks == (1, 8, 8, 3)
        np.testing.assert_array_equal(f["a/labels"][:], lab[[0, 1, 3, 4]])
        np.testing.assert_array_equal(f["a/source_index"][:], [7, 8, 10, 11])
        np.testing.assert_array_equal(f["b/pixels"][:], coded_images(1, 1, 8))
    with pytest.raises(FileExistsError):
        sted.write(path, [])
    bad = [("c", {"pixels": coded_images(0, 2, 8), "labels": lab[:2], "copy": np.array([0])})]
    with pytest.raises(ValueError, match="'copy' has 1 rows, pixels 2"):
        sted.write(tmp_path / "bad.h5", bad)
    with pytest.raises(ValueError, match=r"labels are float32 \(2, 4\)"):
        sted.write(tmp_path / "bad.h5", [("c", {"pixels": coded_images(0, 2, 8), "labels": lab[:2, :4]})])
    assert sorted(os.listdir(tmp_path)) == ["w.h5"]
    assert np.isnan(sted.labels(grid_labels(2), grid_labels(2))[:, 4:]).all()
