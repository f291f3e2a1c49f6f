"""Small files in the public layouts, written with the library's one writer per layout
(tfredirect.data.sted.write, xgaze.write; test_sted/test_xgaze check those writers' files
against the layout with raw h5py), and images whose colour encodes (person, row)."""

import numpy as np

from tfredirect.data import sted, xgaze


def coded_images(person, n, size):
    """n constant-colour RGB images; colour (40 * person + 5, 7 * row + 3, 200) identifies them."""
    img = np.zeros((n, size, size, 3), np.uint8)
    img[..., 0] = 40 * person + 5
    img[..., 1] = (7 * np.arange(n) + 3)[:, None, None]
    img[..., 2] = 200
    return img


def decode(images):
    """(person, row) of coded images (n, S, S, 3) from their centre pixel."""
    c = np.asarray(images)[:, images.shape[1] // 2, images.shape[2] // 2].astype(int)
    return (c[:, 0] - 5) // 40, (c[:, 1] - 3) // 7


def sted_labels(gaze, head):
    """(n, 8) ST-ED labels: gaze, head, and both eyes along the gaze."""
    gaze = np.asarray(gaze, np.float32)
    return sted.labels(gaze, head, eyes=np.concatenate([gaze, gaze], axis=1))


def write_sted(path, groups, compression="lzf"):
    """groups: {name: (pixels (n,S,S,3) uint8 RGB, labels (n,8))} -> ST-ED h5 (one chunk per
    row, as the published files store them)."""
    sted.write(path, ((name, {"pixels": pixels, "labels": labels}) for name, (pixels, labels) in groups.items()),
               compression=compression, overwrite=True)
    return path


def write_xgaze(path, patches_bgr, gaze, head, compression=None, **extra):
    """ETH-XGaze subject file with the fields this library ignores; gaze=None writes the
    unlabeled test-split layout."""
    n = len(patches_bgr)
    block = {"image": np.asarray(patches_bgr)[..., ::-1], "head": head,
             "face_mat_norm": np.tile(np.eye(3, dtype=np.float32), (n, 1, 1)), "frame_index": np.arange(n),
             "cam_index": np.zeros(n, np.int64), **extra}
    if gaze is not None:
        block["gaze"] = gaze
    xgaze.write(path, [block], compression=compression, overwrite=True)
    return path


def grid_labels(n, step_deg=5.0, offset_deg=0.0):
    """n distinct (pitch, yaw) radians on a small grid."""
    k = np.arange(n)
    return np.radians(np.stack([(k % 3) * step_deg - 5 + offset_deg, (k // 3) * step_deg - 10], 1)).astype(np.float32)


def random_sted_file(path, counts, size=32, seed=0):
    """An ST-ED file of random images and labels, `counts` {person: samples}; returns its path."""
    rng = np.random.default_rng(seed)
    groups = {name: (rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
                     sted_labels(rng.uniform(-0.5, 0.5, (n, 2)), rng.uniform(-0.4, 0.4, (n, 2))))
              for name, n in counts.items()}
    return str(write_sted(path, groups))
