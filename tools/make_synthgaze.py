"""Write a SynthGaze split as an ST-ED-layout h5 file and a PNG contact sheet.

    python tools/make_synthgaze.py --out=synthgaze_test.h5 --split=test --sheet=docs/synthgaze_sheet.png

Sheet rows are persons; columns are a gaze sweep (head frontal) then a head sweep (eyes
looking ahead), rendered with each person's identity and first sample's nuisance. Both files
are written beside and renamed in; the persons rendered into the h5 and the rate are
reported on stderr (--verbose).
"""

import os
import sys

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from tfredirect import fileio, visualize  # noqa: E402
from tfredirect.data.synthgaze import SPLITS, SynthGaze, render  # noqa: E402
from tfredirect.data.synthgaze_render import SUPPORTED_SIZES  # noqa: E402

F = flags.FLAGS
flags.DEFINE_integer("size", 64, f"Image size, one of {SUPPORTED_SIZES}.")
flags.DEFINE_integer("seed", 0, "Dataset seed.")
flags.DEFINE_integer("persons", 2000, "Persons in the whole dataset (split by id into train/val/test).")
flags.DEFINE_integer("samples_per_person", 16, "Samples per person written to the h5.")
flags.DEFINE_enum("split", "test", list(SPLITS), "Which split to write.")
flags.DEFINE_enum("nuisance", "image", ["image", "person"], "Light/background drawn per image or per person.")
flags.DEFINE_enum("appearance", "plain", ["plain", "textured"], "Flat colours, or per-person skin and iris "
                  "textures with glint and camera noise.")
flags.DEFINE_string("out", "", "Output h5 path (ST-ED layout); empty to skip.")
flags.DEFINE_string("sheet", "", "Output PNG contact sheet; empty to skip.")
flags.DEFINE_integer("sheet_persons", 6, "Rows of the contact sheet.")
flags.DEFINE_bool("overwrite", False, "Replace existing output files.")
flags.DEFINE_integer("verbose", 1, "0 silent; 1 a progress bar on a terminal, lines in a log; 2 lines only.",
                     lower_bound=0, upper_bound=2)

GAZE_SWEEP = ((0, -35), (0, -20), (0, 0), (0, 20), (0, 35), (25, 0), (-30, 0))
HEAD_SWEEP = ((0, -40), (0, -20), (0, 20), (0, 40), (25, 0), (-25, 0))


def contact_sheet(synth, persons):
    """Rows: persons; columns: gaze sweep then head sweep."""
    labels = [(g, (0, 0)) for g in GAZE_SWEEP] + [((0, 0), h) for h in HEAD_SWEEP]
    gaze = np.radians(np.array([l[0] for l in labels], np.float32))
    head = np.radians(np.array([l[1] for l in labels], np.float32))
    # eyes straight ahead in a turned head: gaze follows the head
    head_cols = slice(len(GAZE_SWEEP), None)
    gaze[head_cols] = head[head_cols]
    rows = []
    for p in persons:
        pid = np.full(len(labels), p)
        ident = synth.identity(pid)
        nuis = synth.nuisance_params(pid, np.zeros(len(labels), int))
        rows.append(list(render(ident, gaze, head, nuis, synth.size)))
    return visualize.tile(rows)


def main(argv):
    del argv
    outputs = [p for p in (F.out, F.sheet) if p]
    if not outputs:
        print("make_synthgaze.py: error: give --out and/or --sheet", file=sys.stderr)
        return 1
    try:
        for path in outputs:
            fileio.refuse_existing(path, F.overwrite)
        synth = SynthGaze(size=F.size, seed=F.seed, num_persons=F.persons,
                          samples_per_person=F.samples_per_person, nuisance=F.nuisance,
                          appearance=F.appearance)
        if F.sheet:
            persons = synth.persons(F.split)[: F.sheet_persons]
            sheet = contact_sheet(synth, persons)
            fileio.write_atomic(F.sheet, lambda tmp: visualize.write_png(tmp, sheet, scale=max(1, 128 // F.size)))
            print(f"wrote {F.sheet}: {len(persons)} persons x {len(GAZE_SWEEP)} gaze + {len(HEAD_SWEEP)} head poses")
        if F.out:
            persons, samples = synth.write_h5(F.out, F.split, overwrite=F.overwrite, verbose=F.verbose)
            mb = os.path.getsize(F.out) / 2**20
            print(f"wrote {F.out}: split '{F.split}', {persons} persons, {samples} samples of "
                  f"{F.size}x{F.size}, {mb:.1f} MB (ST-ED layout: <person>/pixels, <person>/labels)")
    except (ValueError, OSError) as err:
        print(f"make_synthgaze.py: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    app.run(main)
