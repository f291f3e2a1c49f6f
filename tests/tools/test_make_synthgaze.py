import re

import h5py
import pytest


@pytest.mark.slow
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
    textured = tmp_path / "t.h5"
    res = tool("make_synthgaze", f"--out={textured}", "--appearance=textured", *args[2:])
    assert res.returncode == 0, res.stderr
    with h5py.File(out, "r") as f, h5py.File(textured, "r") as g:
        assert f.attrs["appearance"] == "plain" and g.attrs["appearance"] == "textured"
        a, b = f[groups[0]]["pixels"][:].astype(int), g[groups[0]]["pixels"][:].astype(int)
        assert abs(a - b).mean() > 1.0


@pytest.mark.slow
def test_bad_size_fails_without_output(tool, tmp_path):
    out = tmp_path / "bad.h5"
    res = tool("make_synthgaze", f"--out={out}", "--size=50")
    assert res.returncode != 0 and "size" in res.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_progress_lines_when_redirected_and_silence_with_verbose_0(tool, tmp_path):
    args = ["--size=32", "--persons=20", "--samples_per_person=2", "--split=train"]
    res = tool("make_synthgaze", f"--out={tmp_path / 'a.h5'}", "--verbose=1", *args)  # stderr is a pipe
    assert res.returncode == 0, res.stderr
    assert "\r" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.startswith("SynthGaze train:")]
    pattern = r"SynthGaze train: (\d+)/(\d+) persons +[0-9.]+%, [0-9.]+ persons/s, \d+ s"
    assert lines and all(re.match(pattern, line) for line in lines), res.stderr  # a line every 10 s and at the end
    match = re.match(pattern + "$", lines[-1])
    assert match and match[1] == match[2], lines[-1]
    with h5py.File(tmp_path / "a.h5", "r") as f:
        assert len(f) == int(match[1]) and f.attrs["layout"] == "ST-ED" and f.attrs["split"] == "train"
    quiet = tool("make_synthgaze", f"--out={tmp_path / 'b.h5'}", "--verbose=0", *args)
    assert quiet.returncode == 0, quiet.stderr
    assert "SynthGaze" not in quiet.stderr and quiet.stdout.count("wrote") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5", "b.h5"]  # no temporary file left
