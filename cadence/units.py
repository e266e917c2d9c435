"""Physical constants shared across the project."""

from typing import Final

# Acceleration in g times this is m/s² (the trace format's unit).
STANDARD_GRAVITY_MS2: Final = 9.80665
