import h5py


def test_writes_h5_and_sheet_and_refuses_overwrite(tool, tmp_path):
    out, sheet = tmp_path / "s.h5", tmp_path / "sheet.png"
    args = [f"--out={out}", f"--sheet={sheet}", "--size=32", "--persons=20", "--samples_per_person=2", "--split=val"]
    res = tool("make_synthgaze", *args)
    assert res.returncode == 0, res.stderr
    assert str(out) in res.stdout and str(sheet) in res.stdout
    with h5py.File(out, "r") as f:
        groups = list(f.keys())
        assert len(groups) >= 1 and f[groups[0]]["pixels"].shape == (2, 32, 32, 3)
        assert f[groups[0]]["labels"].shape == (2, 8)
    import cv2

    img = cv2.imread(str(sheet))
    assert img.shape[0] > 64 and img.shape[1] > 64 * 10
    before = out.stat().st_mtime_ns
    res = tool("make_synthgaze", *args)
    assert res.returncode != 0 and "exists" in res.stderr
    assert out.stat().st_mtime_ns == before


def test_bad_size_fails_without_output(tool, tmp_path):
    out = tmp_path / "bad.h5"
    res = tool("make_synthgaze", f"--out={out}", "--size=50")
    assert res.returncode != 0 and "size" in res.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []
