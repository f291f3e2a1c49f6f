"""SynthGaze renderer: a procedural 3-D head ray-cast by a pinhole camera, in TF ops.

Scene, in millimetres, in the normalized-camera convention of MODEL.md: the camera sits at
the origin looking along +z (x right, y down); the face centre is on the optical axis at
`DISTANCE`. The head frame has the same axes when the head pose is (0, 0), with the face
towards -z; head pose (pitch, yaw) maps head to camera coordinates by
`M = R_y(yaw) @ R_x(-pitch)`, so the face's forward axis (0, 0, -1) becomes
`geometry.pitchyaw_to_vector(head)`. Both eyeballs' optical axes are parallel to the
camera-frame gaze vector.

Objects: a head ellipsoid (skin, hair region, painted brows and mouth), a nose ellipsoid,
two eyeball spheres seen through almond-shaped lid openings (sclera, iris, pupil; the upper
lid follows the eye-in-head pitch), a neck cylinder fixed in the camera frame, and a shaded
background. Lambertian + ambient light from a per-image direction. Rendered at
`supersample` x the size and box-filtered for anti-aliasing. The whole renderer is one
XLA-compiled function per (size, supersample, appearance), which fuses the per-pixel work
into loops; chunks of images run on parallel threads.

Appearance "plain" is the flat-colour look above. "textured" adds, all pure functions of the
identity, the nuisance and the labels (so `render_target` stays exact): an iris texture in
the eyeball's own frame (radial fibres from a per-person mix of angular frequencies, crypts,
a collarette and a dark limbal ring; brown, hazel/green and blue/grey colours in proportion
60/20/20), a corneal glint from the light direction, a shadow of the upper lid on the
eyeball, skin value noise in head-frame coordinates (blotches, redness, mottling and pores,
fading out where finer than the sub-pixels), a lower-lid line and an upper-lid crease, brows
of noise-broken hair strokes and streaked hair, and per-image camera effects (slight blur, a
colour cast, sensor noise hashed from the pixel index). Per-person texture seeds come from a
hash of the identity values and per-image ones from the nuisance values (`scene_params`), so
no new identity or nuisance fields exist and plain datasets are unchanged.
"""

import concurrent.futures
import functools
import os

import numpy as np
import tensorflow as tf

from tfredirect.config import NORMALIZED_FOCAL_224

DISTANCE = 720.0  # mm from camera to face centre
FOCAL_224 = NORMALIZED_FOCAL_224  # focal length in px for a 224 px image
SUPPORTED_SIZES = (32, 64, 96, 128, 224)
APPEARANCES = ("plain", "textured")

# Identity parameters: one column each, documented ranges in synthgaze.IDENTITY_RANGES.
IDENTITY_FIELDS = (
    "skin_tone",  # 0 light .. 1 dark
    "skin_warmth",  # 0 pink .. 1 yellow
    "hair_dark",  # 0 blond/grey .. 1 black
    "hair_red",  # 0 neutral .. 1 red
    "hair_line",  # normalized height of the hairline
    "hair_length",  # how far the hair reaches down the sides
    "iris_hue",  # 0 blue .. 0.5 green .. 1 brown
    "iris_dark",  # 0 light .. 1 dark
    "face_width",  # scale of the head's x radius
    "face_height",  # scale of the head's y radius
    "eye_spacing",  # scale of the inter-eye distance
    "eye_size",  # scale of eyeballs and lid openings
    "nose_size",
    "mouth_width",
    "brow_thickness",
    "brow_height",  # mm above the default brow line
)
# Nuisance (per image): light azimuth/elevation (rad), intensity, ambient, background RGB, gradient.
NUISANCE_FIELDS = ("light_azimuth", "light_elevation", "light_intensity", "ambient", "bg_r", "bg_g", "bg_b", "bg_gradient")

# Fixed head geometry (mm), scaled by identity where noted.
HEAD_CENTER = (0.0, -8.0, 70.0)
HEAD_RADII = (74.0, 94.0, 76.0)  # x (face_width), y (face_height), z
EYE_X, EYE_Y = 31.0, -18.0  # eye centres (x scaled by eye_spacing)
EYE_RADIUS = 13.0  # eyeball radius (scaled by eye_size)
IRIS_RADIUS, PUPIL_RADIUS = 7.2, 2.9
LID_HALF_WIDTH, LID_UP, LID_DOWN = 16.5, 9.0, 6.5
NOSE_Y, NOSE_RADII = 12.0, (10.5, 21.0, 13.0)
MOUTH_Y = 42.0
NECK_RADIUS, NECK_TOP, NECK_Z = 42.0, 40.0, 85.0
# Textured appearance: iris fibre frequencies (cycles around the iris) and crypts per eye, the
# tilt of the corneal normal, the levels per channel of a packed sub-pixel.
FIBRE_FREQS, CRYPTS = (4, 7, 11, 17, 26, 38), 3
CORNEA_TILT = 1.8
SUB_BATCH, MAX_CHUNK = 16, 128  # textured: images per step of the in-XLA loop, per XLA run
RGB_LEVELS = 511.0


def _ellipsoid_hit(ox, oy, oz, dx, dy, dz, c, r):
    """Nearest positive ray parameter t of an axis-aligned ellipsoid (inf when missed)."""
    px, py, pz = (ox - c[0]) / r[0], (oy - c[1]) / r[1], (oz - c[2]) / r[2]
    qx, qy, qz = dx / r[0], dy / r[1], dz / r[2]
    a = qx * qx + qy * qy + qz * qz
    b = 2.0 * (px * qx + py * qy + pz * qz)
    cc = px * px + py * py + pz * pz - 1.0
    disc = b * b - 4.0 * a * cc
    t = (-b - tf.sqrt(tf.maximum(disc, 0.0))) / (2.0 * a)
    return tf.where((disc > 0.0) & (t > 0.0), t, tf.fill(tf.shape(t), np.float32(np.inf)))


def _unit(x, y, z):
    n = tf.math.rsqrt(x * x + y * y + z * z + 1e-12)
    return x * n, y * n, z * n


def _mix(a, b, w):
    return [ai + (bi - ai) * w for ai, bi in zip(a, b)]


def _select(mask, a, b):
    return [tf.where(mask, ai, bi) for ai, bi in zip(a, b)]


def check_appearance(appearance):
    """The appearance name, or a ValueError naming the choices."""
    if not isinstance(appearance, str) or appearance not in APPEARANCES:
        raise ValueError(f"appearance must be one of {APPEARANCES}, got {appearance!r}")
    return appearance


# ---------------------------------------------------------------- textured appearance (TF)
def _u32(v):
    return tf.constant(v & 0xFFFFFFFF, tf.uint32)


def _smoothstep(e0, e1, x):
    t = tf.clip_by_value((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _hash32(x):
    """lowbias32 integer hash of uint32 tensors (wrapping arithmetic, exact under XLA)."""
    x = x ^ tf.bitwise.right_shift(x, _u32(16))
    x = x * _u32(0x7FEB352D)
    x = x ^ tf.bitwise.right_shift(x, _u32(15))
    x = x * _u32(0x846CA68B)
    return x ^ tf.bitwise.right_shift(x, _u32(16))


def _unit_float(h):
    """Uniform [0, 1) float32 from the top 24 bits of a uint32 hash."""
    return tf.cast(tf.bitwise.right_shift(h, _u32(8)), tf.float32) * np.float32(1.0 / (1 << 24))


def _value_noise(x, y, seed):
    """Smooth 2-D value noise in [0, 1) on the unit lattice; x, y >= 0 (in cells), seed uint32."""
    x0, y0 = tf.floor(x), tf.floor(y)
    fx, fy = x - x0, y - y0
    fx, fy = fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy)
    i = tf.cast(x0, tf.uint32) * _u32(0x8DA6B343) + seed
    j = tf.cast(y0, tf.uint32) * _u32(0xD8163841)
    i1, j1 = i + _u32(0x8DA6B343), j + _u32(0xD8163841)
    v00, v10 = _unit_float(_hash32(i + j)), _unit_float(_hash32(i1 + j))
    v01, v11 = _unit_float(_hash32(i + j1)), _unit_float(_hash32(i1 + j1))
    top = v00 + (v10 - v00) * fx
    bottom = v01 + (v11 - v01) * fx
    return top + (bottom - top) * fy


def _cmul(x, y):
    return x[0] * y[0] - x[1] * y[1], x[0] * y[1] + x[1] * y[0]


def _poly_sin(a):
    """sin(a) for |a| <= pi by its Taylor polynomial to a^11 (error below 5e-4)."""
    a2 = a * a
    return a * (1.0 + a2 * (-1 / 6 + a2 * (1 / 120 + a2 * (-1 / 5040 + a2 * (1 / 362880 - a2 / 39916800)))))


def _poly_cos(a):
    """cos(a) for |a| <= pi by its Taylor polynomial to a^12 (error below 2e-4)."""
    a2 = a * a
    return 1.0 + a2 * (-0.5 + a2 * (1 / 24 + a2 * (-1 / 720 + a2 * (1 / 40320 + a2 * (-1 / 3628800 + a2 / 479001600)))))


def _fade(cell_mm, fp):
    """Amplitude of a noise octave of `cell_mm` cells at a sub-pixel footprint `fp` mm: 1 where
    the cells span several sub-pixels, 0 where they would alias into static."""
    return float(np.clip((cell_mm / fp - 1.2) / 1.3, 0.0, 1.0))


def _textured_face(p, tex, skin, hair, head_pt, nose_pt, on_nose, nz, ex, ey, m, lid_shade, head_light,
                   nose_light):
    """Head and nose colours of the textured appearance: skin noise in head-frame surface
    coordinates, lid lines, hair-stroke brows and streaked hair."""
    fp = tex["fp"]
    hx, hy, _ = head_pt
    fx, fy, fz = _select(on_nose, list(nose_pt), list(head_pt))
    # mm across the face: the sine of the angle around the vertical head axis (atan2 is slow)
    su = HEAD_RADII[0] * fx / tf.sqrt(fx * fx + tf.square(HEAD_CENTER[2] - fz) + 1e-6)
    seed = tf.cast(p["tex_seed"], tf.uint32)
    ox, oy = p["tex_ox"], p["tex_oy"]

    def octave(cell, k, u=su, v=fy):
        return _value_noise(u / cell + ox, v / cell + oy, _hash32(seed + _u32(k * 0x9E3779B9)))

    lum = 1.0 + p["sk_a1"] * (octave(11.0, 1) - 0.5)
    red = p["sk_red"] * _smoothstep(0.45, 0.95, octave(7.0, 2))  # blotches of redness
    for cell, k, amp in ((2.0, 3, "sk_a3"), (0.9, 4, "sk_ap")):
        if _fade(cell, fp) > 0.0:  # compile-time: octaves finer than the sub-pixels are left out
            lum = lum + _fade(cell, fp) * p[amp] * (octave(cell, k) - 0.5)
    skin_t = [skin[0] * lum, skin[1] * lum * (1.0 - red), skin[2] * lum * (1.0 - 0.8 * red)]

    # brows: noise-broken strokes slanting outwards and up inside a soft brow band; the same
    # noise evaluation gives the hair its vertical streaks elsewhere
    side = tf.where(hx < 0.0, -1.0, 1.0)
    ub = (hx - side * ex) / (17.0 * p["eye_size"])
    brow_y = ey - 13.0 * p["eye_size"] - p["brow_height"] + 5.0 * ub * ub - 2.0 * side * ub
    half = 1.6 * p["brow_thickness"] * (1.0 - 0.4 * ub * ub) + 0.3
    dv = hy - brow_y
    lateral = side * (hx - side * ex)
    ca, sa = float(np.cos(0.35)), float(np.sin(0.35))
    across = max(0.45, 1.2 * fp)
    in_brow = (tf.abs(ub) < 1.15) & (tf.abs(dv) < 1.4 * half + 2.0) & (nz < 0.0)
    strand_u = tf.where(in_brow, (lateral * ca - dv * sa) / 2.8, su / max(0.6, 1.2 * fp))
    strand_v = tf.where(in_brow, (lateral * sa + dv * ca) / across, fy / 9.0)
    strand = _value_noise(strand_u + oy, strand_v + ox, _hash32(seed + _u32(0x2545F491)))
    env = (1.0 - _smoothstep(0.55, 1.2, tf.abs(dv) / half)) * (1.0 - _smoothstep(0.75, 1.12, tf.abs(ub)))
    brow_cov = tf.where(in_brow, tf.clip_by_value(env * (0.4 + 1.0 * _smoothstep(0.3, 0.65, strand)), 0.0, 1.0), 0.0)
    brow_cov = brow_cov * p["brow_density"]
    hair_t = [h * (0.72 + 0.56 * strand) for h in hair]

    lips = _mix(skin_t, [0.62, 0.22, 0.24], 0.45)
    face_col = skin_t
    face_col = _select(m["lip"], lips, face_col)
    face_col = _select(m["lip_line"], [0.25 * s for s in lips], face_col)
    face_col = _mix(face_col, [0.7 * h * (0.75 + 0.5 * strand) for h in hair], brow_cov)
    face_col = [c * lid_shade for c in face_col]
    face_col = _select(m["socket"], [0.45 * s for s in skin_t], face_col)
    face_col = _select(m["lash"], [0.12 + 0.2 * h for h in hair], face_col)
    face_col = _select(m["hair"], hair_t, face_col)
    return [c * head_light for c in face_col], [c * nose_light for c in skin_t]


def _textured_eye(p, tex, eye_cos, eye_a, eye_b, eye_lid, eye_n, is_iris, is_pupil, cos_iris, light):
    """Eyeball colours of the textured appearance. The iris pattern is a function of the
    angle around the optical axis and the angular distance from it, in the eyeball's own
    frame (`eye_a`, `eye_b`), so it turns with the eye; the glint follows the light."""
    sin_iris = IRIS_RADIUS / EYE_RADIUS
    rho = tf.sqrt(tf.maximum(1.0 - eye_cos * eye_cos, 0.0)) / sin_iris  # 0 centre .. 1 limbus
    ia, ib = eye_a / sin_iris, eye_b / sin_iris
    # fibres: sum_k w_k cos(k theta + phase_k + twist_k rho) over the angle theta around the
    # optical axis, as Re(z^k e^{i(phase + twist rho)}) with z = e^{i theta}: complex powers
    # and a short polynomial instead of atan2 and sin, which XLA runs per element on CPU
    r = tf.sqrt(ia * ia + ib * ib) + 1e-6
    powers = {1: (ia / r, ib / r)}

    def power(k):
        if k not in powers:
            half = power(k // 2)
            sq = _cmul(half, half)
            powers[k] = sq if k % 2 == 0 else _cmul(sq, powers[1])
        return powers[k]

    fib = tf.zeros_like(rho)
    for k, freq in enumerate(FIBRE_FREQS):
        keep = float(np.clip((tex["iris_circ"] / freq - 3.0) / 3.0, 0.0, 1.0))  # no aliased fibres
        if keep < 0.05:
            continue
        twist = p[f"fib_t{k}"] * rho
        ct, st = _poly_cos(twist), _poly_sin(twist)
        # cos and sin of the phase come from scene_params: per-image ops written here would
        # be fused into the per-pixel loop and evaluated per sub-pixel
        cp, sp = p[f"fib_cos{k}"], p[f"fib_sin{k}"]
        za, zb = power(freq)
        fib = fib + (keep * p[f"fib_w{k}"]) * (za * (cp * ct - sp * st) - zb * (sp * ct + cp * st))
    fib = fib * (0.55 + 0.45 * rho)
    crypts = tf.zeros_like(rho)
    for k in range(CRYPTS):
        d2 = tf.square(ia - p[f"cr_a{k}"]) + tf.square(ib - p[f"cr_b{k}"])
        q = tf.maximum(1.0 - d2 / tf.square(p[f"cr_s{k}"]), 0.0)
        crypts = crypts + p[f"cr_d{k}"] * q * q
    r0 = p["collar_r"]
    zone = _smoothstep(r0 - 0.07, r0 + 0.07, rho)
    collar = tf.maximum(1.0 - tf.square((rho - r0) / 0.09), 0.0)
    limbus = _smoothstep(0.68, 1.0, rho)
    factor = ((1.0 + p["fib_c"] * fib) * (1.0 - tf.minimum(crypts, 0.8)) * (1.0 + p["collar_s"] * collar)
              * (1.0 - p["limbal"] * limbus))
    base = _mix([p["iris_in_r"], p["iris_in_g"], p["iris_in_b"]], [p["iris_r"], p["iris_g"], p["iris_b"]], zone)
    iris_col = [c * factor for c in base]
    sclera = _mix([0.93, 0.9, 0.87], [0.84, 0.72, 0.69], 0.45 * _smoothstep(0.35, 1.0, 1.0 - eye_cos))
    eye_col = _select(is_iris, iris_col, sclera)
    eye_col = _select(is_pupil, [0.02, 0.02, 0.025], eye_col)
    lit = (0.35 + 0.75 * light) * (0.5 + 0.5 * eye_lid)
    # glint: mirror reflection of the light, where the surface normal meets the half-vector of
    # light and view. Over the iris the cornea bulges: its normal leans from the optical axis
    # CORNEA_TILT times as far as the eyeball's (about 50 deg at the limbus, as a real cornea's)
    g = [p["gcx"], p["gcy"], p["gcz"]]  # optical axis, camera frame
    along = eye_n[0] * g[0] + eye_n[1] * g[1] + eye_n[2] * g[2]
    cornea = _unit(*[g[i] * (1.0 - CORNEA_TILT) * along + CORNEA_TILT * eye_n[i] for i in range(3)])
    normal = _select(is_iris, list(cornea), list(eye_n))
    h = normal[0] * p["hlx"] + normal[1] * p["hly"] + normal[2] * p["hlz"]
    glint = _smoothstep(tex["glint_cos"][0], tex["glint_cos"][1], h) * (0.55 + 0.6 * p["light_intensity"])
    glint = glint * tf.where(is_iris, 1.0, 0.6)
    return [c * lit + glint for c in eye_col]


def _pack(rgb, masks):
    """One int32 per sub-pixel: 9 bits per colour channel, then one bit per mask (in
    mask_names() order). A single output keeps XLA from re-evaluating the scene per channel."""
    code = tf.zeros(tf.shape(rgb[0]), tf.int32)
    for i, c in enumerate(rgb):
        q = tf.cast(tf.round(tf.clip_by_value(c, 0.0, 1.0) * RGB_LEVELS), tf.int32)
        code = code | tf.bitwise.left_shift(q, 9 * i)
    for i, k in enumerate(sorted(masks)):
        code = code | tf.bitwise.left_shift(tf.cast(masks[k], tf.int32), 27 + i)
    return code


def _camera(rgb, p, size):
    """Per-image camera effects on pooled (N, S, S, 3) colours: a slight binomial blur, a
    colour cast and sensor noise (a hash of the pixel index and the image's seed)."""
    def blur(x, axis):
        cut = lambda a, b: x[(slice(None),) * axis + (slice(a, b),)]
        lo = tf.concat([cut(0, 1), cut(0, -1)], axis)  # edge pixels repeated
        hi = tf.concat([cut(1, None), cut(-1, None)], axis)
        return 0.25 * lo + 0.5 * x + 0.25 * hi

    col = lambda k: tf.reshape(p[k], (-1, 1, 1, 1))
    rgb = rgb + col("cam_blur") * (blur(blur(rgb, 1), 2) - rgb)
    rgb = rgb * tf.reshape(tf.stack([p["cam_r"], p["cam_g"], p["cam_b"]], -1), (-1, 1, 1, 3))
    index = tf.constant(np.arange(size * size * 3, dtype=np.uint32).reshape(1, size, size, 3))
    h = _hash32(index + _hash32(tf.cast(col("cam_seed"), tf.uint32)))
    u = [tf.cast(tf.bitwise.bitwise_and(tf.bitwise.right_shift(h, _u32(10 * i)), _u32(1023)), tf.float32)
         for i in range(3)]
    gauss = (u[0] + u[1] + u[2]) * np.float32(2.0 / 1024.0) - 3.0  # Irwin-Hall, unit variance
    return rgb + col("cam_noise") * (0.5 + tf.clip_by_value(rgb, 0.0, 1.0)) * gauss


def _pixel_rays(size, supersample):
    """Camera-frame ray directions (1, P) for the sub-pixels of a size x size image,
    ordered (row, column, sub-row, sub-column) so a pixel's samples are contiguous."""
    f = FOCAL_224 * size / 224.0
    sub = (np.arange(supersample) + 0.5) / supersample
    pix = np.arange(size, dtype=np.float64)
    rows = (pix[:, None, None, None] + sub[None, None, :, None]) - size / 2.0
    cols = (pix[None, :, None, None] + sub[None, None, None, :]) - size / 2.0
    shape = (size, size, supersample, supersample)
    v, u = np.broadcast_to(rows, shape), np.broadcast_to(cols, shape)
    d = [u.reshape(1, -1) / f, v.reshape(1, -1) / f, np.ones((1, u.size))]
    return [tf.constant(x, tf.float32) for x in d]


def _scene(p, rays, tex=None):
    """Per-pixel colour and masks. `p`: dict of (N, 1) float32 tensors; rays: (1, P).

    tex: None for the plain appearance (whose ops must stay exactly as they are: stored
    results depend on them bit for bit), else a dict of compile-time constants of the
    textured appearance: `fp`, the sub-pixel footprint in mm at the face, `iris_circ`, the
    iris circumference in sub-pixels (textures finer than the sub-pixels fade out), and
    `glint_cos`, the glint's outer and inner cosines between normal and half-vector.
    """
    dcx, dcy, dcz = rays
    m = [[p[f"m{i}{j}"] for j in range(3)] for i in range(3)]  # head -> camera rotation
    # Rays in the head frame (origin at the face centre): o = M^T (0, 0, -D), d = M^T d_cam.
    ox, oy, oz = (-DISTANCE * m[2][i] for i in range(3))
    dx, dy, dz = (m[0][i] * dcx + m[1][i] * dcy + m[2][i] * dcz for i in range(3))
    dx, dy, dz = _unit(dx, dy, dz)

    to_cam = lambda x, y, z: [m[i][0] * x + m[i][1] * y + m[i][2] * z for i in range(3)]
    light = [p["lx"], p["ly"], p["lz"]]  # unit vector towards the light, camera frame
    shade = lambda n: p["ambient"] + p["light_intensity"] * tf.maximum(
        n[0] * light[0] + n[1] * light[1] + n[2] * light[2], 0.0
    )

    # --- head ellipsoid
    hc = (HEAD_CENTER[0], HEAD_CENTER[1], HEAD_CENTER[2])
    hr = (HEAD_RADII[0] * p["face_width"], HEAD_RADII[1] * p["face_height"], HEAD_RADII[2])
    t_head = _ellipsoid_hit(ox, oy, oz, dx, dy, dz, hc, hr)
    hx, hy, hz = ox + t_head * dx, oy + t_head * dy, oz + t_head * dz
    nx, ny, nz = (hx - hc[0]) / hr[0], (hy - hc[1]) / hr[1], (hz - hc[2]) / hr[2]
    head_n = to_cam(*_unit(nx / hr[0], ny / hr[1], nz / hr[2]))

    # --- nose ellipsoid (protrudes from the face)
    nr = tuple(r * p["nose_size"] for r in NOSE_RADII)
    nose_c = (0.0, NOSE_Y * p["face_height"], p["nose_z"])
    t_nose = _ellipsoid_hit(ox, oy, oz, dx, dy, dz, nose_c, nr)
    qx, qy, qz = ox + t_nose * dx, oy + t_nose * dy, oz + t_nose * dz
    nose_n = to_cam(*_unit((qx - nose_c[0]) / nr[0] ** 2, (qy - nose_c[1]) / nr[1] ** 2, (qz - nose_c[2]) / nr[2] ** 2))
    nose_tip = (t_nose < np.inf) & (qz < p["nose_z"] - 0.55 * nr[2])

    # --- eyes: spheres behind almond lid openings
    ex = EYE_X * p["eye_spacing"]
    ey = EYE_Y * p["face_height"]
    er = EYE_RADIUS * p["eye_size"]
    g = [p["ghx"], p["ghy"], p["ghz"]]  # gaze in the head frame (unit)
    cos_iris = tf.sqrt(1.0 - tf.square(IRIS_RADIUS / EYE_RADIUS))
    cos_pupil = tf.sqrt(1.0 - tf.square(PUPIL_RADIUS / EYE_RADIUS))
    lid_up = LID_UP * p["eye_size"] * p["lid_open"]
    lid_down = LID_DOWN * p["eye_size"]
    lid_w = LID_HALF_WIDTH * p["eye_size"]

    def opening(x, y, cx):
        """Inside the almond lid opening (by head-frame x, y) and the lash line just above."""
        u = (x - cx) / lid_w
        bulge = tf.maximum(1.0 - u * u, 0.0)
        top = ey - lid_up * bulge
        inside = (tf.abs(u) < 1.0) & (y > top) & (y < ey + lid_down * bulge)
        lash = (tf.abs(u) < 1.08) & (y <= top) & (y > top - 1.3 * p["eye_size"] - 0.6)
        return inside, lash

    front = (nz < -0.3) & (t_head < np.inf)

    def eyeball(cx):
        """The eyeball centred at head-frame x = cx: its ray hit (t, x, y), unit normal, whether
        the hit shows through the lid opening, the normal's cosine to the gaze, and the lid
        opening ("socket") and lash line on the head surface in front of it."""
        c = (cx, ey, p["eye_z"])
        t = _ellipsoid_hit(ox, oy, oz, dx, dy, dz, c, (er, er, er))
        x, y, z = ox + t * dx, oy + t * dy, oz + t * dz
        inside, _ = opening(x, y, cx)
        visible = (t < np.inf) & inside & (t < t_head + 6.0) & (t < t_nose)
        en = ((x - c[0]) / er, (y - c[1]) / er, (z - c[2]) / er)
        cos_g = en[0] * g[0] + en[1] * g[1] + en[2] * g[2]
        s_in, s_lash = opening(hx, hy, cx)
        return t, x, y, en, visible, cos_g, s_in & front, s_lash & front

    if tex is None:
        t_eye = tf.fill(tf.shape(t_head), np.float32(np.inf))
        eye_cos = tf.zeros_like(t_head)
        eye_n = [tf.zeros_like(t_head)] * 3
        lash = tf.zeros_like(t_head, dtype=tf.bool)
        socket = tf.zeros_like(t_head, dtype=tf.bool)
        for side in (-1.0, 1.0):
            t, _, y, en, visible, cos_g, s_in, s_lash = eyeball(side * ex)
            closer = visible & (t < t_eye)
            t_eye = tf.where(closer, t, t_eye)
            eye_cos = tf.where(closer, cos_g, eye_cos)
            eye_n = _select(closer, to_cam(*en), eye_n)
            lash = lash | s_lash
            socket = socket | s_in
    else:
        # One eye per pixel, the one on the side of the head-surface point: the eyeballs sit at
        # least 13 mm from the midline just behind the surface, and the lid regions do not
        # overlap, so this is the two-eye loop above without its second intersection and
        # selects (XLA would recompute both eyes for every value selected).
        side = tf.where(hx < 0.0, -1.0, 1.0)
        cx = side * ex
        t, x, y, en, visible, eye_cos, socket, lash = eyeball(cx)
        t_eye = tf.where(visible, t, tf.fill(tf.shape(t), np.float32(np.inf)))
        eye_n = to_cam(*en)
        # iris-plane coordinates in the eyeball's frame (mirrored for the other eye), and the
        # upper lid's shadow on the eyeball
        e1, e2 = [p["e1x"], p["e1y"], p["e1z"]], [p["e2x"], p["e2y"], p["e2z"]]
        eye_a = side * (en[0] * e1[0] + en[1] * e1[1] + en[2] * e1[2])
        eye_b = en[0] * e2[0] + en[1] * e2[1] + en[2] * e2[2]
        u = (x - cx) / lid_w
        eye_lid = _smoothstep(0.0, 2.6 * p["eye_size"], y - (ey - lid_up * tf.maximum(1.0 - u * u, 0.0)))
        # a lower-lid line with a soft shadow below it, and an upper-lid crease, on the skin
        w = max(0.8, 1.3 * tex["fp"])  # at least a sub-pixel wide
        u = (hx - cx) / lid_w
        below = hy - (ey + lid_down * tf.maximum(1.0 - u * u, 0.0))
        ends = 1.0 - _smoothstep(0.8, 1.0, tf.abs(u))
        low_line = 0.32 * tf.maximum(1.0 - tf.square((below - 0.5 * w) / w), 0.0)
        low_shadow = 0.12 * (1.0 - _smoothstep(0.0, 4.0 * p["eye_size"], below)) * tf.cast(below > 0.0, tf.float32)
        u_c = u / 1.12
        crease_y = ey - (LID_UP * 1.05 + 3.0) * p["eye_size"] * tf.maximum(1.0 - u_c * u_c, 0.0)
        crease = 0.24 * tf.maximum(1.0 - tf.square((hy - crease_y) / w), 0.0) * (1.0 - _smoothstep(0.75, 0.95, tf.abs(u_c)))
        lid_shade = 1.0 - tf.where(front, ends * (low_line + low_shadow) + crease, 0.0)

    # --- neck: vertical cylinder fixed in the camera frame, below the chin
    zc = DISTANCE + NECK_Z
    a = dcx * dcx + dcz * dcz
    b = -2.0 * zc * dcz
    cc = zc * zc - NECK_RADIUS**2
    disc = b * b - 4.0 * a * cc
    t_neck_cam = (-b - tf.sqrt(tf.maximum(disc, 0.0))) / (2.0 * a)
    neck_y = t_neck_cam * dcy
    neck = (disc > 0.0) & (neck_y > NECK_TOP)
    # the camera ray has unit z component, so t_neck_cam * |d_cam| is the distance; compare
    # with head hits via the z coordinate along the ray
    ray_len = tf.sqrt(dcx * dcx + dcy * dcy + dcz * dcz)
    t_neck = tf.where(neck, t_neck_cam * ray_len, tf.fill(tf.shape(t_neck_cam), np.float32(np.inf)))
    neck_n = list(_unit(t_neck_cam * dcx, tf.zeros_like(t_neck_cam), t_neck_cam * dcz - zc))

    # --- materials
    skin = [p["skin_r"], p["skin_g"], p["skin_b"]]
    hair = [p["hair_r"], p["hair_g"], p["hair_b"]]
    iris = [p["iris_r"], p["iris_g"], p["iris_b"]]
    lips = _mix(skin, [0.62, 0.22, 0.24], 0.45)
    hair_mask = (ny < -p["hair_line"] + 0.45 * nx * nx) | ((nz > -0.35) & (ny < p["hair_length"]))
    u_brow = lambda cx: (hx - cx) / (17.0 * p["eye_size"])
    brow = tf.zeros_like(lash)
    for side in (-1.0, 1.0):
        ub = u_brow(side * ex)
        brow_y = ey - 13.0 * p["eye_size"] - p["brow_height"] + 5.0 * ub * ub - 2.0 * side * ub
        brow = brow | ((tf.abs(ub) < 1.0) & (tf.abs(hy - brow_y) < 1.6 * p["brow_thickness"] * (1.0 - 0.4 * ub * ub)))
    mouth_y = MOUTH_Y * p["face_height"]
    mw = 21.0 * p["mouth_width"]
    um = hx / mw
    lip_h = 5.0 * tf.maximum(1.0 - um * um, 0.0)
    lip = (tf.abs(um) < 1.0) & (tf.abs(hy - mouth_y) < lip_h) & (nz < 0)
    lip_line = lip & (tf.abs(hy - mouth_y - 0.5) < 0.9)

    if tex is None:
        face_col = skin
        face_col = _select(lip, lips, face_col)
        face_col = _select(lip_line, [0.25 * s for s in lips], face_col)
        face_col = _select(brow & (nz < 0), [0.8 * h for h in hair], face_col)
        face_col = _select(socket, [0.45 * s for s in skin], face_col)
        face_col = _select(lash, [0.12 + 0.2 * h for h in hair], face_col)
        face_col = _select(hair_mask, hair, face_col)
        head_rgb = [c * shade(head_n) for c in face_col]
        nose_rgb = [c * shade(nose_n) for c in skin]
    else:
        head_rgb, nose_rgb = _textured_face(
            p, tex, skin, hair, (hx, hy, hz), (qx, qy, qz), t_nose < t_head, nz, ex, ey,
            dict(lip=lip, lip_line=lip_line, socket=socket, lash=lash, hair=hair_mask), lid_shade,
            shade(head_n), shade(nose_n))

    is_pupil = eye_cos > cos_pupil
    is_iris = eye_cos > cos_iris
    if tex is None:
        ring = 1.0 - 0.55 * tf.clip_by_value((1.0 - eye_cos) / (1.0 - cos_iris) * 1.2 - 0.2, 0.0, 1.0) ** 3
        sclera = [0.92, 0.89, 0.86]
        eye_col = _select(is_iris, [c * ring for c in iris], sclera)
        eye_col = _select(is_pupil, [0.03, 0.03, 0.04], eye_col)
        eye_rgb = [c * (0.35 + 0.75 * shade(eye_n)) for c in eye_col]
    else:
        eye_rgb = _textured_eye(p, tex, eye_cos, eye_a, eye_b, eye_lid, eye_n, is_iris, is_pupil, cos_iris,
                                shade(eye_n))

    neck_rgb = [0.8 * c * shade(neck_n) for c in skin]
    vy = dcy / tf.reduce_max(dcy)
    bg = [p[k] * (1.0 - p["bg_gradient"] * vy) for k in ("bg_r", "bg_g", "bg_b")]

    # --- composite by depth
    t_face = tf.minimum(t_head, t_nose)
    rgb = _select(t_neck < np.inf, neck_rgb, bg)
    rgb = _select((t_face < np.inf) & (t_face <= t_neck), _select(t_nose < t_head, nose_rgb, head_rgb), rgb)
    eye_visible = t_eye < np.inf
    rgb = _select(eye_visible, eye_rgb, rgb)
    masks = {
        "eye": eye_visible,
        "iris": eye_visible & is_iris,
        "nose_tip": nose_tip & (t_nose <= t_head) & ~eye_visible,
        "face": (t_face < np.inf) | eye_visible,
    }
    return rgb, masks


@functools.lru_cache(maxsize=None)
def _compiled(size, supersample, appearance="plain"):
    """(scene, finish): the XLA-compiled per-sub-pixel scene, and the step from its output
    (and the chunk's parameters) to uint8 images and float mask coverages. Plain: the scene
    stacks float channels and a box filter kept outside XLA pools them (a reduction fused
    into the scene loop runs several times slower on CPU); this graph is unchanged, so plain
    renders stay bit for bit. Textured: the scene packs each sub-pixel into one int32
    (`_pack`) in a loop over sub-batches of SUB_BATCH images, and a second XLA step unpacks,
    pools and adds the camera effects (`_camera`)."""
    check_appearance(appearance)
    rays = _pixel_rays(size, supersample)
    if appearance == "plain":

        @tf.function(jit_compile=True)
        def scene(params):
            p = {k: v[:, None] for k, v in params.items()}
            rgb, masks = _scene(p, rays)
            channels = [tf.clip_by_value(c, 0.0, 1.0) for c in rgb] + [tf.cast(masks[k], tf.float32) for k in sorted(masks)]
            return tf.stack(channels, axis=-1)

        @tf.function
        def pool(samples):
            stack = tf.reduce_mean(tf.reshape(samples, (-1, size, size, supersample * supersample, samples.shape[-1])), 3)
            return tf.cast(tf.round(stack[..., :3] * 255.0), tf.uint8), stack[..., 3:]

        return scene, lambda samples, params: pool(samples)

    fp = DISTANCE / (FOCAL_224 * size / 224.0) / supersample  # mm per sub-pixel at the face
    # glint: 9 deg of (corneal) normal, at least 0.8 px wide at small sizes
    glint = max(np.radians(9.0), CORNEA_TILT * 0.8 * fp * supersample / EYE_RADIUS)
    tex = {"fp": fp, "iris_circ": 2.0 * np.pi * IRIS_RADIUS / fp,
           "glint_cos": (float(np.cos(glint)), float(np.cos(0.4 * glint)))}

    @tf.function(jit_compile=True)
    def scene(params):
        # a loop over sub-batches inside one XLA run: its (sub-batch, pixels) temporaries are
        # allocated once per run and reused, where one pass over the chunk would allocate
        # (and page-fault) some 100 MB of them per 64 images
        sub = {k: tf.reshape(v, (-1, SUB_BATCH)) for k, v in params.items()}

        def one(part):
            p = {k: v[:, None] for k, v in part.items()}
            return _pack(*_scene(p, rays, tex))

        codes = tf.map_fn(one, sub, fn_output_signature=tf.TensorSpec((SUB_BATCH, rays[0].shape[1]), tf.int32))
        return tf.reshape(codes, (-1, rays[0].shape[1]))

    @tf.function(jit_compile=True)
    def finish(codes, params):
        codes = tf.reshape(codes, (-1, size, size, supersample * supersample))
        field = lambda shift, bits: tf.cast(tf.bitwise.bitwise_and(tf.bitwise.right_shift(codes, shift), bits), tf.float32)
        rgb = tf.stack([tf.reduce_mean(field(9 * i, 511), -1) for i in range(3)], -1) * np.float32(1.0 / RGB_LEVELS)
        masks = tf.stack([tf.reduce_mean(field(27 + i, 1), -1) for i in range(len(mask_names()))], -1)
        rgb = _camera(rgb, params, size)
        return tf.cast(tf.round(tf.clip_by_value(rgb, 0.0, 1.0) * 255.0), tf.uint8), masks

    return scene, lambda codes, params: finish(codes, {k: params[k] for k in CAMERA_PARAMS})


CAMERA_PARAMS = ("cam_seed", "cam_noise", "cam_r", "cam_g", "cam_b", "cam_blur")


def default_workers():
    """Threads rendering chunks at once: the CPUs this process may use (each XLA run of a
    chunk is single-threaded on CPU)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def mask_names():
    """Order of the mask channels returned by `render_arrays(..., masks=True)`."""
    return tuple(sorted(("eye", "iris", "nose_tip", "face")))


def render_arrays(params, size, supersample=2, chunk=None, appearance="plain", workers=None):
    """Render from a dict of per-image (N,) float32 scene parameters (see synthgaze.render;
    `scene_params` with the same `appearance`).

    Returns uint8 images (N, size, size, 3) and float32 mask coverages (N, size, size, 4) in
    the order of `mask_names()`. Chunks of `chunk` images (default: 64 plain; textured, an
    equal share per worker in whole sub-batches, at most MAX_CHUNK) render on `workers`
    threads (default `default_workers()`); the result depends on neither.
    """
    scene, finish = _compiled(int(size), int(supersample), check_appearance(appearance))
    n = len(next(iter(params.values())))
    workers = default_workers() if workers is None else int(workers)
    if chunk is None and appearance == "plain":
        chunk = 64
    elif chunk is None:
        share = -(-n // max(workers, 1))
        chunk = min(MAX_CHUNK, max(SUB_BATCH, -(-share // SUB_BATCH) * SUB_BATCH))

    def render_chunk(s):
        rows = np.arange(s, min(s + chunk, n))
        if appearance == "textured":  # whole sub-batches: repeat the last image, crop after
            rows = np.concatenate([rows, np.full(-len(rows) % SUB_BATCH, rows[-1])])
        part = {k: tf.constant(np.asarray(v)[rows], tf.float32) for k, v in params.items()}
        img, msk = finish(scene(part), part)
        keep = min(chunk, n - s)
        return img.numpy()[:keep], msk.numpy()[:keep]

    starts = range(0, n, chunk)
    workers = min(workers, len(starts))
    if workers > 1:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            done = list(pool.map(render_chunk, starts))
    else:
        done = [render_chunk(s) for s in starts]
    return np.concatenate([d[0] for d in done]), np.concatenate([d[1] for d in done])


def head_rotation(head):
    """Head-to-camera rotation M = R_y(yaw) R_x(-pitch) for head (N, 2) radians, (N, 3, 3)."""
    p, y = head[:, 0].astype(np.float64), head[:, 1].astype(np.float64)
    cp, sp, cy, sy = np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    one, zero = np.ones_like(p), np.zeros_like(p)
    rx = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, cp, sp], -1), np.stack([zero, -sp, cp], -1)], -2)
    ry = np.stack([np.stack([cy, zero, sy], -1), np.stack([zero, one, zero], -1), np.stack([-sy, zero, cy], -1)], -2)
    return ry @ rx


def pitchyaw_vector_np(a):
    """NumPy twin of geometry.pitchyaw_to_vector in float64 (for scene setup only)."""
    p, y = a[:, 0].astype(np.float64), a[:, 1].astype(np.float64)
    return np.stack([-np.cos(p) * np.sin(y), -np.sin(p), -np.cos(p) * np.cos(y)], -1)


def scene_params(identity, gaze, head, nuisance, appearance="plain"):
    """Per-image scene parameters (dict of (N,) float32) from identity (N, len(IDENTITY_FIELDS)),
    gaze and head (N, 2) radians and nuisance (N, len(NUISANCE_FIELDS)). "textured" adds the
    columns of `_textured_params` (the plain ones stay as they are but for the iris colour)."""
    check_appearance(appearance)
    ident = {k: identity[:, i].astype(np.float64) for i, k in enumerate(IDENTITY_FIELDS)}
    nuis = {k: nuisance[:, i].astype(np.float64) for i, k in enumerate(NUISANCE_FIELDS)}
    m = head_rotation(head)
    g_cam = pitchyaw_vector_np(gaze)
    g_head = np.einsum("nji,nj->ni", m, g_cam)  # M^T g
    eye_pitch = np.arcsin(np.clip(-g_head[:, 1], -1, 1))
    out = {f"m{i}{j}": m[:, i, j] for i in range(3) for j in range(3)}
    out.update(ghx=g_head[:, 0], ghy=g_head[:, 1], ghz=g_head[:, 2])
    out["lid_open"] = np.clip(0.78 + 1.05 * np.sin(eye_pitch), 0.12, 1.25)

    tone, warm = ident["skin_tone"], ident["skin_warmth"]
    light_skin, dark_skin = np.array([0.96, 0.80, 0.70]), np.array([0.36, 0.23, 0.16])
    base = light_skin[None] + (dark_skin - light_skin)[None] * tone[:, None]
    base = base * (1.0 + np.array([0.0, 0.05, -0.08])[None] * (warm[:, None] - 0.5))
    out.update(skin_r=base[:, 0], skin_g=base[:, 1], skin_b=base[:, 2])
    blond, black = np.array([0.78, 0.62, 0.38]), np.array([0.07, 0.05, 0.04])
    hair = blond[None] + (black - blond)[None] * ident["hair_dark"][:, None]
    hair = hair + np.array([0.30, -0.02, -0.10])[None] * ident["hair_red"][:, None] * (1 - 0.6 * ident["hair_dark"][:, None])
    out.update(hair_r=hair[:, 0], hair_g=hair[:, 1], hair_b=hair[:, 2])
    blue, green, brown = np.array([0.30, 0.50, 0.78]), np.array([0.35, 0.55, 0.32]), np.array([0.45, 0.27, 0.12])
    h = ident["iris_hue"][:, None]
    iris = np.where(h < 0.5, blue + (green - blue) * (2 * h), green + (brown - green) * (2 * h - 1))
    iris = iris * (1.0 - 0.6 * ident["iris_dark"][:, None])
    out.update(iris_r=iris[:, 0], iris_g=iris[:, 1], iris_b=iris[:, 2])
    for k in ("face_width", "face_height", "eye_spacing", "eye_size", "nose_size", "mouth_width",
              "brow_thickness", "brow_height", "hair_line", "hair_length"):
        out[k] = ident[k]

    # depth of eyes and nose so they sit on the head surface for this face shape
    def surface_z(x, y):
        hx = HEAD_RADII[0] * ident["face_width"]
        hy = HEAD_RADII[1] * ident["face_height"]
        r = 1.0 - (x / hx) ** 2 - ((y - HEAD_CENTER[1]) / hy) ** 2
        return HEAD_CENTER[2] - HEAD_RADII[2] * np.sqrt(np.maximum(r, 0.05))

    er = EYE_RADIUS * ident["eye_size"]
    out["eye_z"] = surface_z(EYE_X * ident["eye_spacing"], EYE_Y * ident["face_height"]) + er - 2.0
    out["nose_z"] = surface_z(0.0, NOSE_Y * ident["face_height"]) + 2.0

    az, el = nuis["light_azimuth"], nuis["light_elevation"]
    out.update(lx=np.cos(el) * np.sin(az), ly=-np.sin(el), lz=-np.cos(el) * np.cos(az))
    for k in ("light_intensity", "bg_r", "bg_g", "bg_b", "bg_gradient"):
        out[k] = nuis[k]
    out["ambient"] = nuis["ambient"]
    if appearance == "textured":
        out.update(_textured_params(identity, nuisance, ident, g_head, g_cam, out))
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


# ---------------------------------------------------------------- textured appearance (NumPy)
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x):
    x = (x + _GOLDEN) & _MASK64
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
    return x ^ (x >> np.uint64(31))


def row_keys(values, salt):
    """A uint64 key per row: SplitMix64 chained over the float32 bits of each column (so a
    person's texture seed is a pure function of its identity values)."""
    bits = np.ascontiguousarray(np.asarray(values, np.float32)).view(np.uint32).astype(np.uint64)
    with np.errstate(over="ignore"):
        key = _splitmix64(np.full(len(bits), np.uint64(salt), np.uint64))
        for j in range(bits.shape[1]):
            key = _splitmix64(key ^ bits[:, j])
    return key


def _draws(key, count):
    """Uniform [0, 1) floats (N, count) from row keys."""
    with np.errstate(over="ignore"):
        lanes = _splitmix64(key[:, None] ^ (np.arange(1, count + 1, dtype=np.uint64)[None] * _GOLDEN))
    return (lanes >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def iris_colours(hue, dark):
    """Textured iris colours (outer, pupillary zone), each (N, 3), from the identity's iris_hue
    and iris_dark (uniform [0, 1]): hue < 0.6 browns (dark brown the most common), < 0.8
    hazel to green, else blue to grey; iris_dark darkens."""
    hue, dark = np.asarray(hue, np.float64)[:, None], np.asarray(dark, np.float64)[:, None]
    lerp = lambda a, b, t: np.asarray(a) + (np.asarray(b) - np.asarray(a)) * np.clip(t, 0.0, 1.0)
    t = hue / 0.6
    brown = np.where(t < 0.65, lerp([0.17, 0.095, 0.05], [0.34, 0.19, 0.085], t / 0.65),
                     lerp([0.34, 0.19, 0.085], [0.5, 0.31, 0.12], (t - 0.65) / 0.35))
    hazel = lerp([0.44, 0.34, 0.15], [0.3, 0.4, 0.22], (hue - 0.6) / 0.2)
    blue = lerp([0.3, 0.44, 0.62], [0.48, 0.52, 0.53], (hue - 0.8) / 0.2)
    outer = np.where(hue < 0.6, brown, np.where(hue < 0.8, hazel, blue)) * (1.0 - 0.3 * dark)
    # pupillary zone: darker in browns, golden brown in hazel/green, a pale ring in blue/grey
    inner = np.where(hue < 0.6, 0.72 * outer,
                     np.where(hue < 0.8, lerp(outer, [0.4, 0.25, 0.09], 0.75), lerp(outer, [0.55, 0.52, 0.4], 0.35)))
    return outer, inner


def _textured_params(identity, nuisance, ident, g_head, g_cam, out):
    """Columns of the textured appearance: the eyeball frame, the light's half-vector, iris
    colours and pattern, skin/brow noise seeds and amplitudes (per person, from a hash of the
    identity values) and camera effects (per image, from a hash of identity and nuisance)."""
    n = len(identity)
    res = {}
    # eyeball frame: the minimal rotation taking the rest axis (0, 0, -1) to the gaze
    r0 = np.array([0.0, 0.0, -1.0])
    v = np.cross(np.broadcast_to(r0, g_head.shape), g_head)
    c = g_head @ r0
    vx = np.zeros((n, 3, 3))
    vx[:, 0, 1], vx[:, 0, 2], vx[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
    vx[:, 1, 0], vx[:, 2, 0], vx[:, 2, 1] = v[:, 2], -v[:, 1], v[:, 0]
    rot = np.eye(3)[None] + vx + (vx @ vx) / (1.0 + c)[:, None, None]
    for k, axis in (("e1", 0), ("e2", 1)):
        for i, name in enumerate("xyz"):
            res[f"{k}{name}"] = rot[:, i, axis]
    half = np.stack([out["lx"], out["ly"], out["lz"] - 1.0], -1)  # light + view (0, 0, -1)
    half /= np.linalg.norm(half, axis=1, keepdims=True)
    res.update(hlx=half[:, 0], hly=half[:, 1], hlz=half[:, 2], gcx=g_cam[:, 0], gcy=g_cam[:, 1], gcz=g_cam[:, 2])

    outer, inner = iris_colours(ident["iris_hue"], ident["iris_dark"])
    u = _draws(row_keys(identity, 0x5EED7E47), 48)
    inner = outer + (inner - outer) * (0.6 + 0.6 * u[:, :1])
    for i, ch in enumerate("rgb"):
        res[f"iris_{ch}"], res[f"iris_in_{ch}"] = outer[:, i], inner[:, i]
    weights = 0.15 + u[:, 1 : 1 + len(FIBRE_FREQS)]
    weights /= weights.sum(1, keepdims=True)
    for k in range(len(FIBRE_FREQS)):  # a per-person mix of the angular frequencies
        res[f"fib_w{k}"] = weights[:, k]
        phase = 2.0 * np.pi * u[:, 7 + k]
        res[f"fib_cos{k}"], res[f"fib_sin{k}"] = np.cos(phase), np.sin(phase)
        res[f"fib_t{k}"] = 2.5 * (2.0 * u[:, 13 + k] - 1.0)
    res["fib_c"] = 0.3 + 0.3 * u[:, 21]
    for k in range(CRYPTS):
        angle, radius = 2.0 * np.pi * u[:, 22 + k], 0.45 + 0.4 * u[:, 25 + k]
        res[f"cr_a{k}"], res[f"cr_b{k}"] = radius * np.cos(angle), radius * np.sin(angle)
        res[f"cr_s{k}"] = 0.1 + 0.1 * u[:, 28 + k]
        res[f"cr_d{k}"] = (0.25 + 0.45 * u[:, 31 + k]) * (u[:, 34 + k] > 0.2)
    res["collar_r"] = 0.55 + 0.12 * u[:, 37]
    res["collar_s"] = 0.6 * u[:, 38] - 0.25
    res["limbal"] = 0.35 + 0.4 * u[:, 39]
    res["tex_seed"] = np.floor(u[:, 40] * (1 << 24))
    res["tex_ox"], res["tex_oy"] = 1000.0 + 2000.0 * u[:, 41], 1000.0 + 2000.0 * u[:, 42]
    res["sk_a1"], res["sk_red"] = 0.04 + 0.07 * u[:, 43], 0.02 + 0.05 * u[:, 44]
    res["sk_a3"], res["sk_ap"] = 0.02 + 0.04 * u[:, 45], 0.03 + 0.05 * u[:, 46]
    res["brow_density"] = 0.8 + 0.2 * u[:, 47]

    w = _draws(row_keys(np.concatenate([identity, nuisance], 1), 0xCA3E7A), 6)
    res["cam_seed"] = np.floor(w[:, 0] * (1 << 24))
    res["cam_noise"] = (0.4 + 2.2 * w[:, 1]) / 255.0
    for i, ch in enumerate("rgb"):
        res[f"cam_{ch}"] = 1.0 + 0.05 * (2.0 * w[:, 2 + i] - 1.0)
    res["cam_blur"] = np.where(w[:, 5] < 0.5, 0.0, 0.6 * (2.0 * w[:, 5] - 1.0))
    return res
