"""tfredirect.cli: parse-time flag checks with the parser's own message."""

import pytest
from absl import flags

from tfredirect import cli


def _parse_pair(value, name):
    if len(value) != 2:
        raise ValueError(f"--{name}={','.join(value)}: expected two numbers")
    return [float(v) for v in value]


def test_check_flag_reports_the_parsers_message_and_skips_unset_flags():
    fv = flags.FlagValues()
    flags.DEFINE_list("pair", None, "Two numbers.", flag_values=fv)
    cli.check_flag("pair", _parse_pair, flag_values=fv)
    fv(["prog"])  # unset: not checked
    assert fv.pair is None
    fv(["prog", "--pair=1,2"])
    assert fv.pair == ["1", "2"]
    fv.unparse_flags()
    with pytest.raises(flags.IllegalFlagValueError, match=r"--pair=1,2,3: expected two numbers$"):
        fv(["prog", "--pair=1,2,3"])


def test_signals_are_taken_by_one_thread(tmp_path):
    """route_signals_to_one_thread: threads started afterwards block SIGINT and SIGUSR1; a
    SIGUSR1 prints the stacks and the program goes on; a SIGINT becomes KeyboardInterrupt in
    the main thread."""
    import subprocess
    import sys
    import time

    script = """
import os, signal, threading, time
from tfredirect import cli
cli.route_signals_to_one_thread()
masks = []
worker = threading.Thread(target=lambda: masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, [])))
worker.start(); worker.join()
print("worker blocks SIGINT and SIGUSR1:", {signal.SIGINT, signal.SIGUSR1} <= masks[0], flush=True)
os.kill(os.getpid(), signal.SIGUSR1)
time.sleep(1)
print("still running", flush=True)
try:
    os.kill(os.getpid(), signal.SIGINT)
    end = time.time() + 20
    while time.time() < end:  # Python code between calls, as between training steps
        time.sleep(0.01)
    print("not interrupted")
except KeyboardInterrupt:
    print("KeyboardInterrupt in main")
"""
    start = time.time()
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.stdout.splitlines() == ["worker blocks SIGINT and SIGUSR1: True", "still running",
                                       "KeyboardInterrupt in main"], out.stderr
    assert "most recent call first" in out.stderr and "<string>" in out.stderr  # the main thread's stack
    assert time.time() - start < 15
