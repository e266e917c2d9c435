"""Bluetooth LE sources (bleak): RSC footpods, Polar PMD accelerometers, scanning.

The public names are loaded on first use, so ``import sensors`` costs nothing and never imports
bleak (which the sources import only when they connect)::

    from sensors import RscFootpod, PolarAccelerometer, scan

Both sources are :class:`cadence.source.Source` objects that reconnect by themselves; see
:mod:`sensors._link` for how drops are noticed and marked and ``docs/ble.md`` for the whole story.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sensors.footpod import RscFootpod
    from sensors.polar import PolarAccelerometer
    from sensors.scan import FoundSensor, scan

__all__ = ["FoundSensor", "PolarAccelerometer", "RscFootpod", "scan"]

_MODULES = {
    "FoundSensor": "sensors.scan",
    "PolarAccelerometer": "sensors.polar",
    "RscFootpod": "sensors.footpod",
    "scan": "sensors.scan",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'sensors' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
