"""Real recordings shipped inside the package (credits and licences in ``cadence/data``)."""

from __future__ import annotations

from pathlib import Path

from cadence.errors import CadenceError

_DATA_DIR = Path(__file__).with_name("data")
_TRUTH_SUFFIX = ".truth.csv"


def bundled_traces() -> list[Path]:
    """Paths of the bundled trace files (not their ``.truth.csv`` companions), sorted by name."""
    return sorted(path for path in _DATA_DIR.glob("*.csv") if not path.name.endswith(_TRUTH_SUFFIX))


def bundled_trace(name: str) -> Path:
    """Path of the bundled trace ``name`` (file name without ``.csv``)."""
    path = _DATA_DIR / f"{name}.csv"
    if name.endswith(_TRUTH_SUFFIX.removesuffix(".csv")) or not path.is_file():
        available = ", ".join(trace.stem for trace in bundled_traces())
        raise CadenceError(f"no bundled trace named {name!r}; available: {available}")
    return path
