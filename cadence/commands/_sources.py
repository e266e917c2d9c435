"""A recorded file as a pipeline source: a trace CSV, a recorded session folder or a FIT file."""

from __future__ import annotations

from pathlib import Path

from cadence.errors import CadenceError
from cadence.source import Source


def offline_source(path: Path) -> Source:
    """The source that delivers ``path`` as fast as the pipeline takes it."""
    from sim.replay import TraceReplay

    if path.suffix.lower() == ".fit":
        from cadence.fit import FitSource

        return FitSource(path)
    if path.is_dir():
        from cadence.recording import read_recording

        samples = read_recording(path).samples
        if samples is None:
            raise CadenceError(f"{path}: the recording holds no accelerometer samples")
        return TraceReplay(samples, speed=None)
    return TraceReplay(path, speed=None)
