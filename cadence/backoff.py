"""Jittered exponential backoff between reconnection attempts (BLE sensors, MQTT broker).

Attempt ``k`` (counting from 0 since the last success) waits a random half to all of
``min(max_s, initial_s * 2**k)``: delays grow fast enough not to hammer a sensor or broker that
is down, stay short enough to be back soon after it returns, and many clients never retry in
lock-step. A seed makes the jitter reproducible (tests).
"""

from __future__ import annotations

import math
import random

from cadence.errors import ConfigurationError

_MAX_DOUBLINGS = 60  # 2**60 times any initial wait is past any cap: no overflow after that


class Backoff:
    """Waits before the next attempt; :meth:`reset` after a success starts again at the first.

    Args (keyword-only):
        initial_s: the first wait's ceiling, seconds (> 0).
        max_s: the cap on the ceiling, seconds (>= initial_s).
        seed: seeds the jitter; ``None`` for an unpredictable one.
    """

    def __init__(self, *, initial_s: float, max_s: float, seed: int | None = None) -> None:
        if not (math.isfinite(initial_s) and initial_s > 0):
            raise ConfigurationError(f"backoff initial_s={initial_s!r}: need a wait > 0 s")
        if not (math.isfinite(max_s) and max_s >= initial_s):
            raise ConfigurationError(
                f"backoff max_s={max_s!r}: need a finite cap >= initial_s ({initial_s!r} s)"
            )
        self.initial_s = initial_s
        self.max_s = max_s
        self._rng = random.Random(seed)
        self._attempt = 0

    def ceiling_s(self, attempt: int) -> float:
        """The longest wait before attempt ``attempt`` (0 is the first retry)."""
        return min(self.max_s, self.initial_s * 2.0 ** min(max(attempt, 0), _MAX_DOUBLINGS))

    def next_delay_s(self) -> float:
        """The wait before the next attempt: a random half to all of its ceiling."""
        ceiling = self.ceiling_s(self._attempt)
        self._attempt += 1
        return ceiling * (0.5 + 0.5 * self._rng.random())

    def reset(self) -> None:
        """Start again from the first wait (after a successful connection)."""
        self._attempt = 0
