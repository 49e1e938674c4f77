"""What the ``live-nst`` command prints. Only the CLI uses this module.

By default the console shows live-nst's own messages and nothing else:

- Native libraries (MediaPipe/TFLite, OpenCV's FFmpeg backend, ONNX Runtime) write to
  file descriptor 2 directly, past Python. :class:`NativeStderr` points that descriptor
  at a pipe and drops what arrives there (a line that announces a crash still goes
  through), while Python's ``sys.stderr`` keeps writing to the terminal.
- Log records of other Python packages, and Python warnings, are shown only with ``-v``.

With ``-v`` nothing is held back and every log line names its logger.
"""

from __future__ import annotations

import collections
import logging
import os
import re
import sys
import threading
from typing import TextIO

# Lines from native code that come before a crash: these are never dropped.
_FATAL = re.compile(r"^(F\d{4} |Check failed|terminate called|Fatal|\*\*\* |Segmentation fault)")
_PREFIX = {logging.WARNING: "warning: ", logging.ERROR: "error: ", logging.CRITICAL: "error: "}


class ConsoleFormatter(logging.Formatter):
    """``12:00:01 message``; warnings and errors say so; ``-v`` adds the logger's name."""

    def __init__(self, verbose: bool) -> None:
        super().__init__(datefmt="%H:%M:%S")
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        stamp = self.formatTime(record, self.datefmt)
        if self.verbose:
            text = f"{stamp} {record.levelname.lower()} {record.name}: {record.getMessage()}"
            if record.exc_info:
                text += "\n" + self.formatException(record.exc_info)
            return text
        return f"{stamp} {_PREFIX.get(record.levelno, '')}{record.getMessage()}"


class _OwnMessages(logging.Filter):
    """live-nst's records, and errors from anywhere."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.startswith("live_nst") or record.levelno >= logging.ERROR


def configure_logging(verbose: bool, stream: TextIO | None = None) -> logging.Handler:
    """One handler on the root logger (replacing any earlier one this module made)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_live_nst_console", False):
            root.removeHandler(handler)
            handler.close()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(ConsoleFormatter(verbose))
    if not verbose:
        handler.addFilter(_OwnMessages())
    handler._live_nst_console = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.captureWarnings(not verbose)  # warnings become records of 'py.warnings': shown only with -v
    return handler


class NativeStderr:
    """Holds back what native code writes to file descriptor 2 (see the module's doc).

    Only acts when ``sys.stderr`` is the process's real standard error (not under a test
    runner's capture). ``recent`` keeps the last lines held back."""

    def __init__(self) -> None:
        self.recent: collections.deque[str] = collections.deque(maxlen=40)
        self._saved_fd: int | None = None
        self._previous: TextIO | None = None
        self._stream: TextIO | None = None
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self._saved_fd is not None

    def start(self) -> bool:
        if self.active or not _is_real_stderr(sys.stderr):
            return False
        sys.stderr.flush()
        saved = os.dup(2)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._saved_fd, self._previous = saved, sys.stderr
        self._stream = open(saved, "w", buffering=1, encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
                            errors="backslashreplace", closefd=False)
        sys.stderr = self._stream
        self._thread = threading.Thread(target=self._drain, args=(read_fd, self._stream),
                                        name="live-nst-native-stderr", daemon=True)
        self._thread.start()
        return True

    def _drain(self, read_fd: int, terminal: TextIO) -> None:
        with open(read_fd, "rb") as pipe:
            for raw in pipe:
                line = raw.decode("utf-8", "replace").rstrip()
                self.recent.append(line)
                if _FATAL.match(line):
                    try:
                        terminal.write(line + "\n")
                    except (OSError, ValueError):
                        return

    def stop(self) -> None:
        """Give file descriptor 2 back (what native code writes from now on shows)."""
        if self._saved_fd is None or self._stream is None:
            return
        self._stream.flush()
        os.dup2(self._saved_fd, 2)  # the pipe's last write end closes: the drain thread ends
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        sys.stderr = self._previous
        self._stream.close()
        os.close(self._saved_fd)
        self._saved_fd = self._stream = self._thread = None


def _is_real_stderr(stream: TextIO) -> bool:
    try:
        return stream is sys.__stderr__ and stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


def quiet_environment() -> None:
    """Ask the native libraries that listen to the environment to log less (set before
    they load; the user's own settings win)."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
