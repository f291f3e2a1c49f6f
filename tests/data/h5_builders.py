"""Small files in the exact public layouts (written with raw h5py / OpenCV, independent of
the library's writers) and images whose colour encodes (person, row)."""

import h5py
import numpy as np


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
    gaze, head = np.asarray(gaze, np.float32), np.asarray(head, np.float32)
    return np.concatenate([gaze, head, gaze, gaze], axis=1)


def _row_chunks(images, **options):
    """One chunk per image, as the published files store them (h5py refuses chunks on empty data)."""
    return {"chunks": (1,) + images.shape[1:], **options} if len(images) else {}


def write_sted(path, groups):
    """groups: {name: (pixels (n,S,S,3) uint8 RGB, labels (n,8))} -> ST-ED h5."""
    with h5py.File(path, "w") as f:
        for name, (pixels, labels) in groups.items():
            g = f.create_group(name)
            g.create_dataset("pixels", data=pixels, **_row_chunks(pixels, compression="lzf"))
            g.create_dataset("labels", data=labels)
    return path


def write_xgaze(path, patches_bgr, gaze, head, **extra):
    """ETH-XGaze subject file; gaze=None writes the unlabeled test-split layout."""
    n = len(patches_bgr)
    with h5py.File(path, "w") as f:
        f.create_dataset("face_patch", data=patches_bgr, **_row_chunks(patches_bgr))
        if gaze is not None:
            f.create_dataset("face_gaze", data=np.asarray(gaze, np.float32))
        f.create_dataset("face_head_pose", data=np.asarray(head, np.float32))
        f.create_dataset("face_mat_norm", data=np.tile(np.eye(3, dtype=np.float32), (n, 1, 1)))
        f.create_dataset("frame_index", data=np.arange(n))
        f.create_dataset("cam_index", data=np.zeros(n, np.int64))
        for key, value in extra.items():
            f.create_dataset(key, data=value)
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
