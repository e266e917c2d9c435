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


class SensorError(CadenceError):
    """A sensor that cannot be found, connected to, or configured."""


class PacketError(SensorError):
    """A packet from a sensor that cannot be decoded; it is counted and skipped, the run goes on.

    ``packet`` is the packet's number in its stream (counting from 1) where known.
    """

    def __init__(self, stream: str, packet: int | None, data: bytes, problem: str) -> None:
        self.stream = stream
        self.packet = packet
        self.data = bytes(data)
        self.problem = problem
        number = f" #{packet}" if packet is not None else ""
        super().__init__(
            f"{stream} packet{number} ({len(self.data)} bytes: {self.data.hex(' ')}): {problem}"
        )


class FitFormatError(CadenceError):
    """A FIT file that cannot be read (any further): names the file, the byte offset and why."""

    def __init__(self, path: str | Path, offset: int | None, problem: str) -> None:
        self.path = str(path)
        self.offset = offset
        self.problem = problem
        where = f"{self.path} at byte {offset}" if offset is not None else self.path
        super().__init__(f"{where}: {problem}")
