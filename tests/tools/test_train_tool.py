"""tools/train.py's output when it goes to a log file."""

import pytest


@pytest.mark.slow
def test_a_redirected_training_log_has_lines_not_carriage_return_bars(tool, tmp_path):
    out = tmp_path / "run"
    result = tool("train", "--preset=tiny", "--steps=4", "--checkpoint_every=2", "--val_batches=1",
                  f"--out_dir={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "\r" not in result.stdout and "\r" not in result.stderr
    epochs = [line for line in result.stdout.splitlines() if line.startswith("2/2 - ")]
    assert len(epochs) == 2  # --verbose=1 (the default) becomes one line per epoch in a file
    assert "Trained tiny from step 0 to 4" in result.stdout
