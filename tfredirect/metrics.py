"""Image and angle metrics, one implementation each, shared by training, export parity and
the experiments.

The pixel metrics are written with `keras.ops`, so the same function serves NumPy arrays
(evaluation, export parity) and tensors inside a traced train step (the GAN's PSNR). They
are per sample (reduced over all axes but the first) unless `per_sample=False`. Angles:
`geometry.angular_error` is the one formula; `angular_error_deg` is its NumPy view.
"""

import numpy as np
from keras import ops

from tfredirect import geometry, imaging

# PSNR is capped here (mean squared error floored at 1e-10 of the squared peak), so identical
# images give a finite number that a JSON file can hold.
MAX_PSNR_DB = 100.0


def _pair(x, y):
    return ops.cast(ops.convert_to_tensor(x), "float32"), ops.cast(ops.convert_to_tensor(y), "float32")


def _axes(x, per_sample):
    return tuple(range(1, len(x.shape))) if per_sample else None


def mean_abs_error(x, y, scale=1.0, per_sample=True):
    """Mean |x - y| / scale (L1 in the units of `scale`, e.g. 255 for uint8 images in 0..1)."""
    x, y = _pair(x, y)
    return ops.mean(ops.abs(x - y), axis=_axes(x, per_sample)) / scale


def psnr(x, y, peak=1.0, per_sample=True):
    """Peak signal-to-noise ratio in dB: 10 log10(peak^2 / MSE), at most MAX_PSNR_DB.

    `peak` is the value range: 255 for uint8 images, 1 for [0, 1], 2 for [-1, 1]."""
    x, y = _pair(x, y)
    return _capped_psnr(ops.mean(ops.square(x - y), axis=_axes(x, per_sample)), peak)


def _capped_psnr(mse, peak, maximum=ops.maximum, log10=ops.log10):
    """PSNR in dB of a mean squared error, at most MAX_PSNR_DB (keras ops, or NumPy's)."""
    return 10.0 * log10(peak**2 / maximum(mse, peak**2 * 10.0 ** (-MAX_PSNR_DB / 10.0)))


def psnr_from_mse(mse, peak):
    """PSNR in dB (NumPy) of mean squared errors, capped as `psnr`."""
    return _capped_psnr(np.asarray(mse, np.float64), peak, np.maximum, np.log10)


def ssim_filter_size(size):
    """The Gaussian window of SSIM: 11 px (the usual), shrunk to fit small images."""
    return min(11, size // 4 * 2 - 1)


def ssim(x, y, peak=1.0):
    """Per-image SSIM (tf.image.ssim, Gaussian window of ssim_filter_size) of (B, H, W, C) batches."""
    import tensorflow as tf

    x, y = _pair(x, y)
    return tf.image.ssim(x, y, max_val=float(peak), filter_size=ssim_filter_size(int(x.shape[1])))


def pixel_metrics(pred, truth):
    """Per-image L1 (in 0..1 units), PSNR (dB) and SSIM of uint8 RGB batches, as NumPy."""
    return {"l1": np.asarray(mean_abs_error(pred, truth, scale=255.0)),
            "psnr": np.asarray(psnr(pred, truth, peak=255.0)),
            "ssim": np.asarray(ssim(pred, truth, peak=255.0))}


def _eye_regions(mask, min_pixels):
    """The eyes of one coverage mask (H, W): boolean maps of its connected parts of at
    least `min_pixels` pixels more than half covered."""
    import cv2

    count, labels = cv2.connectedComponents((np.asarray(mask) > 0.5).astype(np.uint8), connectivity=8)
    regions = [labels == i for i in range(1, count)]
    return [r for r in regions if r.sum() >= min_pixels]


def iris_centroid(image, region):
    """(x, y) of the darkness-weighted centroid of `region` in an RGB image: weights are the
    squared darkness relative to the region's own brightest and darkest pixel, so the iris
    and pupil (dark against the sclera) dominate whatever the light."""
    lum = np.asarray(image, np.float64).mean(-1)[region]
    w = np.square((lum.max() - lum) / (lum.max() - lum.min() + 1e-6))
    ys, xs = np.nonzero(region)
    total = w.sum()
    if total <= 0:
        return np.array([xs.mean(), ys.mean()])
    return np.array([(w * xs).sum() / total, (w * ys).sum() / total])


def _iris_error_px(image, truth, regions):
    return np.mean([np.linalg.norm(iris_centroid(image, r) - iris_centroid(truth, r)) for r in regions])


REST_MARGIN_PX = 2  # eye_metrics' rest_psnr leaves out the eyes and this margin around them


def rest_mask(eye_mask, margin=REST_MARGIN_PX):
    """Boolean map (H, W) of the pixels more than `margin` px (square neighbourhood) from
    every pixel that a coverage mask (H, W) covers by more than half."""
    import cv2

    near = np.ones((2 * margin + 1,) * 2, np.uint8)
    return cv2.dilate((np.asarray(eye_mask) > 0.5).astype(np.uint8), near) == 0


def eye_metrics(pred, truth, eye_mask, source=None, min_pixels=3):
    """Per-image eye metrics of uint8 RGB batches against exact renders, whose visible-eyeball
    coverage masks (N, H, W) say where the eyes are:
    - `eye_psnr`: PSNR (dB) over the eye pixels;
    - `iris_error_px`: distance (pixels) between the iris centroids (`iris_centroid`) of the
      prediction and of the truth inside the same eye, averaged over the eyes;
    - `source_iris_error_px` (with `source`, the unredirected inputs): the same distance for
      the sources, the scale of the one above;
    - `rest_psnr`: PSNR (dB) over the pixels more than `REST_MARGIN_PX` from any eye pixel:
      what a gaze redirection should leave as it was.
    Judge-free measures of the eyes; NaN where the truth shows no eye (`rest_psnr` is then
    over the whole image)."""
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    source = None if source is None else np.asarray(source, np.float64)
    keys = ("eye_psnr", "iris_error_px") + (("source_iris_error_px",) if source is not None else ())
    out = {key: np.full(len(pred), np.nan) for key in keys}
    out["rest_psnr"] = np.full(len(pred), np.nan)
    for i, mask in enumerate(np.asarray(eye_mask)):
        rest = rest_mask(mask)
        out["rest_psnr"][i] = _capped_psnr(np.mean(np.square(pred[i][rest] - truth[i][rest])), 255.0,
                                           np.maximum, np.log10)
        regions = _eye_regions(mask, min_pixels)
        if not regions:
            continue
        inside = np.any(regions, axis=0)
        out["eye_psnr"][i] = _capped_psnr(np.mean(np.square(pred[i][inside] - truth[i][inside])), 255.0,
                                          np.maximum, np.log10)
        out["iris_error_px"][i] = _iris_error_px(pred[i], truth[i], regions)
        if source is not None:
            out["source_iris_error_px"][i] = _iris_error_px(source[i], truth[i], regions)
    return out


def angular_error_deg(a, b):
    """Per-sample angle in degrees between (pitch, yaw) radian directions, as NumPy float64."""
    return np.asarray(geometry.angular_error(np.asarray(a, np.float32), np.asarray(b, np.float32)), np.float64)


class EstimatorJudge:
    """An independent GazeHeadEstimator used as a metric: reads (gaze, head) radians off uint8
    RGB images, so redirected images can be scored against the labels they should show."""

    def __init__(self, estimator, batch_size=64):
        self.estimator, self.batch_size = estimator, batch_size
        self.image_size = estimator.image_size

    @classmethod
    def load(cls, path, batch_size=64):
        """The judge of an estimator.keras file (tools/train_estimator.py)."""
        from tfredirect.training.estimation import load_estimator

        return cls(load_estimator(path), batch_size)

    def __call__(self, images):
        out = [self.estimator(imaging.to_model_range(images[s : s + self.batch_size]), training=False)
               for s in range(0, len(images), self.batch_size)]
        return (np.concatenate([np.asarray(o["gaze"]) for o in out]),
                np.concatenate([np.asarray(o["head"]) for o in out]))

    def errors(self, images, gaze, head):
        """Per-image judged (gaze, head) errors in degrees against the labels (radians)."""
        got_gaze, got_head = self(images)
        return angular_error_deg(got_gaze, gaze), angular_error_deg(got_head, head)
