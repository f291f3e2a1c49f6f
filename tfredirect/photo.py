"""Redirecting a face in a user's photo: detect, normalize, redirect, keep, paste back.

The path of `tools/redirect.py`, the page and the real-photo benchmark. When only the gaze
changes (no head target), the redirected patch is kept equal to the input outside the eye
regions of the face mesh (`appearance.eye_region`) and only those regions are pasted into
the photo, so the rest of the photo is the original, pixel for pixel. A head change
repaints the face and is pasted with the elliptic face mask.
"""

import dataclasses
import functools
from typing import Optional

import numpy as np

from tfredirect import appearance, face, facemesh, normalization

KEEP = ("auto", "eyes", "face")


@dataclasses.dataclass(frozen=True)
class PhotoFace:
    """A face of a photo, normalized: `normalized` (NormalizedFace), the face mesh `mesh`
    (FaceMesh, None when the landmarks were given), `index` among the `found` faces."""

    normalized: normalization.NormalizedFace
    mesh: Optional[facemesh.FaceMesh] = None
    index: int = 0
    found: int = 1

    def eye_region(self):
        """The eye regions' mask at the patch's size, or None without a mesh; made once per face
        (every redirection of it, e.g. each slider move on the page, pastes with the same one)."""
        return self._eye_region

    @functools.cached_property
    def _eye_region(self):
        if self.mesh is None:
            return None
        rings = normalization.to_patch(self.normalized, self.mesh.eye_rings.reshape(-1, 2)).reshape(2, -1, 2)
        return appearance.eye_region(self.normalized.size, rings)


def find_faces(image_rgb, size, camera=None, landmarks=None, face_model=None, detector="mesh", which="largest",
               source=None, **normalize_kwargs):
    """The photo's faces to redirect, as PhotoFace: `which` is "largest", "all" or an index
    (0 is the largest). Given `landmarks` (5 or 6 points) there is one face and no mesh."""
    if landmarks is not None or detector != "mesh":
        nf = face.prepare_photo(image_rgb, size, camera=camera, landmarks=landmarks, face_model=face_model,
                                detector=detector, source=source, **normalize_kwargs)
        return [PhotoFace(nf)]
    meshes = facemesh.detect(image_rgb, source=source)
    # face.prepare_photo refuses an index beyond the faces found
    chosen = range(len(meshes)) if which == "all" else [0 if which == "largest" else int(which)]
    return [PhotoFace(face.prepare_photo(image_rgb, size, camera=camera, face_model=face_model, faces=meshes,
                                         face_index=i, source=source, **normalize_kwargs), meshes[i], i,
                      len(meshes))
            for i in chosen]


def redirect_patch(model, photo_face, target_gaze=None, target_head=None, keep="auto", eye_pixels="auto"):
    """(patch, mask, parts): the redirected patch of `photo_face`, the mask to paste it
    with, and the decoder's parts (None unless eye_pixels is "moved" or "photo").

    keep: "eyes" keeps the input outside the eye regions (needs a mesh), "face" pastes the
    whole face, "auto" is "eyes" when there is a mesh and no head target. eye_pixels:
    "decoded" (the model's output), "moved" (the warp decoder's moved input pixels only) or
    "photo" (the warping decoders' composition redone at the photo's resolution when pasted
    back); "auto" is "photo" for a warping decoder when keep is "eyes", else "decoded"."""
    if keep not in KEEP:
        raise ValueError(f"keep must be one of {KEEP}, got {keep!r}")
    if eye_pixels not in appearance.EYE_PIXELS:
        raise ValueError(f"eye_pixels must be one of {appearance.EYE_PIXELS}, got {eye_pixels!r}")
    if keep == "auto":
        keep = "eyes" if photo_face.mesh is not None and target_head is None else "face"
    if keep == "eyes" and photo_face.mesh is None:
        raise ValueError("keeping all but the eyes needs the face mesh (not given landmarks or MTCNN's points)")
    if eye_pixels == "auto":
        warps = getattr(getattr(model, "decoder", None), "warps", False)
        eye_pixels = "photo" if warps and keep == "eyes" else "decoded"
    patch = photo_face.normalized.patch
    wants_parts = eye_pixels != "decoded"
    parts = model.redirect(patch[None], target_gaze=target_gaze, target_head=target_head, return_parts=wants_parts)
    if wants_parts:
        if "warped" not in parts:
            raise ValueError(f"eye_pixels={eye_pixels!r} needs a model with a warping decoder (warp or move)")
        parts = {k: np.asarray(v)[0] for k, v in parts.items()}
        out = parts["warped"] if eye_pixels == "moved" else parts["image"]
    else:
        out, parts = np.asarray(parts)[0], None
    mask = normalization.face_mask(out.shape[0]) if keep == "face" else photo_face.eye_region()
    if keep == "eyes":
        out = appearance.keep_outside(patch, out, mask)
    return out, mask, parts if eye_pixels == "photo" else None


def redirect_photo(model, image_rgb, photo_faces, target_gaze=None, target_head=None, keep="auto",
                   eye_pixels="auto"):
    """(pasted photo, [redirected patch per face]): every face of `photo_faces` redirected to
    the targets ((1, 2) radians or None) and pasted back into a copy of the photo."""
    pasted, patches = np.asarray(image_rgb)[..., :3].copy(), []
    for pf in photo_faces:
        out, mask, parts = redirect_patch(model, pf, target_gaze, target_head, keep, eye_pixels)
        if parts is None:
            pasted = normalization.paste_back(pasted, pf.normalized, out, mask=mask)
        else:
            pasted = normalization.paste_moved(pasted, pf.normalized, parts["flow"],
                                               parts["mask"][..., 0], parts["rgb"], mask,
                                               gain=parts["gain"][..., 0] if "gain" in parts else None)
        patches.append(out)
    return pasted, patches
