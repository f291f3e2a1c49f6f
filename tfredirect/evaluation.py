"""Redirection quality against SynthGaze's exact renders, and auxiliary-head accuracy.

Protocol (tools/evaluate.py): for test persons, redirect image i of a person to the labels
of image j of the same person (gaze only, head only, and both) and compare with the exact
render of image i's identity and nuisance at those labels: L1 (in [0, 1] units), PSNR and
SSIM (`tf.image.ssim`). The auxiliary heads' gaze and head errors are measured on the
source images.
"""

import numpy as np
import tensorflow as tf

from tfredirect import geometry

MODES = ("gaze", "head", "both")


def pixel_metrics(pred, truth):
    """Per-image L1 (0..1 units), PSNR (dB) and SSIM of uint8 RGB batches."""
    p = tf.cast(pred, tf.float32) / 255.0
    t = tf.cast(truth, tf.float32) / 255.0
    l1 = tf.reduce_mean(tf.abs(p - t), axis=(1, 2, 3))
    mse = tf.reduce_mean(tf.square(p - t), axis=(1, 2, 3))
    psnr = 10.0 * tf.math.log(1.0 / tf.maximum(mse, 1e-10)) / tf.math.log(10.0)
    size = int(p.shape[1])
    ssim = tf.image.ssim(p, t, max_val=1.0, filter_size=min(11, size // 4 * 2 - 1))
    return {"l1": l1.numpy(), "psnr": psnr.numpy(), "ssim": ssim.numpy()}


def _targets(mode, src_g, src_h, tgt_g, tgt_h):
    """(target_gaze, target_head, truth_gaze, truth_head) for one redirection mode."""
    if mode == "gaze":
        return tgt_g, None, tgt_g, src_h
    if mode == "head":
        return None, tgt_h, src_g, tgt_h
    return tgt_g, tgt_h, tgt_g, tgt_h


def evaluate_synthgaze(redirector, synth, split="test", num_persons=32, pairs_per_person=4, seed=0, batch_size=64):
    """Mean metrics per mode plus auxiliary errors, as a JSON-ready dict.

    `synth` is a `tfredirect.data.synthgaze.SynthGaze` at the model's image size.
    """
    if synth.size != redirector.image_size:
        raise ValueError(f"SynthGaze size {synth.size} does not match the model's {redirector.image_size}")
    persons = synth.persons(split)
    if num_persons > len(persons):
        raise ValueError(f"num_persons={num_persons} but split '{split}' has {len(persons)} persons")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(persons, num_persons, replace=False)
    pid = np.repeat(chosen, pairs_per_person)
    src_idx = rng.integers(0, synth.samples_per_person, len(pid))
    offset = rng.integers(1, synth.samples_per_person, len(pid))
    tgt_idx = (src_idx + offset) % synth.samples_per_person
    per_mode = {m: {"l1": [], "psnr": [], "ssim": []} for m in MODES}
    gaze_err, head_err = [], []
    for s in range(0, len(pid), batch_size):
        sl = slice(s, s + batch_size)
        images, src_g, src_h = synth.render_samples(pid[sl], src_idx[sl])
        _, tgt_g, tgt_h = synth.render_samples(pid[sl], tgt_idx[sl])
        est_g, est_h = redirector.estimate(images)
        gaze_err.append(np.asarray(geometry.angular_error(est_g, src_g)))
        head_err.append(np.asarray(geometry.angular_error(est_h, src_h)))
        for mode in MODES:
            tg, th, truth_g, truth_h = _targets(mode, src_g, src_h, tgt_g, tgt_h)
            pred = redirector.redirect(images, target_gaze=tg, target_head=th, source_gaze=src_g, source_head=src_h)
            truth = synth.render_target(pid[sl], src_idx[sl], gaze=truth_g, head=truth_h)
            for key, value in pixel_metrics(pred, truth).items():
                per_mode[mode][key].append(value)
    result = {
        "split": split,
        "persons": int(num_persons),
        "pairs": int(len(pid)),
        "image_size": int(redirector.image_size),
        "redirection": {
            m: {k: float(np.mean(np.concatenate(v))) for k, v in per_mode[m].items()} for m in MODES
        },
        "aux_gaze_error_deg": float(np.mean(np.concatenate(gaze_err))),
        "aux_head_error_deg": float(np.mean(np.concatenate(head_err))),
    }
    return result


def format_table(result):
    """A plain-text table of `evaluate_synthgaze` results."""
    lines = [
        f"SynthGaze {result['split']} split: {result['persons']} persons, {result['pairs']} pairs, "
        f"{result['image_size']}x{result['image_size']}",
        f"{'redirect':10s} {'L1':>8s} {'PSNR dB':>8s} {'SSIM':>8s}",
    ]
    for mode, m in result["redirection"].items():
        lines.append(f"{mode:10s} {m['l1']:8.4f} {m['psnr']:8.2f} {m['ssim']:8.4f}")
    lines.append(f"auxiliary gaze error {result['aux_gaze_error_deg']:.2f} deg, "
                 f"head error {result['aux_head_error_deg']:.2f} deg")
    return "\n".join(lines)
