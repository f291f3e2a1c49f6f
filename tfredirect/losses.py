"""The patent's losses ([0044]-[0055]), per sample; the training step averages them.

Per-sample values (shape (B,)) let the training step choose the distribution-aware
reduction once (sum / global batch) instead of each loss guessing.
"""

from keras import ops


def reconstruction(x_hat, x):
    """L_rec = ||x_hat - x||_1, mean over pixels and channels -> (B,)."""
    return ops.mean(ops.abs(x_hat - x), axis=(1, 2, 3))


def label(pred, true):
    """L_label term for one attribute: L1 over (pitch, yaw) in radians -> (B,)."""
    return ops.sum(ops.abs(pred - true), axis=-1)


def _flat(x):
    return ops.reshape(x, (ops.shape(x)[0], -1))


def orthogonality(a, b, eps=1e-6):
    """|cos(a, b)| per sample: pushes two features towards orthogonality (claim 7) -> (B,)."""
    a, b = _flat(a), _flat(b)
    dot = ops.sum(a * b, axis=-1)
    return ops.abs(dot) / (ops.norm(a, axis=-1) * ops.norm(b, axis=-1) + eps)


def discriminator(real_logits, fake_logits):
    """L_D = -log D(x) - log(1 - D(x_hat)), averaged over patches -> (B,)."""
    axes = tuple(range(1, len(real_logits.shape)))
    return ops.mean(ops.softplus(-real_logits), axis=axes) + ops.mean(ops.softplus(fake_logits), axis=axes)


def generator_adversarial(fake_logits):
    """L_G = -log D(x_hat), averaged over patches -> (B,)."""
    axes = tuple(range(1, len(fake_logits.shape)))
    return ops.mean(ops.softplus(-fake_logits), axis=axes)


def eye_reconstruction(x_hat, x, weight_map):
    """L1 inside the eye region: sum(w * |x_hat - x|) / sum(w), over pixels and channels
    -> (B,). `weight_map` is (S, S) (a fixed map, `eye_region_map`) or (B, S, S)."""
    w = ops.cast(weight_map, x.dtype)
    w = w[None] if len(w.shape) == 2 else w
    diff = ops.mean(ops.abs(x_hat - x), axis=-1)
    return ops.sum(w * diff, axis=(1, 2)) / (ops.sum(w, axis=(1, 2)) + 1e-6)


def feature_matching(features_hat, features):
    """Mean over layers of the mean |phi_l(x_hat) - phi_l(x)| of a frozen network's features
    (lists of (B, ...) tensors, matched by position) -> (B,)."""
    terms = [ops.mean(ops.abs(_flat(a) - _flat(b)), axis=-1) for a, b in zip(features_hat, features)]
    return ops.mean(ops.stack(terms, axis=0), axis=0)


def flow_smoothness(flow):
    """Total variation of a flow field (B, H, W, 2): mean |d flow / dx| + |d flow / dy| -> (B,)."""
    dx = ops.abs(flow[:, :, 1:] - flow[:, :, :-1])
    dy = ops.abs(flow[:, 1:] - flow[:, :-1])
    return ops.mean(dx, axis=(1, 2, 3)) + ops.mean(dy, axis=(1, 2, 3))


def paint_share(mask):
    """Mean colour share 1 - mask of a warp decoder's blend mask (B, H, W, 1) -> (B,): what
    the output paints rather than moves."""
    return ops.mean(1.0 - mask, axis=(1, 2, 3))


def eyeball_map(predicted, rendered):
    """Balanced L1 (B,) between a predicted eyeball map and rendered eye openings (B, H, W) in
    [0, 1]: the mean miss inside the openings plus the mean false mark outside them, halved,
    so the few eye pixels weigh as much as the rest of the face."""
    inside = ops.sum(rendered * (1.0 - predicted), axis=(1, 2)) / (ops.sum(rendered, axis=(1, 2)) + 1.0)
    outside = ops.sum((1.0 - rendered) * predicted, axis=(1, 2)) / (ops.sum(1.0 - rendered, axis=(1, 2)) + 1.0)
    return 0.5 * (inside + outside)
