import numpy as np
import pytest

from tfredirect import visualize

C0 = np.array([31, 119, 180])  # matplotlib's first default colour, #1f77b4


def _panel(series):
    return {"groups": ["a", "b"], "series": series, "title": "t", "ylabel": "deg", "xlabel": "bin"}


def test_bar_charts_size_and_bar_heights():
    img = visualize.bar_charts([_panel({"one": [1.0, 2.0]}), _panel({"one": [3.0, None], "two": [1.0, 1.0]})])
    assert img.shape == (visualize.PANEL_SIZE[1], 2 * visualize.PANEL_SIZE[0], 3) and img.dtype == np.uint8
    left = img[:, : visualize.PANEL_SIZE[0]]
    columns = np.flatnonzero((np.abs(left.astype(int) - C0).sum(-1) < 10).any(axis=0))
    assert len(columns) > 0
    bars = np.split(columns, np.flatnonzero(np.diff(columns) > 1) + 1)  # the two bars of "one" (legend aside)
    heights = sorted(int((np.abs(left[:, b[len(b) // 2]].astype(int) - C0).sum(-1) < 10).sum()) for b in bars)
    assert heights[-1] / heights[-2] == pytest.approx(2.0, rel=0.05)  # value 2 is twice as tall as value 1


def test_write_png_is_atomic_and_refuses_without_overwrite(tmp_path):
    import cv2

    path = str(tmp_path / "sub" / "x.png")
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[..., 0] = 255  # red
    visualize.write_png(path, rgb, scale=2)
    back = cv2.imread(path)
    assert back.shape == (8, 12, 3) and (back[..., 2] == 255).all() and (back[..., 0] == 0).all()
    with pytest.raises(FileExistsError):
        visualize.write_png(path, rgb, overwrite=False)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["x.png"]
