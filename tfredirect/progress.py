"""Progress of long jobs on stderr: a live bar on a terminal, plain lines in a log file.

`verbose` follows the tools' flag: 0 silent, 1 a bar on a terminal and lines otherwise,
2 lines always. Lines are written at most every `every_s` seconds (and at the end), so a
redirected log never fills with carriage returns."""

import sys
import time


class Progress:
    def __init__(self, total, desc, unit="items", verbose=1, stream=None, every_s=10.0):
        self.total = int(total) if total else 0
        self.desc = desc
        self.unit = unit
        self.verbose = int(verbose)
        self.stream = stream if stream is not None else sys.stderr
        self.every_s = every_s
        self.count = 0
        self._start = time.monotonic()
        self._last = self._start
        self._printed = None  # (desc, count) of the last plain line, so close() does not repeat it
        self._bar = self.verbose == 1 and getattr(self.stream, "isatty", lambda: False)()
        self._closed = False

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(ok=exc_type is None)

    def rate(self):
        elapsed = time.monotonic() - self._start
        return self.count / elapsed if elapsed > 0 else 0.0

    def text(self):
        done = f"{self.count}/{self.total}" if self.total else f"{self.count}"
        pct = f" {100.0 * self.count / self.total:5.1f}%" if self.total else ""
        elapsed = time.monotonic() - self._start
        eta = ""
        if self.total and self.count and self.count < self.total:
            eta = f", {elapsed * (self.total - self.count) / self.count:.0f} s left"
        return f"{self.desc}: {done} {self.unit}{pct}, {self.rate():.1f} {self.unit}/s, {elapsed:.0f} s{eta}"

    def update(self, n=1):
        self.count += n
        if self.verbose <= 0:
            return
        now = time.monotonic()
        if self._bar:
            self.stream.write("\r" + self.text())
            self.stream.flush()
        elif now - self._last >= self.every_s:
            self._last = now
            self._printed = (self.desc, self.count)
            print(self.text(), file=self.stream, flush=True)

    def close(self, ok=True):
        if self._closed:
            return
        self._closed = True
        if self.verbose <= 0:
            return
        end = "" if ok else " (stopped)"
        if self._bar:
            self.stream.write("\r" + self.text() + end + "\n")
            self.stream.flush()
        elif self._printed != (self.desc, self.count) or not ok:
            print(self.text() + end, file=self.stream, flush=True)


def keras_verbosity(verbose, stream=None):
    """Keras' `fit` verbosity for a tool's `--verbose`: its live bar (1) only on a terminal,
    one line per epoch (2) when the output goes to a file or a pipe."""
    stream = stream if stream is not None else sys.stdout
    if int(verbose) == 1 and not getattr(stream, "isatty", lambda: False)():
        return 2
    return int(verbose)
