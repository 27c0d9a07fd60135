"""Errors a user can act on. Each carries a one-line message, a hint and the process exit code.

Exit codes (documented in docs/reliability.md):
    0  success
    1  unexpected internal error (a bug: please report it with --debug output)
    2  usage or configuration error (bad option, bad sqlrec.toml, bad stage or template)
    3  data error (an input is missing, unreadable or fails a check)
    4  runtime error (a stage failed while running, an output failed its checks)
    5  another run holds the project's lock
  130  interrupted by Ctrl-C (SIGINT): nothing was published unless the message names the run (sqlrec.interrupts)
  141  the output pipe closed (`sqlrec ls | head`): the command stops quietly
  143  stopped by SIGTERM, as Ctrl-C
"""

from __future__ import annotations

EXIT_INTERNAL = 1
EXIT_CONFIG = 2
EXIT_DATA = 3
EXIT_RUNTIME = 4
EXIT_LOCK = 5
EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE, as a shell tool killed by a closed pipe


class SqlrecError(Exception):
    """Base of every error sqlrec reports to a user (never a bug)."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(SqlrecError):
    exit_code = EXIT_CONFIG


class ProjectError(SqlrecError):
    """A stage, macro or dependency graph problem."""

    exit_code = EXIT_CONFIG


class TemplateError(SqlrecError):
    """A stage failed to render or to parse; the message names the stage, file, line and column."""

    exit_code = EXIT_CONFIG


class DataError(SqlrecError):
    exit_code = EXIT_DATA


class StageRunError(SqlrecError):
    exit_code = EXIT_RUNTIME


class OutputCheckError(SqlrecError):
    exit_code = EXIT_RUNTIME


class LockError(SqlrecError):
    exit_code = EXIT_LOCK


def first_line(exc: BaseException) -> str:
    """The first line of what went wrong, for a message: for an error raised in Spark's JVM, its innermost cause's
    message (PySpark's own first line is often only the Java method that was called)."""
    text = str(exc).strip()
    cause = getattr(exc, "java_exception", None)
    try:
        while cause is not None and cause.getCause() is not None:
            cause = cause.getCause()
        if cause is not None and cause.getMessage():
            text = str(cause.getMessage()).strip()
    except Exception:  # the JVM is gone: keep Python's text
        pass
    return text.splitlines()[0][:500] if text else type(exc).__name__
