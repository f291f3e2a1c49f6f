"""Moved: the evaluation report is `tfredirect.experiments.evaluation`, the judge
`tfredirect.metrics.EstimatorJudge`. This re-export stays only until
tfredirect/augmentation/gate.py imports the judge from tfredirect.metrics; then delete it."""

from tfredirect.metrics import EstimatorJudge

__all__ = ["EstimatorJudge"]
