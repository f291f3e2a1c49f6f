"""Command-line helpers shared by the tools (absl flags)."""

import signal
import threading

from absl import flags


def check_flag(name, parse, flag_values=flags.FLAGS):
    """Check flag `name` at parse time with `parse(value, name)`: the message of the
    ValueError it raises becomes absl's one-line flag error (`flag --name=...: message`),
    before any model or data is loaded. A flag left unset (None) is not checked."""

    def check(value):
        if value is not None:
            try:
                parse(value, name)
            except ValueError as err:
                raise flags.ValidationError(str(err)) from None
        return True

    flags.register_validator(name, check, flag_values=flag_values)


def error_exit(tool, err, expected=(ValueError, OSError)):
    """A tool's `except` clause: print `<tool>: error: <message>` for an expected error (or a
    reader's error wrapped by tf.data) and return exit code 1; re-raise anything else (a bug
    keeps its traceback)."""
    import sys

    from tfredirect.data.index import tool_error_message

    message = tool_error_message(err, expected)
    if message is None:
        raise err
    print(f"{tool}: error: {message}", file=sys.stderr)
    return 1


def route_signals_to_one_thread():
    """Take Ctrl-C (SIGINT) and SIGUSR1 in one Python thread, so that no other thread is ever
    interrupted by them.

    Call first thing, before TensorFlow starts its threads: both signals are blocked here and
    so in every thread started afterwards, and a daemon thread waits for them with sigwait.
    SIGINT raises KeyboardInterrupt in the main thread; SIGUSR1 prints every thread's Python
    stack on stderr (for a run that seems stuck) and the run goes on. Without this, the kernel
    delivers a signal to any thread, and one of TensorFlow's data or worker threads interrupted
    mid-call could leave a training step waiting forever (a tiny run hung in validation after
    Ctrl-C in 3 of 5 full test runs). The interrupt is raised when the main thread next runs
    Python code (between training steps), as a plain SIGINT would be during a TensorFlow call.
    Returns the waiting thread.
    """
    import _thread
    import faulthandler
    import sys

    taken = {signal.SIGINT, signal.SIGUSR1}
    signal.pthread_sigmask(signal.SIG_BLOCK, taken)

    def wait():
        while True:
            if signal.sigwait(taken) == signal.SIGINT:
                _thread.interrupt_main(signal.SIGINT)
            else:
                faulthandler.dump_traceback(file=sys.stderr, all_threads=True)

    thread = threading.Thread(target=wait, name="signals", daemon=True)
    thread.start()
    return thread
