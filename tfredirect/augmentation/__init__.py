"""Dataset augmentation with a trained redirector (claims 1-4, [0010], [0021], [0029]).

For every input sample, K new samples: the target kind is drawn per copy (gaze or head,
claim 4; or both in sequence, [0021]) and the target angles come from a distribution the
user picks (`targets`). The new labels are exactly the targets; an attribute that is not
redirected keeps the source label. Every output row carries its provenance:
`source_index` (position in the input's SampleIndex), `copy` (k in 0..K-1), `kind` (0 gaze,
1 head, 2 both) and the source's own `source_gaze` / `source_head`; (source_index, copy) is
unique. With a judge (`gate`), the judged gaze/head errors too, and a threshold drops copies.

Modules, by concept:
- `targets`: TargetSampler, the deterministic target draws;
- `backends`: the Keras and TFLite redirectors, `load_backend`;
- `gate`: the quality gate (Judge, `load_judge`, the keep rule);
- `staging`: the crash-safe, resumable, locked staging folder `<out>.partial`;
- `outputs`: the layouts, written by the data modules' own writers;
- `job`: `augment`, the run that ties them together, and sharding.
"""

from tfredirect.augmentation.backends import KerasBackend, LiteBackend, check_model_path, load_backend
from tfredirect.augmentation.gate import JUDGED, Judge, load_judge
from tfredirect.augmentation.job import (augment, check_output_path, input_files, run_parameters, shard_glob,
                                         shard_output_path, shard_range)
from tfredirect.augmentation.outputs import LAYOUTS, PROVENANCE
from tfredirect.augmentation.staging import STAGING_SUFFIX, exists_message, staging_path, staging_progress
from tfredirect.augmentation.targets import KIND_CHOICES, KINDS, TARGET_MODES, TargetSampler, sampler_parameters

__all__ = ["JUDGED", "KINDS", "KIND_CHOICES", "LAYOUTS", "PROVENANCE", "STAGING_SUFFIX", "TARGET_MODES", "Judge",
           "KerasBackend", "LiteBackend", "TargetSampler", "augment", "check_model_path", "check_output_path",
           "exists_message", "input_files", "load_backend", "load_judge", "run_parameters", "sampler_parameters",
           "shard_glob", "shard_output_path", "shard_range", "staging_path", "staging_progress"]
