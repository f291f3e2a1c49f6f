"""Settings of the experiments: the evaluation report (`EvaluationConfig`, tools/evaluate.py)
and the downstream experiment (`DownstreamConfig`, tools/downstream.py). Each field carries
its help and checks (tfredirect.config._field), and each tool derives one flag per field
(tfredirect.config_flags). Importing this module loads no TensorFlow, so the tools define
their flags before they load anything (building a DownstreamConfig imports the experiment,
whose output paths its checks need)."""

import dataclasses

from tfredirect import fileio
from tfredirect.config import (DATA_PATH_HELP, DATA_SOURCES, SYNTH_APPEARANCES, SYNTH_NUISANCES, TRAIN_PRESETS,
                               _check_fields, _field)

PROGRESS_HELP = "0 silent, 1 progress (a bar on a terminal), 2 progress lines only."
# the splits evaluate takes ("" = the default: test on SynthGaze, all on real data)
SPLITS = {"synthgaze": ("", "train", "val", "test"), "real": ("", "all", "train", "val")}
REAL_DATA = tuple(s for s in DATA_SOURCES if s != "synthgaze")
SPLIT_RULE = f"--split: SynthGaze takes train, val or test; real data ({', '.join(REAL_DATA)}) all, train or val"


@dataclasses.dataclass
class EvaluationConfig:
    """Settings of one evaluation report (experiments.evaluation, tools/evaluate.py)."""

    model: str = dataclasses.field(metadata={"help": "The redirector: a .keras file, a tools/train.py run directory, "
                                             "a checkpoint prefix or a shipped name (synthgaze-64)."})
    estimator: str = _field("", "The judge: an estimator.keras from tools/train_estimator.py.")
    data: str = _field("synthgaze", "Evaluation data.", choices=DATA_SOURCES)
    data_path: str = _field("", DATA_PATH_HELP)
    split: str = _field("", "SynthGaze: train, val or test (default test). Real data: all (default), or train/val "
                        "for the persons tools/train.py trained on / held out.")
    persons: int = _field(64, "SynthGaze: persons to evaluate.", min=1)
    pairs_per_person: int = _field(4, "SynthGaze: pairs per person.", min=1)
    pairs: int = _field(256, "Real data: pairs to evaluate.", min=1)
    seed: int = _field(0, "SynthGaze dataset seed (use the training seed for the same persons split).")
    nuisance: str = _field("person", "SynthGaze nuisance mode (as in training).", choices=SYNTH_NUISANCES)
    appearance: str = _field("plain", "SynthGaze appearance (the training run's --synth_appearance; the judge "
                             "should be trained on the same).", choices=SYNTH_APPEARANCES)
    # evaluation.TARGETS
    targets: str = _field("per_way", "per_way: each way asks for a face that can exist (gaze-only: b's eye rotation "
                          "in the head under a's head; head-only: only pairs whose eyes stay within their range in "
                          "the head; both: every pair); any: b's gaze or head as it is, whatever eye rotation that "
                          "asks for (up to 90 deg, which the judge cannot read even on exact renders).",
                          choices=("per_way", "any"))
    eval_seed: int = _field(0, "Seed of the choice of persons and pairs.")
    out: str = _field("", "Write the results as JSON here, and examples as <out>.png.")
    examples: int = _field(8, "Example rows in the PNG.", min=0)
    overwrite: bool = _field(False, "Replace existing --out files.")
    markdown: bool = _field(False, "Also print the per-way summary as a Markdown table (as in the docs).")
    verbose: int = _field(1, PROGRESS_HELP, min=0, max=2)

    def __post_init__(self):
        _check_fields(self)
        if not self.split_fits(self.data, self.split):
            raise ValueError(SPLIT_RULE)
        if self.data != "synthgaze" and not self.data_path:
            raise ValueError(f"--data={self.data} needs --data_path")

    @staticmethod
    def split_fits(data, split):
        """Whether `split` names a split of `data`'s kind (also tools/evaluate.py's check of the
        two flags together)."""
        return split in SPLITS["synthgaze" if data == "synthgaze" else "real"]


@dataclasses.dataclass
class DownstreamConfig:
    """Settings of one downstream experiment (experiments.downstream, whose docstring tells the
    arms)."""

    out_dir: str = _field("runs/downstream", "Output folder.")
    model: str = _field("", "A given redirector for the augmented arms: a .keras, a tools/train.py run directory or "
                        "checkpoint prefix, a shipped name (synthgaze-64), or a .tflite (tools/export.py); empty: "
                        "train one on the narrow subset alone in <out_dir>/redirector.")
    redirector_preset: str = _field("demo", "Without --model: the recipe of the redirector trained on the narrow "
                                    "subset (compressed to --redirector_steps).", choices=tuple(sorted(TRAIN_PRESETS)))
    redirector_steps: int = _field(1500, "Without --model: training steps of that redirector (the recipe's "
                                   "adversarial schedule and auto estimator steps scale with them).", min=1)
    upper_bound_model: str = _field("", "A generator trained on the full range (e.g. synthgaze-64): adds the arm "
                                    "'augmented_full_generator', the upper bound (distillation, not what a "
                                    "narrow-data user can do).")
    data: str = _field("synthgaze", "Data source.", choices=DATA_SOURCES)
    data_path: str = _field("", DATA_PATH_HELP)
    size: int = _field(0, "Image size; 0 = the redirector's.", min=0)
    samples: int = _field(4000, "Narrow subset size (real data: at most this many).", min=1)
    max_gaze_deg: float = _field(10.0, "The subset keeps samples with |gaze pitch| and |gaze yaw| below this.",
                                 positive=True, below=90.0)
    per_image: int = _field(2, "Redirected copies per subset sample.", min=1)
    # augmentation.TARGET_MODES and augmentation.KIND_CHOICES
    targets: str = _field("kde", "kde: joint (gaze, head) from a kernel density over full-range labels (SynthGaze's "
                          "label distribution, or all training persons' labels); uniform: independent, within the "
                          "ranges.", choices=("kde", "uniform"))
    target_kind: str = _field("both", "What each copy redirects: gaze, head, both, random (gaze or head) or mixed.",
                              choices=("gaze", "head", "both", "random", "mixed"))
    # the target bounds (augmentation.TargetSampler's); the ranges' defaults are SynthGaze's label ranges
    gaze_range_deg: tuple = _field((40.0, 50.0), "Target gaze within +/- PITCH,YAW degrees (default: SynthGaze's "
                                   "range).", length=2, positive=True, max=90.0)
    head_range_deg: tuple = _field((30.0, 45.0), "Target head pose within +/- PITCH,YAW degrees (default: "
                                   "SynthGaze's range).", length=2, positive=True, max=90.0)
    bandwidth_deg: float = _field(0.0, "kde kernel width, degrees (0: Scott's rule).", min=0.0, max=90.0)
    max_eye_in_head_deg: float = _field(35.0, "Targets keep the gaze within +/- this many degrees (pitch and yaw) of "
                                        "the head, as faces can (SynthGaze's range); 0: no limit.", min=0.0, max=90.0)
    steps: int = _field(2000, "Estimator training steps (every arm).", min=1)
    batch_size: int = _field(32, "Estimator batch size.", min=1)
    lr: float = _field(1e-3, "Estimator Adam learning rate (cosine decay).", positive=True)
    seed: int = _field(0, "Seed (SynthGaze dataset, subset, targets, estimator weights and data order).")
    test_samples: int = _field(1024, "Full-range samples of held-out persons to test on.", min=1)
    with_full: bool = _field(False, "Also train on as many full-range real samples (the upper bound).")
    bins_deg: tuple = _field((10.0, 20.0, 30.0), "Bin edges of the true test gaze max(|pitch|, |yaw|) (deg).",
                             positive=True)
    judge: str = _field("", "Quality gate: an independent estimator .keras (tools/train_estimator.py, e.g. "
                        "runs/judge/estimator.keras) judges every copy; adds the arm 'gated' (the copies it keeps).")
    max_judged_error_deg: float = _field(10.0, "Quality gate: keep copies whose larger judged gaze/head error is at "
                                         "most this (deg).", min=0.0, below=float("inf"))
    overwrite: bool = _field(False, "Replace a previous run's results in --out_dir.")
    verbose: int = _field(1, PROGRESS_HELP, min=0, max=2)

    def __post_init__(self):
        from tfredirect.experiments.downstream import output_paths

        for name in ("gaze_range_deg", "head_range_deg", "bins_deg"):
            setattr(self, name, tuple(float(v) for v in getattr(self, name)))
        _check_fields(self)
        for name in ("samples", "per_image", "steps", "batch_size", "test_samples", "redirector_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value:
                raise ValueError(f"{name} must be an integer, got {value!r}")
        if self.data != "synthgaze" and not self.data_path:
            raise ValueError(f"--data={self.data} needs --data_path")
        outputs = output_paths(self.out_dir)
        if self.judge and any(fileio.is_within(self.judge, p) for p in outputs):
            raise ValueError(f"judge {self.judge} is an output of this experiment; the gate needs an independent "
                             "estimator (tools/train_estimator.py)")
        for name in ("model", "upper_bound_model"):
            value = getattr(self, name)
            if value and any(fileio.is_within(value, p) for p in outputs):
                raise ValueError(f"{name} {value} is an output of this experiment, which replaces it")
        if not self.bins_deg or list(self.bins_deg) != sorted(set(self.bins_deg)):
            raise ValueError(f"bins_deg must be increasing positive edges, got {self.bins_deg}")
