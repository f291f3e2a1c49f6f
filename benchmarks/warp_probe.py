"""What does a warp decoder do where nothing should move? Redirects SynthGaze test faces to
their partner's gaze with the head kept (the evaluation protocol's gaze-only way: the
partner's eye rotation in the head under the source's head) and reports, per model: the flow's length (image pixels, over the coarse flow's grid), the blend
mask, and the PSNR outside the eyes (the render's eye masks dilated by 3 px) of the output,
of the warped source alone and of the unredirected source against the exact render; the last
is the ceiling (the source equals the render there). The pairs and renders are those of
tools/evaluate.py (persons nuisance, per-way targets). A flow that moves the whole face shows
as a long mean flow and a low PSNR outside the eyes.

    python benchmarks/warp_probe.py --models=runs/demo/redirector.keras,synthgaze-64
"""

import os

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from tfredirect import imaging, metrics  # noqa: E402
from tfredirect.data.synthgaze import SynthGaze  # noqa: E402
from tfredirect.experiments import evaluation  # noqa: E402
from tfredirect.serving.checkpoints import load_generator  # noqa: E402

F = flags.FLAGS
flags.DEFINE_list("models", ["synthgaze-64"], "Warp-decoder redirectors: .keras, run directories, checkpoints or "
                  "shipped names.")
flags.DEFINE_integer("persons", 64, "SynthGaze test persons (4 pairs each).", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the pairs (the evaluation protocol's default is 0).")
MARGIN_PX = 3


def psnr_outside(a, b, outside):
    """Per-image PSNR (dB, capped as metrics' PSNR) of [-1, 1] images over the pixels where
    `outside` is true."""
    err = np.square(np.asarray(a, np.float64) - np.asarray(b, np.float64)).mean(-1)
    mse = (err * outside).sum((1, 2)) / outside.sum((1, 2))
    return metrics.psnr_from_mse(mse, 2.0)


def probe(model, synth):
    """Means over the gaze-only way of every pair: flow length, mask, PSNR outside the eyes."""
    if model.config.decoder != "warp":
        raise ValueError(f"the model has the {model.config.decoder!r} decoder, not warp")
    batches, reference_fn = evaluation.synthgaze_batches(synth, "test", F.persons, 4, F.seed)
    rows = {}
    for batch in batches:
        way = evaluation.way_targets("gaze", batch["gaze_a"], batch["head_a"], batch["gaze_b"], batch["head_b"])
        batch = {k: v[way["excluded"] == ""] for k, v in batch.items()}
        target_gaze = way["target_gaze"][way["excluded"] == ""]
        ref = reference_fn(batch, "gaze", target_gaze, batch["head_a"])
        x = np.asarray(imaging.to_model_range(batch["image_a"]))
        features = model.encode(x)
        target = model.rotate(features, target_gaze, None, batch["gaze_a"], batch["head_a"])
        parts = {k: np.asarray(v) for k, v in model.synthesize(target, x, features, return_parts=True).items()}
        outside = np.stack([metrics.rest_mask(m, MARGIN_PX) for m in ref["eye"]])
        truth = np.asarray(imaging.to_model_range(ref["image"]))
        length = np.sqrt(np.square(parts["flow"]).sum(-1)).reshape(len(x), -1)
        for key, values in {
            "flow px, mean": length.mean(1),
            "flow px, 95th percentile": np.percentile(length, 95, axis=1),
            "mask, mean": parts["mask"].mean((1, 2, 3)),
            "PSNR outside the eyes, output": psnr_outside(parts["image"], truth, outside),
            "PSNR outside the eyes, warped source": psnr_outside(parts["warped"], truth, outside),
            "PSNR outside the eyes, unredirected source": psnr_outside(x, truth, outside),
        }.items():
            rows.setdefault(key, []).append(values)
    return {key: float(np.concatenate(v).mean()) for key, v in rows.items()}


def main(argv):
    synth = None
    for name in F.models:
        model = load_generator(name)
        if synth is None or synth.size != model.image_size:
            synth = SynthGaze(size=model.image_size, seed=0, nuisance="person")  # as tools/evaluate.py
        print(f"{name}: gaze-only redirection of {4 * F.persons} SynthGaze test pairs (head kept)")
        for key, value in probe(model, synth).items():
            print(f"  {key:45s} {value:8.2f}")


if __name__ == "__main__":
    app.run(main)
