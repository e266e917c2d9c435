"""One exception hierarchy for the whole project, with messages that say where and what."""

from __future__ import annotations

from pathlib import Path


class CadenceError(Exception):
    """Base of every error the project raises on purpose."""


class TraceFormatError(CadenceError):
    """A trace or truth file that cannot be read: names the file, the line and the problem."""

    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


class TraceFormatWarning(UserWarning):
    """Rows of a trace that were skipped because they were unusable; the rest was read."""


class ConfigurationError(CadenceError, ValueError):
    """An argument that cannot work, caught at construction rather than mid-run."""
