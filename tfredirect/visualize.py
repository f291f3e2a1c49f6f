"""Every picture and chart of the project, as uint8 RGB arrays and PNG files: image grids
(training previews, gaze/head sweeps, examples; NumPy) and charts (matplotlib, Agg canvas,
no display needed)."""

import math
import os

import cv2
import numpy as np

from tfredirect import fileio, imaging

PANEL_SIZE = (640, 420)  # (width, height) in pixels of one chart panel

# Sweep targets in degrees: gaze (pitch, yaw) with the head kept, then head (pitch, yaw).
GAZE_SWEEP_DEG = ((0, -30), (0, -15), (0, 0), (0, 15), (0, 30), (20, 0), (-20, 0))
HEAD_SWEEP_DEG = ((0, -30), (0, -15), (0, 0), (0, 15), (0, 30), (15, 0), (-15, 0))


def tile(rows, gap=2, background=255):
    """Stack a list of rows (each a list/array of equal-size uint8 HxWx3 images) into one image."""
    rows = [list(r) for r in rows]
    h, w = rows[0][0].shape[:2]
    ncol = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + gap) - gap, ncol * (w + gap) - gap, 3), background, np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            out[i * (h + gap) : i * (h + gap) + h, j * (w + gap) : j * (w + gap) + w] = img
    return out


def sweep_targets(gaze, head):
    """Per-column target gaze/head (radians, (C, B, 2)) for the sweep around given labels."""
    gaze, head = np.asarray(gaze, np.float32), np.asarray(head, np.float32)
    g_cols = [np.broadcast_to(np.radians(d), gaze.shape).astype(np.float32) for d in GAZE_SWEEP_DEG]
    h_cols = [np.broadcast_to(np.radians(d), head.shape).astype(np.float32) for d in HEAD_SWEEP_DEG]
    targets = [(g, head) for g in g_cols] + [(gaze, h) for h in h_cols]
    return np.stack([t[0] for t in targets]), np.stack([t[1] for t in targets])


def sweep_grid(redirector, images, gaze, head, truth_fn=None):
    """Rows per input image: [input | gaze sweep | head sweep], redirected with the known
    source labels; with `truth_fn(target_gaze, target_head) -> uint8 (B,S,S,3)` a row of
    exact renders follows each redirected row."""
    images = np.asarray(images)
    tg, th = sweep_targets(gaze, head)
    cols = [
        np.asarray(redirector.redirect(images, target_gaze=g, target_head=h, source_gaze=gaze, source_head=head))
        for g, h in zip(tg, th)
    ]
    truth = [truth_fn(g, h) for g, h in zip(tg, th)] if truth_fn else None
    blank = np.full_like(images[0], 255)
    rows = []
    for i in range(len(images)):
        rows.append([images[i]] + [c[i] for c in cols])
        if truth is not None:
            rows.append([blank] + [t[i] for t in truth])
    return tile(rows)


def preview_grid(redirector, batch, truth=None):
    """[image_a | a redirected to b's gaze and head | truth (or image_b)] per pair."""
    out = redirector.redirect(
        np.asarray(batch["image_a"]),
        target_gaze=np.asarray(batch["gaze_b"]),
        target_head=np.asarray(batch["head_b"]),
        source_gaze=np.asarray(batch["gaze_a"]),
        source_head=np.asarray(batch["head_a"]),
    )
    out = np.asarray(out)
    if out.dtype != np.uint8:
        out = np.asarray(imaging.to_uint8(out))
    ref = np.asarray(batch["image_b"] if truth is None else truth)
    n = len(out)
    per_row = max(1, int(math.ceil(math.sqrt(n))))
    triples = [np.concatenate([batch["image_a"][i], out[i], ref[i]], axis=1) for i in range(n)]
    return tile([triples[i : i + per_row] for i in range(0, n, per_row)], background=0)


def bar_charts(panels, panel_size=PANEL_SIZE, dpi=100):
    """Grouped bar charts side by side, as one RGB uint8 image of (height, n * width).

    panels: dicts with "groups" (x labels), "series" ({name: [value or None per group]},
    drawn in order in matplotlib's default colours, a missing value left out), "title",
    "ylabel" and "xlabel". Each bar carries its value."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    w, h = panel_size
    fig = Figure(figsize=(len(panels) * w / dpi, h / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        groups, series = panel["groups"], panel["series"]
        width = 0.8 / max(1, len(series))
        for k, (name, values) in enumerate(series.items()):
            x = [g + (k - (len(series) - 1) / 2) * width for g, v in enumerate(values) if v is not None]
            y = [v for v in values if v is not None]
            bars = ax.bar(x, y, width * 0.95, label=name, color=f"C{k}")
            ax.bar_label(bars, fmt="%.1f", fontsize=7)
        ax.set_xticks(range(len(groups)), groups)
        ax.set_title(panel["title"], fontsize=10)
        ax.set_ylabel(panel["ylabel"])
        ax.set_xlabel(panel["xlabel"])
        ax.grid(axis="y", color="0.9")
        ax.set_axisbelow(True)
        ax.margins(y=0.12)
        ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def write_png(path, rgb, scale=1, overwrite=True):
    """Write an RGB uint8 image as PNG (optionally upscaled with nearest neighbour), atomically."""
    if scale != 1:
        rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with fileio.atomic_path(path, overwrite) as tmp:
        if not cv2.imwrite(tmp, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {path}")
    return path
