"""A quiet TensorFlow start-up for the tools: importing TensorFlow and finding its devices
prints about a dozen lines from its C++ runtime (oneDNN, CUDA not found, CPU features) on
file descriptor 2, where Python's logging settings cannot reach. `quiet_start` imports it
with fd 2 sent to a buffer, then passes on every line that is not such start-up noise; with
`--verbose=2` on the command line everything is shown as TensorFlow prints it."""

import contextlib
import os
import re
import sys
import tempfile

NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} [\d:. ]+\d+ (port|cudart_stub|cuda_platform|cuda_executor|cpu_feature_guard|cuda_dnn|cuda_fft"
    r"|cuda_blas|computation_placer|gpu_device|cuda_diagnostics)\.cc:\d+\] .*"
    r"|To enable the following instructions: .*|.*rebuild TensorFlow with the appropriate compiler flags\."
    r"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.)$")


def verbose_from_argv(argv):
    """The value of a `--verbose=N` / `--verbose N` flag in `argv` (1 if absent or unreadable)."""
    for i, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--verbose=") else (
            argv[i + 1] if arg == "--verbose" and i + 1 < len(argv) else None)
        if value is not None:
            try:
                return int(value)
            except ValueError:
                return 1
    return 1


def quiet_start(argv=None):
    """Import TensorFlow and initialise its devices without the runtime's start-up lines,
    unless `--verbose=2` is in `argv` (default sys.argv); other lines it prints pass through."""
    argv = sys.argv if argv is None else argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules or verbose_from_argv(argv) >= 2:
        import tensorflow  # noqa: F401
        return
    with runtime_noise_dropped(argv):
        import tensorflow as tf

        tf.config.list_physical_devices()


@contextlib.contextmanager
def runtime_noise_dropped(argv=None):
    """Run the block with file descriptor 2 sent to a buffer, then pass on every line that is
    not C++ runtime noise (NOISE); with `--verbose=2` in `argv` nothing is caught."""
    if verbose_from_argv(sys.argv if argv is None else argv) >= 2:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as buffer:
        os.dup2(buffer.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            buffer.seek(0)
            kept = [line for line in buffer.read().decode(errors="replace").splitlines() if not NOISE.match(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr, flush=True)
