"""The one interface every source of data implements: BLE sensors, replay, FIT files.

A source is an async context manager (connect / open on enter, release on exit) and an async
iterator of :data:`~cadence.events.SourceEvent`. Its :attr:`info` is valid once entered. Sources
do I/O and nothing else: no detection, no metrics.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from cadence.events import SourceEvent, SourceInfo


@runtime_checkable
class Source(Protocol):
    """Anything the pipeline can read from."""

    @property
    def info(self) -> SourceInfo: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def __aiter__(self) -> AsyncIterator[SourceEvent]: ...
