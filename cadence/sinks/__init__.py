"""Where the pipeline's results go: console, audio, MQTT, the recording.

A sink is an async context manager with a ``publish`` method. ``publish`` never blocks and never
raises for I/O trouble: a sink queues the item (a bounded queue; what overflows is counted) and
its own named background task does the slow part. Sinks are entered before the source and
exited after it, so their tasks are always awaited or cancelled.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from cadence.events import PipelineOutput


@runtime_checkable
class Sink(Protocol):
    """Anything that takes the pipeline's output."""

    def publish(self, item: PipelineOutput) -> None:
        """Queue one item; returns at once."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
