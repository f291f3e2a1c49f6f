"""Keeping the person's own appearance when only the gaze changes.

A gaze change moves the eyeballs and the lids; everything else in the face must stay as it
was. `eye_region` is a feathered mask over the two eyes of a normalized patch, from the lid
margins of the face mesh (or any outline of each eye); `keep_outside` makes the redirected
patch equal to the input outside it, by construction, and `normalization.paste_back` with
the same mask leaves the photo untouched there. Inside, `EYE_PIXELS` says what fills the
region: the decoder's output (`decoded`), only the input's own pixels moved by the warp
decoder's flow (`moved`), which keeps the person's iris colour and skin whatever the
decoder has learned to paint, or the decoder's composition redone at the photo's
resolution (`photo`: the photo's own pixels moved by the flow, blended with the decoded
colour and re-lit, `normalization.paste_moved`), which keeps their sharpness. `auto` (the
default) is `photo` for a warping decoder when only the eye regions are redrawn, else
`decoded`.
"""

import cv2
import numpy as np

EYE_PIXELS = ("auto", "decoded", "moved", "photo")
GROW = 0.3  # the region reaches this many eye widths beyond the lid margins, then ...
FEATHER = 0.3  # ... falls to 0 over this many eye widths


def eye_region(size, eyes, grow=GROW, feather=FEATHER, supersample=4):
    """(size, size) float32 in [0, 1]: 1 within `grow` eye widths of each eye's outline,
    falling smoothly (smoothstep) to 0 over the next `feather` eye widths.

    eyes: (E, K, 2) patch pixels (OpenCV convention, pixel centres at integers), K >= 2
    points outlining each eye (the lid margins; two points are taken as the corners). The
    eye width is the outline's largest extent."""
    eyes = np.asarray(eyes, np.float64)
    if eyes.ndim != 3 or eyes.shape[-1] != 2 or eyes.shape[1] < 2 or not np.all(np.isfinite(eyes)):
        raise ValueError(f"eyes must be finite (E, K >= 2, 2) outline points, got shape {eyes.shape}")
    big = size * supersample
    out = np.zeros((big, big), np.float32)
    for outline in eyes:
        width = float(np.ptp(outline, axis=0).max())
        if width <= 0:
            raise ValueError("an eye outline has zero width")
        canvas = np.full((big, big), 255, np.uint8)
        hull = cv2.convexHull(np.round((outline + 0.5) * supersample - 0.5).astype(np.int32))
        cv2.fillConvexPoly(canvas, hull, 0)
        dist = cv2.distanceTransform(canvas, cv2.DIST_L2, 5) / (supersample * width)
        t = np.clip(1.0 - (dist - grow) / feather, 0.0, 1.0)
        out = np.maximum(out, t * t * (3.0 - 2.0 * t))
    if supersample > 1:
        out = cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)
    return out.astype(np.float32)


def keep_outside(source, redirected, region):
    """region * redirected + (1 - region) * source, rounded to uint8: the source exactly where
    the region is 0. source, redirected: (..., S, S, 3) uint8; region: (S, S) in [0, 1]."""
    source, redirected = np.asarray(source), np.asarray(redirected)
    if source.shape != redirected.shape:
        raise ValueError(f"source {source.shape} and redirected {redirected.shape} differ in shape")
    m = np.asarray(region, np.float32)[..., None]
    if m.shape[:2] != source.shape[-3:-1]:
        raise ValueError(f"region {m.shape[:2]} does not match the images' {source.shape[-3:-1]}")
    blended = np.rint(m * redirected.astype(np.float32) + (1.0 - m) * source.astype(np.float32))
    return np.where(m > 0, np.clip(blended, 0, 255), source).astype(np.uint8)
