"""Do the estimators read a redirector's nose? Judged gaze/head errors of redirected faces and
of their exact SynthGaze renders, as they are and with the nose (the dilated nose-tip mask)
filled with the face's mean colour. If an estimator relied on a pattern the generator painted
on the nose, filling it would cost the outputs far more than it costs the renders.

    python benchmarks/nose_probe.py --model=synthgaze-64 \
        --estimators=runs/judge/estimator.keras,runs/cest/estimator.keras
"""

import os

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from tfredirect import metrics  # noqa: E402
from tfredirect.data.synthgaze import SynthGaze  # noqa: E402
from tfredirect.serving.checkpoints import load_generator  # noqa: E402

F = flags.FLAGS
flags.DEFINE_string("model", "synthgaze-64", "Redirector: a .keras, run directory, checkpoint or shipped name.")
flags.DEFINE_list("estimators", ["runs/judge/estimator.keras"], "Estimators (.keras) that judge the faces.")
flags.DEFINE_integer("persons", 64, "SynthGaze test persons (4 samples each).", lower_bound=1)
flags.DEFINE_integer("seed", 5, "Seed of the samples and of the targets.")


def fill_nose(images, masks):
    """`images` with the nose-tip mask, dilated by 2 px, painted in the face's mean colour."""
    out = images.copy()
    for i in range(len(out)):
        nose = cv2.dilate((masks["nose_tip"][i] > 0.5).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        face = (masks["face"][i] > 0.5) & ~nose
        out[i][nose] = out[i][face].mean(0).astype(np.uint8)
    return out


def main(argv):
    model = load_generator(F.model)
    synth = SynthGaze(size=model.image_size, seed=0)
    rng = np.random.default_rng(F.seed)
    pid = np.repeat(synth.persons("test")[: F.persons], 4)
    idx = rng.integers(0, 8, len(pid))
    images, gaze, head = synth.render_samples(pid, idx)
    target_gaze = np.radians(rng.uniform(-25, 25, (len(pid), 2))).astype("float32")
    target_head = np.radians(rng.uniform(-20, 20, (len(pid), 2))).astype("float32")
    truth, masks = synth.render_target(pid, idx, gaze=target_gaze, head=target_head, return_masks=True)
    out = np.asarray(model.redirect(images, target_gaze=target_gaze, target_head=target_head,
                                    source_gaze=gaze, source_head=head))
    faces = {"output": out, "output, nose filled": fill_nose(out, masks),
             "render": truth, "render, nose filled": fill_nose(truth, masks)}
    print(f"{F.model}: {len(pid)} test faces redirected to random gaze and head; judged errors (deg)")
    for path in F.estimators:
        judge = metrics.EstimatorJudge.load(path)
        for name, x in faces.items():
            g, h = judge.errors(x, target_gaze, target_head)
            print(f"  {path}  {name:20s} gaze {g.mean():5.2f}  head {h.mean():5.2f}")


if __name__ == "__main__":
    app.run(main)
