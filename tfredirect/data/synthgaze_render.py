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
XLA-compiled function per (size, supersample), which fuses the per-pixel work into
multi-threaded loops.
"""

import functools

import numpy as np
import tensorflow as tf

DISTANCE = 720.0  # mm from camera to face centre
FOCAL_224 = 960.0  # focal length in px for a 224 px image (ETH-XGaze normalized camera)
SUPPORTED_SIZES = (32, 64, 96, 128, 224)

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


def _scene(p, rays):
    """Per-pixel colour and masks. `p`: dict of (N, 1) float32 tensors; rays: (1, P)."""
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

    t_eye = tf.fill(tf.shape(t_head), np.float32(np.inf))
    eye_cos = tf.zeros_like(t_head)
    eye_n = [tf.zeros_like(t_head)] * 3
    lash = tf.zeros_like(t_head, dtype=tf.bool)
    socket = tf.zeros_like(t_head, dtype=tf.bool)
    for side in (-1.0, 1.0):
        cx = side * ex
        c = (cx, ey, p["eye_z"])
        t = _ellipsoid_hit(ox, oy, oz, dx, dy, dz, c, (er, er, er))
        x, y, z = ox + t * dx, oy + t * dy, oz + t * dz
        inside, _ = opening(x, y, cx)
        visible = (t < np.inf) & inside & (t < t_head + 6.0) & (t < t_nose)
        en = ((x - c[0]) / er, (y - c[1]) / er, (z - c[2]) / er)
        cos_g = en[0] * g[0] + en[1] * g[1] + en[2] * g[2]
        closer = visible & (t < t_eye)
        t_eye = tf.where(closer, t, t_eye)
        eye_cos = tf.where(closer, cos_g, eye_cos)
        eye_n = _select(closer, to_cam(*en), eye_n)
        # lash line and lid-opening "socket" on the head surface
        s_in, s_lash = opening(hx, hy, cx)
        front = (nz < -0.3) & (t_head < np.inf)
        lash = lash | (s_lash & front)
        socket = socket | (s_in & front)

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

    face_col = skin
    face_col = _select(lip, lips, face_col)
    face_col = _select(lip_line, [0.25 * s for s in lips], face_col)
    face_col = _select(brow & (nz < 0), [0.8 * h for h in hair], face_col)
    face_col = _select(socket, [0.45 * s for s in skin], face_col)
    face_col = _select(lash, [0.12 + 0.2 * h for h in hair], face_col)
    face_col = _select(hair_mask, hair, face_col)
    head_rgb = [c * shade(head_n) for c in face_col]
    nose_rgb = [c * shade(nose_n) for c in skin]

    is_pupil = eye_cos > cos_pupil
    is_iris = eye_cos > cos_iris
    ring = 1.0 - 0.55 * tf.clip_by_value((1.0 - eye_cos) / (1.0 - cos_iris) * 1.2 - 0.2, 0.0, 1.0) ** 3
    sclera = [0.92, 0.89, 0.86]
    eye_col = _select(is_iris, [c * ring for c in iris], sclera)
    eye_col = _select(is_pupil, [0.03, 0.03, 0.04], eye_col)
    eye_rgb = [c * (0.35 + 0.75 * shade(eye_n)) for c in eye_col]

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
def _compiled(size, supersample):
    """(scene, pool): the XLA-compiled per-sub-pixel scene, and the box filter kept outside
    XLA (a reduction fused into the scene loop runs several times slower on CPU)."""
    rays = _pixel_rays(size, supersample)

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

    return scene, pool


def mask_names():
    """Order of the mask channels returned by `render_arrays(..., masks=True)`."""
    return tuple(sorted(("eye", "iris", "nose_tip", "face")))


def render_arrays(params, size, supersample=2, chunk=64):
    """Render from a dict of per-image (N,) float32 scene parameters (see synthgaze.render).

    Returns uint8 images (N, size, size, 3) and float32 mask coverages (N, size, size, 4) in
    the order of `mask_names()`.
    """
    scene, pool = _compiled(int(size), int(supersample))
    n = len(next(iter(params.values())))
    images, masks = [], []
    for s in range(0, n, chunk):
        part = {k: tf.constant(v[s : s + chunk], tf.float32) for k, v in params.items()}
        img, msk = pool(scene(part))
        images.append(img.numpy())
        masks.append(msk.numpy())
    return np.concatenate(images), np.concatenate(masks)


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


def scene_params(identity, gaze, head, nuisance):
    """Per-image scene parameters (dict of (N,) float32) from identity (N, len(IDENTITY_FIELDS)),
    gaze and head (N, 2) radians and nuisance (N, len(NUISANCE_FIELDS))."""
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
    return {k: np.asarray(v, np.float32) for k, v in out.items()}
