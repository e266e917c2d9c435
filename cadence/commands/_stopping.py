"""Ctrl-C (or SIGTERM) ends a live run cleanly: the pipeline task is cancelled, so the source is
left, sinks flush and the recording closes, and the command still reports what it has."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def run_until_stopped(work: Coroutine[Any, Any, object], *, name: str) -> bool:
    """Run ``work`` to its end; returns True when a stop signal ended it first."""
    task = asyncio.create_task(work, name=name)
    loop = asyncio.get_running_loop()
    for stop_signal in _STOP_SIGNALS:
        loop.add_signal_handler(stop_signal, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise  # the caller itself was cancelled
        return True
    finally:
        for stop_signal in _STOP_SIGNALS:
            loop.remove_signal_handler(stop_signal)
    return False
