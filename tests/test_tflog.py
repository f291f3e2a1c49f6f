import subprocess
import sys

from tfredirect import tflog

STARTUP = """WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796303590.578776   12204 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results due to floating-point round-off errors from different computation orders. To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.
I0000 00:00:1796303590.579224   12204 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
E0000 00:00:1796301237.230148    3977 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)
To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags."""


def test_startup_lines_are_noise_and_others_are_not():
    assert all(tflog.NOISE.match(line) for line in STARTUP.splitlines())
    for line in ("redirect.py: error: photo.png: no face", "Traceback (most recent call last):",
                 "E0000 00:00:1796301237.230148 3977 conv_ops.cc:52] an op failed"):
        assert not tflog.NOISE.match(line)


def test_verbose_is_read_off_the_command_line():
    assert tflog.verbose_from_argv(["tool.py", "--verbose=2"]) == 2
    assert tflog.verbose_from_argv(["tool.py", "--verbose", "0", "--x=1"]) == 0
    assert tflog.verbose_from_argv(["tool.py"]) == 1 and tflog.verbose_from_argv(["t", "--verbose=x"]) == 1


def test_a_quiet_start_prints_nothing_and_lets_later_lines_through():
    code = ("import sys; from tfredirect.tflog import quiet_start; quiet_start(); import tensorflow as tf; "
            "tf.constant(1.0) + 1; print('after', file=sys.stderr)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stderr == "after\n", res.stderr
    loud = subprocess.run([sys.executable, "-c", code, "--verbose=2"], capture_output=True, text=True, timeout=120)
    # which start-up lines TensorFlow prints depends on the machine (oneDNN's port.cc, the CUDA stubs, ...)
    assert loud.returncode == 0 and loud.stderr.endswith("after\n")
    assert any(tflog.NOISE.match(line) for line in loud.stderr.splitlines()), loud.stderr
